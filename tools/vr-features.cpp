// vr-features: raw interaction events (CSV) -> ratings.csv + mappings.bin.
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli_common.h"
#include "vr/artifacts.h"
#include "vr/csv.h"
#include "vr/interactions.h"

namespace {
struct Options {
  std::string input;
  std::string dir = vr::kDefaultArtifactsDirectory;
  std::string ratings;
  std::string mappings;
  std::string weights = "watch=1,like=2,complete=3";
  bool skip_invalid = false;
  std::string delimiter = "auto";
};
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "vr-features: aggregate raw interaction events into ratings.csv and mappings.bin.\n"
      "Input columns are found by header name in any order and letter case: user_id, video_id\n"
      "and either event (a name, weighted by --weights, any letter case) or value (a number);\n"
      "timestamp is optional. Fields are separated by ',', ';' or tab (see --delimiter).\n"
      "Weights are summed per (user, video). Outputs are written atomically."};
  Options options;
  app.add_option("input", options.input, "Interactions CSV file, or - for stdin")
      ->required()
      ->check(vr::cli::ExistingFileOrDash);
  app.add_option("--dir", options.dir, "Artifacts directory for ratings.csv and mappings.bin")->capture_default_str();
  app.add_option("--ratings", options.ratings, "Write ratings.csv here instead (- = stdout)");
  app.add_option("--mappings", options.mappings, "Write mappings.bin here instead");
  app.add_option("--weights", options.weights, "Weight of each event name")->capture_default_str();
  app.add_flag("--skip-invalid", options.skip_invalid,
               "Skip malformed rows (counted by reason on stderr) instead of failing");
  vr::cli::add_delimiter_flag(app, options.delimiter);
  vr::cli::add_version_flag(app);

  return vr::cli::run(app, argc, argv, [&] {
    const auto paths = vr::resolve_artifact_paths(options.dir, options.ratings, options.mappings);
    vr::FeaturesJob job;
    job.input_path = options.input;
    job.ratings_path = paths.ratings;
    job.mappings_path = paths.mappings;
    job.config.event_weights = vr::parse_event_weights(options.weights);
    job.config.skip_invalid = options.skip_invalid;
    job.config.delimiter = vr::cli::parse_delimiter_flag(options.delimiter);
    const auto result = vr::run_features(job, [](std::uint64_t rows, std::uint64_t bytes) {
      std::ostringstream line;
      line << "vr-features: " << rows << " rows, " << std::fixed << std::setprecision(1)
           << static_cast<double>(bytes) / 1e6 << " MB read";
      vr::cli::show_progress(line.str());
    });
    vr::cli::end_progress();
    if (result.delimiter != ',') {
      std::cerr << "vr-features: fields separated by " << vr::describe_delimiter(result.delimiter)
                << (job.config.delimiter == 0 ? " (found in the header line)" : "") << "\n";
    }
    std::cerr << "vr-features: " << result.rows_read << " rows -> " << result.users.size() << " users, "
              << result.videos.size() << " videos; wrote " << job.ratings_path << " and " << job.mappings_path
              << "\n";
    if (result.skipped.total() > 0) {
      std::cerr << "vr-features: skipped " << result.skipped.total() << " invalid rows:";
      for (const auto& [reason, count] : result.skipped.count_by_reason) std::cerr << " " << reason << "=" << count;
      std::cerr << "\n";
    }
    return vr::cli::kExitOk;
  });
}
