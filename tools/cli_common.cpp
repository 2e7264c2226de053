#include "cli_common.h"

#include <unistd.h>

#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <new>
#include <sstream>

#include "vr/errors.h"
#include "vr/version.h"

namespace vr::cli {
namespace {
bool progress_drawn = false;
}

namespace {
// Shortest form that reads back the same: 1, 0.5, 4096, 1e+06.
std::string number_text(double value) {
  std::ostringstream text;
  text << std::setprecision(15) << value;
  return text.str();
}

// A validator of numbers: `accepts` decides, `range` says what is accepted (in --help and in
// the error). Text that is not a number is left for CLI11's own conversion error.
CLI::Validator number_range(std::function<bool(double)> accepts, const std::string& range, const std::string& help) {
  return CLI::Validator(
      [accepts, range](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0') return "";
        if (accepts(value)) return "";
        return "value " + text + " is out of range: it must be " + range;
      },
      help);
}
}  // namespace

CLI::Validator AtLeast(double minimum) {
  return number_range([minimum](double value) { return value >= minimum; }, ">= " + number_text(minimum),
                      ">= " + number_text(minimum));
}

CLI::Validator GreaterThan(double minimum) {
  return number_range([minimum](double value) { return value > minimum; }, "> " + number_text(minimum),
                      "> " + number_text(minimum));
}

CLI::Validator InRange(double minimum, double maximum) {
  return number_range([=](double value) { return value >= minimum && value <= maximum; },
                      "from " + number_text(minimum) + " to " + number_text(maximum),
                      "[" + number_text(minimum) + ", " + number_text(maximum) + "]");
}

CLI::Validator Between(double minimum, double maximum) {
  return number_range([=](double value) { return value > minimum && value < maximum; },
                      "greater than " + number_text(minimum) + " and less than " + number_text(maximum),
                      "(" + number_text(minimum) + ", " + number_text(maximum) + "), both excluded");
}

const CLI::Validator ExistingFileOrDash(
    [](std::string& path) { return path == "-" ? std::string() : CLI::ExistingFile(path); }, "FILE or -");

void add_als_flags(CLI::App& app, AlsFlags& flags) {
  app.add_option("--factors", flags.factors, "Latent factors per user and video")->capture_default_str()->check(InRange(1, 4096));
  app.add_option("--regularization", flags.regularization, "L2 regularisation lambda (not scaled by counts)")
      ->capture_default_str()->check(AtLeast(0));
  app.add_option("--alpha", flags.alpha, "Confidence scale: c = alpha * r")->capture_default_str()->check(GreaterThan(0));
  app.add_option("--iterations", flags.iterations, "ALS iterations (users then videos)")->capture_default_str()->check(InRange(0, 100000));
  app.add_option("--solver", flags.solver, "cg (conjugate gradient) or cholesky (exact)")
      ->capture_default_str()->check(CLI::IsMember({"cg", "cholesky"}));
  app.add_option("--cg-steps", flags.cg_steps, "Conjugate-gradient steps per row")->capture_default_str()->check(InRange(1, 4096));
  app.add_option("--scaling", flags.scaling, "Confidence scaling of r: raw, log = log(1 + r/eps), or binary = 1 for every r > 0")
      ->capture_default_str()->check(CLI::IsMember({"raw", "log", "binary"}));
  app.add_option("--eps", flags.eps, "eps of --scaling log")->capture_default_str()->check(GreaterThan(0));
  app.add_option("--threads", flags.threads, "Worker threads (0 = all cores); never changes an ALS or item-knn model (EASE's\n"
                 "last bits may change with it: OpenBLAS splits its work by thread count)")
      ->capture_default_str()->check(AtLeast(0));
  app.add_option("--seed", flags.seed, "Seed of the random initialisation")->capture_default_str();
  app.add_option("--unobserved-weight", flags.unobserved_weight,
                 "iALS: weight alpha0 of every unobserved (user, video) cell in the loss; 1 = implicit's")
      ->capture_default_str()->check(GreaterThan(0));
  app.add_option("--reg-exponent", flags.reg_exponent,
                 "iALS: each row's lambda is scaled by (n + alpha0 * N)^exponent, n its ratings and N the\n"
                 "rows of the other side; 0 = implicit's constant lambda")
      ->capture_default_str()->check(InRange(0.0, 2.0));
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
  if (take("--unobserved-weight")) config.unobserved_weight = flags.unobserved_weight;
  if (take("--reg-exponent")) config.reg_exponent = flags.reg_exponent;
  config.threads = flags.threads;
}

void add_delimiter_flag(CLI::App& app, std::string& value) {
  app.add_option("--delimiter", value,
                 "Field delimiter of the interactions file: auto (the first of ',', ';' and tab in the header "
                 "line), ',', ';' or tab")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", ",", ";", "tab", "\t"}));
}

void add_popularity_penalty_flag(CLI::App& app, double& value) {
  app.add_option("--popularity-penalty", value,
                 "Long-tail re-ranking of top-k answers: rank and score by score - BETA * ln(1 + n), n the\n"
                 "video's users in ratings.csv (similar videos are not affected); as vr-evaluate --popularity-penalty\n"
                 "measured it; 0 = off")
      ->capture_default_str()
      ->check(AtLeast(0));
}

void add_scan_flag(CLI::App& app, std::string& value, const std::string& what_is_ranked) {
  app.add_option("--scan", value,
                 what_is_ranked +
                     ": pruned (in order of factor norm, stopping\n"
                     "when no video left can win) or full (score every video); the answers are identical")
      ->capture_default_str()
      ->check(CLI::IsMember({"full", "pruned"}));
}

char parse_delimiter_flag(const std::string& value) {
  if (value == "auto") return 0;
  if (value == "tab" || value == "\t") return '\t';
  return value.front();
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
