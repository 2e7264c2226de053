// vr-train: ratings.csv -> als_model.bin (implicit-feedback ALS, EASE or item-knn).
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
  std::vector<std::string> model;  // a kind (als, ease, item-knn) and/or the output path
  std::string config;
  vr::cli::AlsFlags als;
  float ease_regularization = 500.0f;
  int neighbours = 50;
  std::string similarity = "cosine";
  float bm25_k1 = 1.2f;
  float bm25_b = 0.75f;
  bool quiet = false;
};

bool is_model_kind(const std::string& text) { return text == "als" || text == "ease" || text == "item-knn"; }
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "vr-train: train an implicit-feedback ALS model (Hu, Koren & Volinsky 2008, with the\n"
      "conjugate-gradient solver of Takacs et al. 2011, as the `implicit` library does) from\n"
      "ratings.csv, and write als_model.bin atomically. Confidence c = alpha * r; the same seed\n"
      "gives a byte-identical model whatever the thread count. --model ease trains Steck's EASE\n"
      "(closed form, catalogs up to 50000 videos), --model item-knn cosine or BM25 item\n"
      "neighbours; both are served by vr-recommend and vr-serve like ALS. --config FILE reads\n"
      "hyperparameters (e.g. vr-evaluate --tune's best), flags given explicitly override it."};
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
  app.add_flag("--quiet", options.quiet, "No per-iteration progress on stderr");
  vr::cli::add_version_flag(app);

  return vr::cli::run(app, argc, argv, [&] {
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
    if (job.ratings_path != "-" && !std::filesystem::exists(job.ratings_path)) {
      throw vr::IoError("cannot read '" + job.ratings_path + "': no such file (run vr-features first)");
    }
    const int total = config.iterations;
    std::uint64_t cg_stopped_rows = 0;
    const auto model = vr::run_training(job, [&](const vr::IterationReport& report) {
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
    });
    vr::cli::end_progress();
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
}
