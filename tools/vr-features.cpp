// vr-features: raw interaction events (CSV) -> ratings.csv + mappings.bin.
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli_common.h"
#include "vr/artifacts.h"
#include "vr/csv.h"
#include "vr/interactions.h"
#include "vr/recent_popularity.h"
#include "vr/timestamp.h"
#include "vr/shards.h"

namespace {
struct Options {
  std::string input;
  std::string dir = vr::kDefaultArtifactsDirectory;
  std::string ratings;
  std::string mappings;
  std::string weights = "watch=1,like=2,complete=3";
  bool skip_invalid = false;
  std::string mappings_from;
  std::string half_life;
  std::string now;
  std::string popular_window;
  int shards = 0;
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
  app.add_option("--mappings-from", options.mappings_from,
                 "An earlier run's mappings.bin: its ids keep their indices (also ids absent today), new ids\n"
                 "get the next ones in sorted order, so yesterday's model lines up (default: none, renumber all)")
      ->check(CLI::ExistingFile);
  app.add_option("--half-life", options.half_life,
                 "Time decay: weight each event by 0.5^(age / DURATION), e.g. 30d, 12h, 90m, 2w (needs a\n"
                 "timestamp column, ISO 8601 or epoch seconds; default: none, no decay)");
  app.add_option("--popular-window", options.popular_window,
                 "Also write DIR/popular.csv: videos ranked by the users with a positive event in the last\n"
                 "DURATION (e.g. 7d, 12h; needs a timestamp column); the popular answer of vr-serve and\n"
                 "vr-recommend (--unknown-user popular) then counts only those (default: none, all-time counts)");
  app.add_option("--now", options.now,
                 "Time decay and popular window: the time ages are measured from, ISO 8601 or epoch seconds (default: the newest\n"
                 "timestamp in the input, so the output is reproducible)");
  app.add_option("--shards", options.shards,
                 "Write the ratings as N shards DIR/ratings-00000-of-0000N.csv ... (concatenated: ratings.csv) "
                 "with DIR/ratings-shards.json instead of ratings.csv, for vr-train on several machines "
                 "(0 = one ratings.csv)")
      ->capture_default_str()->check(CLI::Range(0, vr::kMaxShards));
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
    job.previous_mappings_path = options.mappings_from;
    if (!options.half_life.empty()) job.config.half_life_seconds = vr::parse_duration(options.half_life, "--half-life");
    if (!options.now.empty()) {
      if (options.half_life.empty() && options.popular_window.empty()) {
        throw vr::InvalidInput("--now is the reference time of --half-life and --popular-window; give one of them");
      }
      job.config.decay_now = vr::parse_timestamp(options.now);
      if (!job.config.decay_now) {
        throw vr::InvalidInput("--now: '" + options.now + "' is not an ISO 8601 time or epoch seconds");
      }
    }
    if (!options.popular_window.empty()) {
      job.config.popular_window_seconds = vr::parse_duration(options.popular_window, "--popular-window");
      if (options.ratings == "-") throw vr::InvalidInput("--popular-window writes popular.csv into --dir; drop --ratings -");
      job.popular_path = (std::filesystem::path(options.dir) / vr::kPopularFileName).string();
    }
    vr::StableIdsSummary stable_ids;
    const vr::ProgressCallback progress = [](std::uint64_t rows, std::uint64_t bytes) {
      std::ostringstream line;
      line << "vr-features: " << rows << " rows, " << std::fixed << std::setprecision(1)
           << static_cast<double>(bytes) / 1e6 << " MB read";
      vr::cli::show_progress(line.str());
    };
    if (options.shards > 0 && !options.ratings.empty()) throw vr::InvalidInput("--shards writes into --dir; drop --ratings");
    if (options.shards > 0 && (!options.mappings_from.empty() || !options.half_life.empty() || !options.popular_window.empty())) {
      throw vr::InvalidInput("--shards cannot be combined with --mappings-from, --half-life or --popular-window yet: write ratings.csv "
                             "with them, then shard it");
    }
    const auto result = options.shards > 0 ? vr::run_features_sharded(job, options.dir, options.shards, progress)
                                           : vr::run_features(job, progress, &stable_ids);
    if (options.shards > 0) {
      job.ratings_path = std::to_string(options.shards) + " shards with " + options.dir + "/" + vr::kShardManifestFileName;
    }
    vr::cli::end_progress();
    if (result.delimiter != ',') {
      std::cerr << "vr-features: fields separated by " << vr::describe_delimiter(result.delimiter)
                << (job.config.delimiter == 0 ? " (found in the header line)" : "") << "\n";
    }
    std::cerr << "vr-features: " << result.rows_read << " rows -> " << result.users.size() << " users, "
              << result.videos.size() << " videos; wrote " << job.ratings_path << " and " << job.mappings_path
              << "\n";
    if (!job.previous_mappings_path.empty()) {
      std::cerr << "vr-features: ids kept from " << job.previous_mappings_path << "; new: " << stable_ids.new_users
                << " users, " << stable_ids.new_videos << " videos; absent today (kept, no ratings): "
                << stable_ids.absent_users << " users, " << stable_ids.absent_videos << " videos\n";
    }
    if (result.skipped.total() > 0) {
      std::cerr << "vr-features: skipped " << result.skipped.total() << " invalid rows:";
      for (const auto& [reason, count] : result.skipped.count_by_reason) std::cerr << " " << reason << "=" << count;
      std::cerr << "\n";
    }
    return vr::cli::kExitOk;
  });
}
