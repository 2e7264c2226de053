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

void add_als_flags(CLI::App& app, AlsFlags& flags) {
  app.add_option("--factors", flags.factors, "Latent factors per user and video")->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--regularization", flags.regularization, "L2 regularisation lambda (not scaled by counts)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--alpha", flags.alpha, "Confidence scale: c = alpha * r")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--iterations", flags.iterations, "ALS iterations (users then videos)")->capture_default_str()->check(CLI::Range(0, 100000));
  app.add_option("--solver", flags.solver, "cg (conjugate gradient) or cholesky (exact)")
      ->capture_default_str()->check(CLI::IsMember({"cg", "cholesky"}));
  app.add_option("--cg-steps", flags.cg_steps, "Conjugate-gradient steps per row")->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--scaling", flags.scaling, "Confidence scaling of r: raw, or log = log(1 + r/eps)")
      ->capture_default_str()->check(CLI::IsMember({"raw", "log"}));
  app.add_option("--eps", flags.eps, "eps of --scaling log")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--threads", flags.threads, "Worker threads (0 = all cores); never changes the result")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--seed", flags.seed, "Seed of the random initialisation")->capture_default_str();
}

void apply_als_flags(const CLI::App& app, const AlsFlags& flags, bool only_given, TrainConfig& config) {
  const auto take = [&](const char* flag) { return !only_given || app.count(flag) > 0; };
  if (take("--factors")) config.factors = flags.factors;
  if (take("--regularization")) config.regularization = flags.regularization;
  if (take("--alpha")) config.alpha = flags.alpha;
  if (take("--iterations")) config.iterations = flags.iterations;
  if (take("--solver")) config.solver = parse_solver(flags.solver);
  if (take("--cg-steps")) config.cg_steps = flags.cg_steps;
  if (take("--scaling")) config.scaling = parse_scaling(flags.scaling);
  if (take("--eps")) config.eps = flags.eps;
  if (take("--seed")) config.seed = flags.seed;
  config.threads = flags.threads;
}

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
