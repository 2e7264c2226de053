// vr-index: an HNSW index of a model's video factors (cosine), for similar videos on large
// catalogs.
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli_common.h"
#include "vr/ann_index.h"
#include "vr/artifacts.h"

namespace {
struct Options {
  std::string dir = vr::kDefaultArtifactsDirectory;
  std::string model;
  std::string output;
  int m = 16;
  int ef_construction = 200;
  int threads = 0;
  bool quiet = false;
};
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "vr-index: build an HNSW graph (hnswlib, cosine) of an ALS model's video factors and write it\n"
      "as ann_index.bin beside als_model.bin. vr-recommend --similar and vr-serve use it for\n"
      "similar videos (--retrieval auto|ann). The index records the model it was built from and\n"
      "is refused with any other model. With --threads 1 the same model gives the same file;\n"
      "with more threads insertion order, and so the graph, varies from run to run."};
  Options options;
  app.add_option("--dir", options.dir, "Artifacts directory with als_model.bin")->capture_default_str();
  app.add_option("--model", options.model, "Read als_model.bin from this file instead")->check(CLI::ExistingFile);
  app.add_option("-o,--output", options.output, "Write the index here (default: ann_index.bin beside the model)");
  app.add_option("--m", options.m, "Links per node and layer (2 M on the bottom layer); more = better recall, more memory")
      ->capture_default_str()->check(CLI::Range(2, 200));
  app.add_option("--ef-construction", options.ef_construction, "Candidate list while inserting; more = better graph, slower build")
      ->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--threads", options.threads, "Insertion threads (0 = all cores; 1 = the same file every run)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_flag("--quiet", options.quiet, "No progress on stderr");
  vr::cli::add_version_flag(app);

  return vr::cli::run(app, argc, argv, [&] {
    vr::AnnIndexJob job;
    job.model_path = vr::resolve_artifact_paths(options.dir, "", "", options.model).model;
    job.output_path = options.output.empty()
                          ? (std::filesystem::path(job.model_path).parent_path() / vr::kAnnIndexFileName).string()
                          : options.output;
    job.config.m = options.m;
    job.config.ef_construction = options.ef_construction;
    job.config.threads = options.threads;
    const auto summary = vr::run_ann_index(job, [&](std::size_t done, std::size_t total) {
      if (options.quiet) return;
      vr::cli::show_progress("vr-index: " + std::to_string(done) + "/" + std::to_string(total) + " videos");
    });
    vr::cli::end_progress();
    std::ostringstream line;
    line << std::fixed << std::setprecision(1) << "vr-index: " << summary.videos << " videos, M " << options.m
         << ", ef-construction " << options.ef_construction << ", built in " << summary.build_seconds << " s; wrote "
         << job.output_path << " (" << static_cast<double>(summary.bytes) / (1024.0 * 1024.0) << " MiB)";
    std::cerr << line.str() << "\n";
    return vr::cli::kExitOk;
  });
}
