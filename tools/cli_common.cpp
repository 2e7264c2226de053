#include "cli_common.h"

#include <unistd.h>

#include <iostream>
#include <new>

#include "vr/errors.h"
#include "vr/version.h"

namespace vr::cli {
namespace {
bool progress_drawn = false;
}

const CLI::Validator ExistingFileOrDash(
    [](std::string& path) { return path == "-" ? std::string() : CLI::ExistingFile(path); }, "FILE or -");

void add_version_flag(CLI::App& app) {
  app.set_version_flag("--version", std::string("vr ") + kVersion + " (model format " +
                                        std::to_string(kModelFormatVersion) + ", mappings format " +
                                        std::to_string(kMappingsFormatVersion) + ")");
}

int run(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  try {
    return body();
  } catch (const std::bad_alloc&) {
    end_progress();
    std::cerr << "error: out of memory\n";
  } catch (const std::exception& error) {
    end_progress();
    std::cerr << "error: " << error.what() << "\n";
  } catch (...) {
    end_progress();
    std::cerr << "error: unknown failure\n";
  }
  return kExitFailure;
}

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

void show_progress(const std::string& line) {
  if (!stderr_is_terminal()) return;
  std::cerr << "\r\033[K" << line << std::flush;
  progress_drawn = true;
}

void end_progress() {
  if (progress_drawn) std::cerr << "\n";
  progress_drawn = false;
}

}  // namespace vr::cli
