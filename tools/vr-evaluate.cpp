// vr-evaluate: offline validation. Split, train, and report ranking metrics beside the
// most-popular baseline.
#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli_common.h"
#include "vr/artifacts.h"
#include "vr/ann_index.h"
#include "vr/catalog.h"
#include "vr/evaluate.h"
#include "vr/popularity_penalty.h"
#include "vr/retrieval_evaluation.h"
#include "vr/training.h"

namespace {
struct Options {
  std::string dir = vr::kDefaultArtifactsDirectory;
  std::string ratings;
  std::string mappings;
  std::string interactions;
  std::string train;
  std::string test;
  std::string weights = "watch=1,like=2,complete=3";
  std::string delimiter = "auto";
  std::string split = "random";
  double test_ratio = 0.25;
  std::uint64_t split_seed = 42;
  std::vector<int> k{10};
  vr::cli::AlsFlags als;
  std::vector<std::string> models{"als"};
  float ease_regularization = 500.0f;
  int neighbours = 50;
  std::string similarity = "cosine";
  bool tune = false;
  std::string tune_search = "halving";
  int tune_trials = 16;
  int halving_rounds = 3;
  double tune_seconds = 150;
  std::uint64_t tune_seed = 42;
  bool tune_ials = false;
  int refinement_rounds = 0;
  int validation_folds = 2;
  double tune_min_coverage = 0;
  std::vector<std::string> popularity_penalty;
  double validation_ratio = 0.25;
  int parallel_trials = 2;
  std::string best_config = "tuned.conf";
  std::string report;
  std::string format = "table";
  std::string output = "-";
  bool quiet = false;
  std::string config;
  std::string half_life;
  std::string now;
  std::string scan = "pruned";
  bool verbose = false;
  std::string retrieval;
  std::vector<std::size_t> ef{128};
  std::size_t retrieval_users = 1000;
  std::size_t retrieval_videos = 500;
  std::string catalog;
};
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "vr-evaluate: split the ratings per user into train and test, train ALS on train (same\n"
      "options as vr-train), rank every video minus each user's training videos, and report\n"
      "precision, recall, nDCG, MAP, hit rate and catalog coverage at each --k for the model and\n"
      "for the most-popular baseline (binary relevance: a test video is relevant). Splits:\n"
      "random (per user, seeded), leave-last-out and last-fraction (by timestamp; need\n"
      "--interactions with a timestamp column). --models als,ease,item-knn compares model kinds\n"
      "on one table; --tune searches the ALS hyperparameters on a validation split carved from\n"
      "the training part and writes the best to --best-config for vr-train --config; --report DIR\n"
      "writes report.html (charts, self-contained) and report.json. --train FILE --test FILE\n"
      "evaluates a given split (a benchmark's published files) instead of splitting. --retrieval\n"
      "checks instead how the trained ALS model in --dir is searched: pruned against full top-k, and\n"
      "the HNSW similar-video index's recall and speed against the exact cosine scan."};
  Options options;
  app.add_option("--dir", options.dir, "Artifacts directory (reads ratings.csv and mappings.bin)")->capture_default_str();
  app.add_option("--ratings", options.ratings, "Read ratings from this file instead (- = stdin)")
      ->check(vr::cli::ExistingFileOrDash);
  app.add_option("--mappings", options.mappings, "Read the id mappings (for the shape) from this file instead; 'none' to skip");
  auto* interactions = app.add_option("--interactions", options.interactions,
                                      "Read raw interactions (vr-features input, with timestamps) instead (- = stdin)")
                           ->check(vr::cli::ExistingFileOrDash);
  auto* train_file = app.add_option("--train", options.train,
                                    "A given split's training file: interactions (vr-features input) or a ratings file\n"
                                    "(user_idx,video_idx,rating; shape from --mappings); needs --test")
                         ->check(CLI::ExistingFile);
  auto* test_file = app.add_option("--test", options.test,
                                   "A given split's test file, in the training file's format; its users without\n"
                                   "training rows are counted and skipped")
                        ->check(CLI::ExistingFile);
  train_file->needs(test_file);
  test_file->needs(train_file);
  train_file->excludes(interactions);
  app.add_option("--weights", options.weights, "Event weights for --interactions and --train/--test")->capture_default_str();
  app.add_option("--half-life", options.half_life,
                 "With --interactions or --train: time decay as vr-features --half-life, e.g. 30d (default: none)");
  app.add_option("--now", options.now,
                 "The reference time, ISO 8601 or epoch seconds: of --half-life (default: the newest timestamp)\n"
                 "and of --catalog's availability windows (default: the clock when the run starts)");
  app.add_option("--catalog", options.catalog,
                 "Videos CSV (vr-recommend --catalog's): rank as a server with this catalog would. Videos hidden\n"
                 "or outside their window at --now are left out of every model's and the baseline's candidates,\n"
                 "as training videos are (never counting toward K), and the test ratings on them are dropped\n"
                 "(counted in the report); training still sees every video. Needs the video ids: --interactions,\n"
                 "interaction logs as --train/--test, or ratings with their mappings.bin (default: none)")
      ->check(CLI::ExistingFile);
  vr::cli::add_delimiter_flag(app, options.delimiter);
  app.add_option("--split", options.split, "random, leave-last-out or last-fraction")
      ->capture_default_str()->check(CLI::IsMember({"random", "leave-last-out", "last-fraction"}));
  app.add_option("--test-ratio", options.test_ratio, "Share of each user's videos held out (random, last-fraction)")
      ->capture_default_str()->check(vr::cli::Between(0.0, 1.0));
  app.add_option("--split-seed", options.split_seed, "Seed of the random split")->capture_default_str();
  app.add_option("--k", options.k, "Cut-offs K of the metrics (repeat or comma-separate for several)")
      ->capture_default_str()->delimiter(',')->check(vr::cli::AtLeast(1));
  vr::cli::add_als_flags(app, options.als);
  app.add_option("--models", options.models, "Model kinds to compare (comma-separated): als, ease, item-knn; the first is 'model'")
      ->capture_default_str()->delimiter(',')->check(CLI::IsMember({"als", "ease", "item-knn"}));
  app.add_option("--ease-regularization", options.ease_regularization, "EASE: lambda added to the Gram diagonal")
      ->capture_default_str()->check(vr::cli::GreaterThan(0));
  app.add_option("--neighbours", options.neighbours, "item-knn: neighbours kept per video")
      ->capture_default_str()->check(vr::cli::InRange(1, 1000000));
  app.add_option("--similarity", options.similarity, "item-knn: cosine or bm25")
      ->capture_default_str()->check(CLI::IsMember({"cosine", "bm25"}));
  app.add_flag("--tune", options.tune, "Tune ALS (factors, regularization, alpha, iterations, scaling) on a validation "
               "split of the training part, then report the best beside the defaults");
  app.add_option("--tune-search", options.tune_search,
                 "Tuning: halving (successive halving over a wide box that widens at its edges, iterations as\n"
                 "the fidelity) or random (random then refined settings in the narrow box of earlier versions)")
      ->capture_default_str()->check(CLI::IsMember({"halving", "random"}));
  app.add_option("--tune-trials", options.tune_trials,
                 "Tuning: halving: settings sampled per round; random: trials in all (the first is the given config)")
      ->capture_default_str()->check(vr::cli::InRange(1, 100000));
  app.add_option("--halving-rounds", options.halving_rounds,
                 "Tuning: halving rounds at most (a round after the first runs when the best sat at an edge)")
      ->capture_default_str()->check(vr::cli::InRange(1, 100));
  app.add_option("--refinement-rounds", options.refinement_rounds,
                 "Tuning (halving): rounds of local refinement around the best after the halving rounds (6\n"
                 "settings each, trained to 30 iterations; the first also tries the best with iALS's nu 1 and\n"
                 "a small unobserved weight); 0 = none (more trials chosen on the same validation overfit it:\n"
                 "see docs/performance.md)")
      ->capture_default_str()->check(vr::cli::InRange(0, 100));
  app.add_option("--tune-seconds", options.tune_seconds, "Tuning: wall-clock budget of the search and of training the best\n"
                 "setting after it, 0 = none; a trial starts only when it and that final training are predicted\n"
                 "to fit in what is left, and a running one stops when only the final training's time is left")
      ->capture_default_str()->check(vr::cli::AtLeast(0));
  app.add_flag("--tune-ials", options.tune_ials,
               "Tuning (halving): also search iALS's unobserved weight (--unobserved-weight, log scale,\n"
               "0.001-1, widening) and regularisation exponent (--reg-exponent, 0-1) (default: off)");
  app.add_option("--tune-min-coverage", options.tune_min_coverage,
                 "Tuning: pick the best validation nDCG among the trials whose validation coverage@K (distinct\n"
                 "videos in anyone's top K / catalog) reaches this; when none does, the trial with the highest\n"
                 "coverage, and the report says so; 0 = off")
      ->capture_default_str()->check(vr::cli::InRange(0.0, 1.0));
  app.add_option("--tune-seed", options.tune_seed, "Tuning: seed of the search and the validation split")->capture_default_str();
  app.add_option("--validation-ratio", options.validation_ratio, "Tuning: share of each user's training videos held out at random (when not given, validation\n"
                 "mimics the test: a random or given split's share of the ratings; a time split's own rule on\n"
                 "the training part's latest ratings)")
      ->capture_default_str()->check(vr::cli::Between(0.0, 1.0));
  app.add_option("--validation-folds", options.validation_folds,
                 "Tuning: validation splits (random carves, different seeds) each trial is averaged over")
      ->capture_default_str()->check(vr::cli::InRange(1, 100));
  app.add_option("--parallel-trials", options.parallel_trials, "Tuning: trials run at once (one thread each)")
      ->capture_default_str()->check(vr::cli::InRange(1, 1024));
  app.add_option("--best-config", options.best_config, "Tuning: write the best hyperparameters here (vr-train --config)")
      ->capture_default_str();
  app.add_option("--popularity-penalty", options.popularity_penalty,
                 "Betas (comma-separated, each >= 0) of a long-tail re-ranking: every model is also ranked by\n"
                 "score - beta * ln(1 + n), n the video's users in train, and the report shows nDCG, coverage\n"
                 "and long-tail coverage for beta 0 and each beta (default: none, off)")
      ->delimiter(',');
  app.add_option("--report", options.report, "Write report.html and report.json into this directory");
  app.add_option("--format", options.format, "table (for people) or json (one object)")
      ->capture_default_str()->check(CLI::IsMember({"table", "json"}));
  app.add_option("-o,--output", options.output, "Write the report here (- = stdout); a file is written atomically")
      ->capture_default_str();
  app.add_flag("--quiet", options.quiet, "No progress on stderr (ALS iterations, EASE phases; tuning trials still print)");
  vr::cli::add_scan_flag(app, options.scan, "How ALS ranks the catalog");
  app.add_flag("--verbose", options.verbose, "Print the share of the catalog scored for each ALS model to stderr");
  auto* retrieval =
      app.add_option("--retrieval", options.retrieval,
                     "Check the trained ALS model in --dir instead of training one: for users sampled evenly, the\n"
                     "pruned scan's share of the catalog, its time and the full scan's, and whether any answer\n"
                     "differs; for videos sampled evenly, similar videos by the exact cosine scan and, with\n"
                     "ann (the index ann_index.bin beside the model is required) or auto (used when present),\n"
                     "the HNSW index's recall@K and queries/s at each --ef; exact measures no index. One\n"
                     "thread; K is the largest --k. Default: off (the split-and-train evaluation)")
          ->check(CLI::IsMember({"exact", "ann", "auto"}));
  app.add_option("--ef", options.ef, "With --retrieval: the HNSW search's candidate lists to measure (comma-separated)")
      ->capture_default_str()->delimiter(',')->check(CLI::Range(1, 100000))->needs(retrieval);
  app.add_option("--retrieval-users", options.retrieval_users, "With --retrieval: users sampled for the top-k check")
      ->capture_default_str()->check(CLI::Range(1, 100000000))->needs(retrieval);
  app.add_option("--retrieval-videos", options.retrieval_videos, "With --retrieval: videos sampled for the similar-video check")
      ->capture_default_str()->check(CLI::Range(1, 100000000))->needs(retrieval);
  retrieval->excludes(interactions);
  retrieval->excludes("--catalog");
  app.get_option("--ratings")->excludes(interactions);
  train_file->excludes(app.get_option("--ratings"));
  for (const char* flag : {"--split", "--test-ratio", "--split-seed"}) train_file->excludes(app.get_option(flag));
  app.add_option("--config", options.config,
                 "Read hyperparameters (vr-train --config's key = value file); flags given explicitly override it")
      ->check(CLI::ExistingFile);
  for (const char* training_only : {"--tune", "--report", "--models", "--config", "--popularity-penalty"}) {
    retrieval->excludes(training_only);
  }
  vr::cli::add_version_flag(app);

  return vr::cli::run(app, argc, argv, [&] {
    if (!options.retrieval.empty()) {
      vr::RetrievalEvaluationConfig config;
      config.artifacts =
          vr::resolve_artifact_paths(options.dir, options.ratings, options.mappings, vr::find_model_file(options.dir));
      config.index_path =
          (std::filesystem::path(config.artifacts.model).parent_path() / vr::kAnnIndexFileName).string();
      config.retrieval = vr::parse_retrieval(options.retrieval);
      config.k = *std::max_element(options.k.begin(), options.k.end());
      config.users = options.retrieval_users;
      config.queries = options.retrieval_videos;
      config.ef = options.ef;
      vr::run_retrieval_evaluation(config, options.output, options.format == "json");
      return vr::cli::kExitOk;
    }
    const auto paths = vr::resolve_artifact_paths(options.dir, options.ratings, options.mappings);
    vr::EvaluateJob job;
    if (!options.half_life.empty() && options.interactions.empty() && options.train.empty()) {
      throw vr::InvalidInput("--half-life needs --interactions or --train (raw events with timestamps)");
    }
    job.interactions_path = options.interactions;
    job.train_path = options.train;
    job.test_path = options.test;
    job.ratings_path = paths.ratings;
    job.mappings_path = paths.mappings;
    if (options.mappings == "none" || (options.mappings.empty() && !std::filesystem::exists(paths.mappings))) {
      job.mappings_path.clear();
    }
    job.features.event_weights = vr::parse_event_weights(options.weights);
    if (!options.half_life.empty()) job.features.half_life_seconds = vr::parse_duration(options.half_life, "--half-life");
    if (!options.now.empty() && options.half_life.empty() && options.catalog.empty()) {
      throw vr::InvalidInput("--now is the reference time of --half-life or --catalog: give one of them");
    }
    if (!options.catalog.empty()) {
      job.catalog_path = options.catalog;
      job.catalog_now = options.now.empty() ? vr::current_unix_time() : vr::parse_reference_time(options.now, "--now");
    }
    if (!options.now.empty() && !options.half_life.empty()) {
      job.features.decay_now = vr::parse_timestamp(options.now);
      if (!job.features.decay_now) throw vr::InvalidInput("--now: '" + options.now + "' is not an ISO 8601 time or epoch seconds");
    }
    job.features.delimiter = vr::cli::parse_delimiter_flag(options.delimiter);
    job.config.split.method = vr::parse_split_method(options.split);
    job.config.split.test_ratio = options.test_ratio;
    job.config.split.seed = options.split_seed;
    job.config.cutoffs = options.k;
    // Precedence, as vr-train's: defaults, then the --config file, then flags given explicitly.
    const bool from_file = !options.config.empty();
    vr::HyperparameterFile settings;
    if (from_file) settings = vr::load_hyperparameters(options.config);
    job.config.train = settings.config;
    vr::cli::apply_als_flags(app, options.als, /*only_given=*/from_file, job.config.train);
    job.config.train.compute_loss = !options.quiet;
    job.config.models.clear();
    if (from_file && app.count("--models") == 0) {
      job.config.models.push_back(settings.kind);
    } else {
      for (const auto& model : options.models) job.config.models.push_back(vr::parse_model_kind(model));
    }
    job.config.item_config = settings.item_config;
    const auto given = [&](const char* flag) { return !from_file || app.count(flag) > 0; };
    if (given("--ease-regularization")) job.config.item_config.ease_regularization = options.ease_regularization;
    if (given("--neighbours")) job.config.item_config.neighbours = options.neighbours;
    if (given("--similarity")) job.config.item_config.similarity = vr::parse_similarity(options.similarity);
    if (options.tune) {
      vr::TuneConfig tune;
      tune.search = vr::parse_tune_search(options.tune_search);
      tune.trials = options.tune_trials;
      tune.halving_rounds = options.halving_rounds;
      tune.carve_like_test = app.count("--validation-ratio") == 0;
      tune.seconds = options.tune_seconds;
      tune.seed = options.tune_seed;
      tune.validation_ratio = options.validation_ratio;
      tune.k = *std::max_element(options.k.begin(), options.k.end());
      tune.parallel_trials = options.parallel_trials;
      tune.search_ials = options.tune_ials;
      tune.refinement_rounds = options.refinement_rounds;
      tune.folds = options.validation_folds;
      tune.min_coverage = options.tune_min_coverage;
      job.config.tune = tune;
      job.best_config_path = options.best_config;
    }
    if (!options.tune && app.count("--tune-min-coverage") > 0) {
      throw vr::InvalidInput("--tune-min-coverage constrains the tuner: give --tune");
    }
    for (const auto& beta : options.popularity_penalty) {
      job.config.popularity_penalties.push_back(vr::parse_popularity_penalty(beta, "--popularity-penalty"));
    }
    job.report_directory = options.report;
    job.json = options.format == "json";
    job.output_path = options.output;
    job.config.scan = vr::parse_scan_mode(options.scan);
    if (job.interactions_path.empty() && job.train_path.empty() && job.ratings_path != "-" && !std::filesystem::exists(job.ratings_path)) {
      throw vr::IoError("cannot read '" + job.ratings_path + "': no such file (run vr-features, or give --interactions)");
    }
    if (!options.quiet) {
      // EASE's phases take minutes on large catalogs: one line each, terminal or not.
      job.config.on_phase = [](const vr::PhaseReport& report) {
        vr::cli::end_progress();
        std::cerr << "vr-evaluate: " << report.name << " done in " << std::fixed << std::setprecision(1)
                  << report.seconds << " s (" << report.total_seconds << " s in all)\n";
      };
    }
    const int total = options.als.iterations;
    const auto report = vr::run_evaluation(
        job,
        [&](const vr::IterationReport& report) {
          if (options.quiet) return;
          vr::cli::show_progress("vr-evaluate: training iteration " + std::to_string(report.iteration) + "/" +
                                 std::to_string(total));
        },
        [&](const vr::TrialResult& trial) {
          // Every trial is printed (stderr, so stdout stays the report), even with --quiet.
          std::ostringstream line;
          const std::string kind = options.tune_search == "random" ? (trial.refinement ? " refine" : " random")
                                   : trial.rung < 0                    ? " base  "
                                   : trial.rung == vr::kRefinementRung ? " refine"
                                                                       : " rung " + std::to_string(trial.rung);
          line << "trial " << std::setw(3) << trial.number << kind
               << "  factors " << std::setw(2) << trial.config.factors << "  regularization " << std::setw(7)
               << trial.config.regularization << "  alpha " << std::setw(5) << trial.config.alpha << "  iterations "
               << std::setw(2) << trial.config.iterations << "  scaling " << vr::to_string(trial.config.scaling);
          if (trial.config.scaling == vr::ConfidenceScaling::Log) line << " (eps " << trial.config.eps << ")";
          if (options.tune_ials || trial.config.reg_exponent != 0.0f || trial.config.unobserved_weight != 1.0f) {
            line << "  alpha0 " << trial.config.unobserved_weight << "  nu " << trial.config.reg_exponent;
          }
          line << "  validation ndcg " << std::fixed << std::setprecision(4) << trial.validation_ndcg;
          if (options.tune_min_coverage > 0) line << "  coverage " << trial.validation_coverage;
          line << "  " << std::setprecision(2) << trial.seconds << " s";
          vr::cli::end_progress();
          std::cerr << line.str() << "\n";
        },
        [](const std::string& warning) {
          vr::cli::end_progress();
          std::cerr << "vr-evaluate: warning: " << warning << "\n";
        });
    vr::cli::end_progress();
    if (options.verbose) {
      for (const auto& model : report.models) {
        if (model.scan.queries == 0) continue;
        std::cerr << "vr-evaluate: " << model.name << ": scan " << options.scan << ", " << model.scan.videos_scored
                  << " of " << model.scan.catalog_videos << " video scores computed ("
                  << 100.0 * model.scan.share_scanned() << "% of the catalog)\n";
      }
    }
    if (vr::too_few_users_to_evaluate(report.split)) {
      std::cerr << "vr-evaluate: warning: " << vr::few_users_warning(report.split) << "\n";
    }
    if (report.split.catalog) {
      const auto& catalog = *report.split.catalog;
      std::cerr << "vr-evaluate: catalog " << catalog.source << ": " << catalog.ineligible_videos << " of "
                << report.split.videos << " videos never ranked; dropped " << catalog.test_ratings_dropped
                << " test ratings on them (" << catalog.users_dropped << " users left with none)\n";
      if (catalog.unknown_videos > 0) {
        std::cerr << "vr-evaluate: note: " << catalog.source << " lists " << catalog.unknown_videos
                  << " videos the data does not have (ignored)\n";
      }
    }
    if (report.tuning && !report.tuning->coverage_met) {
      std::cerr << "vr-evaluate: warning: no trial reached the validation coverage@" << report.tuning->k << " of "
                << report.tuning->min_coverage << " (--tune-min-coverage); the best is the trial with the highest, "
                << report.tuning->best_validation_coverage << "\n";
    }
    if (report.tuning) {
      std::cerr << "vr-evaluate: best of " << report.tuning->trials.size() << " trials written to " << options.best_config
                << " (train with: vr-train --config " << options.best_config << ")\n";
    }
    if (!options.report.empty()) std::cerr << "vr-evaluate: wrote " << options.report << "/report.html and report.json\n";
    return vr::cli::kExitOk;
  });
}
