// vr-evaluate: offline validation. Split, train, and report ranking metrics beside the
// most-popular baseline.
#include <filesystem>
#include <iostream>

#include "cli_common.h"
#include "vr/artifacts.h"
#include "vr/evaluate.h"

namespace {
struct Options {
  std::string dir = vr::kDefaultArtifactsDirectory;
  std::string ratings;
  std::string mappings;
  std::string interactions;
  std::string weights = "watch=1,like=2,complete=3";
  std::string split = "random";
  double test_ratio = 0.25;
  std::uint64_t split_seed = 42;
  std::vector<int> k{10};
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
  std::string format = "table";
  std::string output = "-";
  bool quiet = false;
};
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "vr-evaluate: split the ratings per user into train and test, train ALS on train (same\n"
      "options as vr-train), rank every video minus each user's training videos, and report\n"
      "precision, recall, nDCG, MAP, hit rate and catalog coverage at each --k for the model and\n"
      "for the most-popular baseline (binary relevance: a test video is relevant). Splits:\n"
      "random (per user, seeded), leave-last-out and last-fraction (by timestamp; need\n"
      "--interactions with a timestamp column)."};
  Options options;
  app.add_option("--dir", options.dir, "Artifacts directory (reads ratings.csv and mappings.bin)")->capture_default_str();
  app.add_option("--ratings", options.ratings, "Read ratings from this file instead (- = stdin)")
      ->check(vr::cli::ExistingFileOrDash);
  app.add_option("--mappings", options.mappings, "Read the id mappings (for the shape) from this file instead; 'none' to skip");
  auto* interactions = app.add_option("--interactions", options.interactions,
                                      "Read raw interactions (vr-features input, with timestamps) instead (- = stdin)")
                           ->check(vr::cli::ExistingFileOrDash);
  app.add_option("--weights", options.weights, "Event weights for --interactions")->capture_default_str();
  app.add_option("--split", options.split, "random, leave-last-out or last-fraction")
      ->capture_default_str()->check(CLI::IsMember({"random", "leave-last-out", "last-fraction"}));
  app.add_option("--test-ratio", options.test_ratio, "Share of each user's videos held out (random, last-fraction)")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app.add_option("--split-seed", options.split_seed, "Seed of the random split")->capture_default_str();
  app.add_option("--k", options.k, "Cut-offs K of the metrics (repeat or comma-separate for several)")
      ->capture_default_str()->delimiter(',')->check(CLI::PositiveNumber);
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
  app.add_option("--seed", options.seed, "Seed of the model's random initialisation")->capture_default_str();
  app.add_option("--format", options.format, "table (for people) or json (one object)")
      ->capture_default_str()->check(CLI::IsMember({"table", "json"}));
  app.add_option("-o,--output", options.output, "Write the report here (- = stdout); a file is written atomically")
      ->capture_default_str();
  app.add_flag("--quiet", options.quiet, "No per-iteration progress on stderr");
  app.get_option("--ratings")->excludes(interactions);
  vr::cli::add_version_flag(app);

  return vr::cli::run(app, argc, argv, [&] {
    const auto paths = vr::resolve_artifact_paths(options.dir, options.ratings, options.mappings);
    vr::EvaluateJob job;
    job.interactions_path = options.interactions;
    job.ratings_path = paths.ratings;
    job.mappings_path = paths.mappings;
    if (options.mappings == "none" || (options.mappings.empty() && !std::filesystem::exists(paths.mappings))) {
      job.mappings_path.clear();
    }
    job.features.event_weights = vr::parse_event_weights(options.weights);
    job.config.split.method = vr::parse_split_method(options.split);
    job.config.split.test_ratio = options.test_ratio;
    job.config.split.seed = options.split_seed;
    job.config.cutoffs = options.k;
    job.config.train.factors = options.factors;
    job.config.train.regularization = options.regularization;
    job.config.train.alpha = options.alpha;
    job.config.train.iterations = options.iterations;
    job.config.train.solver = vr::parse_solver(options.solver);
    job.config.train.cg_steps = options.cg_steps;
    job.config.train.scaling = vr::parse_scaling(options.scaling);
    job.config.train.eps = options.eps;
    job.config.train.threads = options.threads;
    job.config.train.seed = options.seed;
    job.config.train.compute_loss = !options.quiet;
    job.json = options.format == "json";
    job.output_path = options.output;
    if (job.interactions_path.empty() && job.ratings_path != "-" && !std::filesystem::exists(job.ratings_path)) {
      throw vr::IoError("cannot read '" + job.ratings_path + "': no such file (run vr-features, or give --interactions)");
    }
    const int total = options.iterations;
    vr::run_evaluation(job, [&](const vr::IterationReport& report) {
      if (options.quiet) return;
      vr::cli::show_progress("vr-evaluate: training iteration " + std::to_string(report.iteration) + "/" +
                             std::to_string(total));
    });
    vr::cli::end_progress();
    return vr::cli::kExitOk;
  });
}
