// vr-train: ratings.csv -> als_model.bin (implicit-feedback ALS).
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli_common.h"
#include "vr/artifacts.h"
#include "vr/training.h"

namespace {
struct Options {
  std::string dir = vr::kDefaultArtifactsDirectory;
  std::string ratings;
  std::string mappings;
  std::string model;
  int factors = 20;
  float regularization = 0.1f;
  float alpha = 1.0f;
  int iterations = 20;
  std::string solver = "cg";
  int cg_steps = 3;
  std::string scaling = "raw";
  float eps = 1.0f;
  int threads = 0;
  std::uint64_t seed = 42;
  bool quiet = false;
};
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "vr-train: train an implicit-feedback ALS model (Hu, Koren & Volinsky 2008, with the\n"
      "conjugate-gradient solver of Takacs et al. 2011, as the `implicit` library does) from\n"
      "ratings.csv, and write als_model.bin atomically. Confidence c = alpha * r; the same seed\n"
      "gives a byte-identical model whatever the thread count."};
  Options options;
  app.add_option("--dir", options.dir, "Artifacts directory (reads ratings.csv and mappings.bin, writes als_model.bin)")
      ->capture_default_str();
  app.add_option("--ratings", options.ratings, "Read ratings from this file instead (- = stdin)")
      ->check(vr::cli::ExistingFileOrDash);
  app.add_option("--mappings", options.mappings,
                 "Read the id mappings (for the matrix shape) from this file instead; 'none' to skip");
  app.add_option("--model", options.model, "Write the model to this file instead");
  app.add_option("--factors", options.factors, "Latent factors per user and video")->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--regularization", options.regularization, "L2 regularisation lambda (not scaled by counts)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--alpha", options.alpha, "Confidence scale: c = alpha * r")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--iterations", options.iterations, "ALS iterations (users then videos)")->capture_default_str()->check(CLI::Range(0, 100000));
  app.add_option("--solver", options.solver, "cg (conjugate gradient) or cholesky (exact)")
      ->capture_default_str()->check(CLI::IsMember({"cg", "cholesky"}));
  app.add_option("--cg-steps", options.cg_steps, "Conjugate-gradient steps per row")->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--scaling", options.scaling, "Confidence scaling of r: raw, or log = log(1 + r/eps)")
      ->capture_default_str()->check(CLI::IsMember({"raw", "log"}));
  app.add_option("--eps", options.eps, "eps of --scaling log")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--threads", options.threads, "Worker threads (0 = all cores)")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--seed", options.seed, "Seed of the random initialisation")->capture_default_str();
  app.add_flag("--quiet", options.quiet, "No per-iteration progress on stderr");
  vr::cli::add_version_flag(app);

  return vr::cli::run(app, argc, argv, [&] {
    auto paths = vr::resolve_artifact_paths(options.dir, options.ratings, options.mappings, options.model);
    if (options.mappings == "none" ||
        (options.mappings.empty() && !std::filesystem::exists(paths.mappings))) {
      paths.mappings.clear();
    }
    vr::TrainJob job;
    job.ratings_path = paths.ratings;
    job.mappings_path = paths.mappings;
    job.model_path = paths.model;
    job.config.factors = options.factors;
    job.config.regularization = options.regularization;
    job.config.alpha = options.alpha;
    job.config.iterations = options.iterations;
    job.config.solver = vr::parse_solver(options.solver);
    job.config.cg_steps = options.cg_steps;
    job.config.scaling = vr::parse_scaling(options.scaling);
    job.config.eps = options.eps;
    job.config.threads = options.threads;
    job.config.seed = options.seed;
    if (job.ratings_path != "-" && !std::filesystem::exists(job.ratings_path)) {
      throw vr::IoError("cannot read '" + job.ratings_path + "': no such file (run vr-features first)");
    }
    const int total = options.iterations;
    const auto model = vr::run_training(job, [&](const vr::IterationReport& report) {
      if (options.quiet) return;
      std::ostringstream line;
      line << "iteration " << report.iteration << "/" << total << "  loss " << std::setprecision(6) << report.loss
           << "  " << std::fixed << std::setprecision(3) << report.seconds << " s";
      if (vr::cli::stderr_is_terminal()) {
        const int width = 30;
        const int done = total > 0 ? width * report.iteration / total : width;
        vr::cli::show_progress("[" + std::string(static_cast<std::size_t>(done), '#') +
                               std::string(static_cast<std::size_t>(width - done), '.') + "] " + line.str());
      } else {
        std::cerr << line.str() << "\n";
      }
    });
    vr::cli::end_progress();
    std::cerr << "vr-train: " << model.info.n_users << " users x " << model.info.n_videos << " videos, "
              << model.info.n_ratings << " ratings; wrote " << job.model_path << "\n";
    return vr::cli::kExitOk;
  });
}
