// vr-train: ratings.csv -> als_model.bin (implicit-feedback ALS, EASE or item-knn).
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli_common.h"
#include "vr/artifacts.h"
#include "vr/shards.h"
#include "vr/training.h"
#include "vr/warm_start.h"
#ifdef VR_MPI
#include "vr/mpi_training.h"
#endif

namespace {
struct Options {
  std::string dir = vr::kDefaultArtifactsDirectory;
  std::string ratings;
  std::string mappings;
  std::vector<std::string> model;  // a kind (als, ease, item-knn) and/or the output path
  std::string config;
  vr::cli::AlsFlags als;
  float ease_regularization = 500.0f;
  int neighbours = 50;
  std::string similarity = "cosine";
  float bm25_k1 = 1.2f;
  float bm25_b = 0.75f;
  bool quiet = false;
  std::string init_from;
  std::string init_mappings;
  std::string refresh;
  std::string previous_ratings;
  std::string changed;
  std::string write_ratings;
};

bool is_model_kind(const std::string& text) { return text == "als" || text == "ease" || text == "item-knn"; }
}  // namespace

int main(int argc, char** argv) {
#ifdef VR_MPI
  // Under mpirun every process runs this main; without mpirun MPI is never touched.
  vr::mpi::Session mpi(argc, argv);
#endif
  CLI::App app{
      "vr-train: train an implicit-feedback ALS model (Hu, Koren & Volinsky 2008, with the\n"
      "conjugate-gradient solver of Takacs et al. 2011, as the `implicit` library does) from\n"
      "ratings.csv, and write als_model.bin atomically. Confidence c = alpha * r; the same seed\n"
      "gives a byte-identical model whatever the thread count. --model ease trains Steck's EASE\n"
      "(closed form, up to 50000 videos, 4 * videos^2 bytes of memory, checked before it\n"
      "starts), --model item-knn cosine or BM25 item neighbours; both are served by\n"
      "vr-recommend and vr-serve like ALS. --config FILE reads\n"
      "hyperparameters (e.g. vr-evaluate --tune's best), flags given explicitly override it.\n"
      "Reads DIR/ratings.csv, or the shards of vr-features --shards (DIR/ratings-shards.json).\n"
      "Under `mpirun -np N` the N processes train one model together (ALS only; see\n"
      "docs/distributed-training.md); --threads is then per process."};
  Options options;
  app.add_option("--dir", options.dir, "Artifacts directory (reads ratings.csv and mappings.bin, writes als_model.bin)")
      ->capture_default_str();
  app.add_option("--ratings", options.ratings, "Read ratings from this file instead (- = stdin)")
      ->check(vr::cli::ExistingFileOrDash);
  app.add_option("--mappings", options.mappings,
                 "Read the id mappings (for the matrix shape) from this file instead; 'none' to skip");
  app.add_option("--model", options.model,
                 "Model kind: als (default), ease or item-knn, written to DIR/als_model.bin, ease_model.bin or "
                 "item_knn_model.bin; any other value is the file to write the model to instead (give both as "
                 "--model ease --model FILE)")
      ->allow_extra_args(false)
      ->take_all();
  app.add_option("--config", options.config, "Read hyperparameters (key = value lines, e.g. vr-evaluate --tune's) "
                 "from this file; flags override it")->check(CLI::ExistingFile);
  vr::cli::add_als_flags(app, options.als);
  app.add_option("--ease-regularization", options.ease_regularization, "EASE: lambda added to the Gram diagonal")
      ->capture_default_str()->check(vr::cli::GreaterThan(0));
  app.add_option("--neighbours", options.neighbours, "item-knn: neighbours kept per video")
      ->capture_default_str()->check(vr::cli::InRange(1, 1000000));
  app.add_option("--similarity", options.similarity, "item-knn: cosine or bm25")
      ->capture_default_str()->check(CLI::IsMember({"cosine", "bm25"}));
  app.add_option("--bm25-k1", options.bm25_k1, "item-knn bm25: k1")->capture_default_str()->check(vr::cli::AtLeast(0));
  app.add_option("--bm25-b", options.bm25_b, "item-knn bm25: b")->capture_default_str()->check(vr::cli::InRange(0.0, 1.0));
  app.add_flag("--quiet", options.quiet, "No progress on stderr (ALS iterations, EASE phases)");
  app.add_option("--init-from", options.init_from,
                 "Warm start (ALS): known rows start from this earlier model's factors, new rows as in a cold\n"
                 "start; its mappings must be a prefix of today's (vr-features --mappings-from) (default: none,\n"
                 "start from random factors)")
      ->check(CLI::ExistingFile);
  app.add_option("--init-mappings", options.init_mappings,
                 "The --init-from model's mappings.bin (default: mappings.bin beside it)")
      ->check(CLI::ExistingFile);
  app.add_option("--refresh", options.refresh,
                 "With --init-from: re-solve exactly only the rows whose ratings changed (or are new), the\n"
                 "other side fixed: users, videos or both (default: none, a full warm-started training)")
      ->check(CLI::IsMember({"users", "videos", "both"}));
  app.add_option("--previous-ratings", options.previous_ratings,
                 "With --refresh: the ratings.csv the --init-from model was trained on (default: ratings.csv beside it)")
      ->check(CLI::ExistingFile);
  app.add_option("--changed", options.changed,
                 "With --refresh: a CSV (kind,id; kind user or video) of the rows to re-solve, instead of comparing\n"
                 "with --previous-ratings (new ids are always re-solved)")
      ->check(CLI::ExistingFile);
  app.add_option("--write-ratings", options.write_ratings,
                 "Training from shards: also write their concatenation (the ratings.csv vr-features writes\n"
                 "without --shards, which vr-recommend, vr-serve and vr-evaluate read) to this file; under\n"
                 "mpirun process 0 writes it, each shard sent by a process that holds it (default: none)");
  vr::cli::add_version_flag(app);

  const int exit_code = vr::cli::run(app, argc, argv, [&] {
    std::string kind;
    std::string model_path;
    for (const auto& value : options.model) {
      std::string& target = is_model_kind(value) ? kind : model_path;
      if (!target.empty()) throw vr::InvalidInput("--model given two " + std::string(is_model_kind(value) ? "kinds" : "paths"));
      target = value;
    }
    auto paths = vr::resolve_artifact_paths(options.dir, options.ratings, options.mappings, model_path);
    if (options.mappings == "none" ||
        (options.mappings.empty() && !std::filesystem::exists(paths.mappings))) {
      paths.mappings.clear();
    }
    // Precedence: defaults, then the --config file, then flags given on the command line.
    vr::HyperparameterFile settings;
    if (!options.config.empty()) settings = vr::load_hyperparameters(options.config);
    const auto given = [&](const char* flag) { return app.count(flag) > 0; };
    if (!kind.empty()) settings.kind = vr::parse_model_kind(kind);
    vr::TrainConfig& config = settings.config;
    vr::cli::apply_als_flags(app, options.als, !options.config.empty(), config);
    vr::ItemModelConfig& item = settings.item_config;
    if (given("--ease-regularization") || options.config.empty()) item.ease_regularization = options.ease_regularization;
    if (given("--neighbours") || options.config.empty()) item.neighbours = options.neighbours;
    if (given("--similarity") || options.config.empty()) item.similarity = vr::parse_similarity(options.similarity);
    if (given("--bm25-k1") || options.config.empty()) item.bm25_k1 = options.bm25_k1;
    if (given("--bm25-b") || options.config.empty()) item.bm25_b = options.bm25_b;
    item.threads = options.als.threads;
    vr::TrainJob job;
    job.ratings_path = paths.ratings;
    job.mappings_path = paths.mappings;
    // Each kind has its own file (an item-knn model is never named als_model.bin); readers find
    // whichever one the folder holds.
    job.model_path = model_path.empty()
                         ? (std::filesystem::path(options.dir) / vr::model_file_name(vr::to_string(settings.kind))).string()
                         : model_path;
    job.kind = settings.kind;
    job.config = config;
    job.item_config = item;
    // Shards stand in for DIR/ratings.csv when vr-features --shards wrote them.
    std::string shard_directory;
    if (options.ratings.empty() && vr::find_ratings_source(options.dir) == vr::RatingsSource::Shards) {
      shard_directory = options.dir;
      if (paths.mappings.empty()) throw vr::InvalidInput("the shards in '" + options.dir + "' need their mappings.bin");
    }
    if (shard_directory.empty() && job.ratings_path != "-" && !std::filesystem::exists(job.ratings_path)) {
      throw vr::IoError("cannot read '" + job.ratings_path + "': no such file (run vr-features first)");
    }
    if (!options.write_ratings.empty() && shard_directory.empty()) {
      throw vr::InvalidInput("--write-ratings copies the shards of vr-features --shards; '" + options.dir +
                             "' has no ratings-shards.json");
    }
    if (options.init_from.empty() &&
        !(options.refresh.empty() && options.init_mappings.empty() && options.previous_ratings.empty() &&
          options.changed.empty())) {
      throw vr::InvalidInput("--refresh, --init-mappings, --previous-ratings and --changed need --init-from");
    }
    const int total = config.iterations;
    std::uint64_t cg_stopped_rows = 0;
    const vr::IterationCallback progress = [&](const vr::IterationReport& report) {
      cg_stopped_rows += report.cg_stopped_rows;
      if (options.quiet) return;
      std::ostringstream line;
      line << "iteration " << report.iteration << "/" << total << "  loss " << std::setprecision(6) << report.loss
           << "  " << std::fixed << std::setprecision(3) << report.seconds << " s";
      if (report.cg_stopped_rows > 0) {
        line << "  (CG stopped early on " << report.cg_stopped_rows << " rows: p'Ap <= 0 or not finite)";
      }
      if (vr::cli::stderr_is_terminal()) {
        const int width = 30;
        const int done = total > 0 ? width * report.iteration / total : width;
        vr::cli::show_progress("[" + std::string(static_cast<std::size_t>(done), '#') +
                               std::string(static_cast<std::size_t>(width - done), '.') + "] " + line.str());
      } else {
        std::cerr << line.str() << "\n";
      }
    };
    vr::Model model;
    bool summary = true;
    if (!options.init_from.empty()) {
#ifdef VR_MPI
      if (mpi.active()) throw vr::InvalidInput("--init-from trains in one process: run it without mpirun");
#endif
      if (!shard_directory.empty()) throw vr::InvalidInput("--init-from reads one ratings.csv, not shards");
      vr::WarmStartJob warm;
      warm.train = job;
      warm.previous_model_path = options.init_from;
      warm.previous_mappings_path = options.init_mappings;
      if (!options.refresh.empty()) warm.refresh = vr::parse_refresh_side(options.refresh);
      warm.previous_ratings_path = options.previous_ratings;
      warm.changed_path = options.changed;
      auto outcome = vr::run_warm_start(warm, progress);
      vr::cli::end_progress();
      if (warm.refresh) {
        if (!outcome.written) {
          std::cerr << "vr-train: nothing changed since " << options.init_from
                    << "'s ratings; the model was left as it was (nothing written)\n";
          return vr::cli::kExitOk;
        }
        std::cerr << "vr-train: refreshed " << outcome.users_solved << " users and " << outcome.videos_solved
                  << " videos of " << options.init_from << "\n";
      }
      model = std::move(outcome.model);
    } else
#ifdef VR_MPI
    if (mpi.active()) {
      vr::mpi::ProcessReport process;
      model = vr::mpi::run_distributed_training(job, shard_directory, progress, process);
      if (!options.write_ratings.empty()) vr::mpi::write_shard_concatenation(shard_directory, options.write_ratings);
      const auto processes = vr::mpi::gather_reports(process);
      summary = mpi.rank() == 0;
      for (const auto& each : processes) {
        if (options.quiet) break;
        std::cerr << "vr-train: process " << each.rank << "/" << mpi.size() << ": users [" << each.first_user << ", "
                  << each.end_user << "), videos [" << each.first_video << ", " << each.end_video << "), "
                  << each.local_ratings << " ratings, " << std::fixed << std::setprecision(3)
                  << each.bytes_sent_per_iteration / 1e6 << " MB sent per iteration, peak RSS "
                  << std::setprecision(1) << each.peak_rss_bytes / 1e6 << " MB\n";
      }
    } else
#endif
    {
      const vr::WarningCallback warn = [](const std::string& warning) {
        vr::cli::end_progress();
        std::cerr << "vr-train: warning: " << warning << "\n";
      };
      // EASE's phases take minutes on large catalogs: one line each, terminal or not.
      const vr::PhaseCallback phase = [&](const vr::PhaseReport& report) {
        if (options.quiet) return;
        std::cerr << "vr-train: " << report.name << " done in " << std::fixed << std::setprecision(1) << report.seconds
                  << " s (" << report.total_seconds << " s in all)\n";
      };
      model = shard_directory.empty() ? vr::run_training(job, progress, warn, phase)
                                      : vr::run_sharded_training(job, shard_directory, progress);
      if (!options.write_ratings.empty()) vr::write_shard_concatenation(shard_directory, options.write_ratings);
    }
    vr::cli::end_progress();
    if (!summary) return vr::cli::kExitOk;
    std::cerr << "vr-train: " << model.info.kind << ", " << model.info.n_users << " users x " << model.info.n_videos << " videos, "
              << model.info.n_ratings << " ratings; wrote " << job.model_path << "\n";
    if (model_path.empty()) {
      try {
        vr::find_model_file(options.dir);
      } catch (const vr::InvalidInput& error) {
        std::cerr << "vr-train: warning: " << error.what() << " (vr-recommend and vr-serve read one model per folder)\n";
      }
    }
    if (cg_stopped_rows > 0) {
      std::cerr << "vr-train: warning: CG stopped early on " << cg_stopped_rows << " row solves in all (the system "
                << "was not positive definite or a value not finite; try a larger --regularization)\n";
    }
    return vr::cli::kExitOk;
  });
#ifdef VR_MPI
  return mpi.finish(exit_code);
#else
  return exit_code;
#endif
}
