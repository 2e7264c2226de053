// vr-recommend: top-N videos for a user, a fold-in history, a list of users or every user;
// similar videos; explanations.
#include <iostream>
#include <tuple>

#include "cli_common.h"
#include "vr/artifacts.h"
#include "vr/recommend_job.h"

namespace {
struct Options {
  std::string dir = vr::kDefaultArtifactsDirectory;
  std::string ratings;
  std::string mappings;
  std::string model;
  std::string user;
  std::string history;
  std::string similar;
  std::string users;
  bool all_users = false;
  std::string shard;
  int k = 5;
  bool include_watched = false;
  std::vector<std::string> exclude;
  bool explain = false;
  int explain_top = 3;
  std::string titles;
  std::string format = "auto";
  int threads = 0;
  std::string output = "-";
  std::string unknown_user = "404";
  std::string scan = "pruned";
  double popularity_penalty = 0;
  std::string retrieval = "auto";
  std::size_t ef = 128;
  bool verbose = false;
  std::string catalog;
  std::string now = "now";
  std::vector<std::string> categories;
  std::vector<std::string> exclude_categories;
};
}  // namespace

int main(int argc, char** argv) {
  // Buffered stdin/stdout: --all-users writes hundreds of MB, and --users - looks at what
  // stdin has buffered to answer available lines together.
  std::ios::sync_with_stdio(false);
  CLI::App app{
      "vr-recommend: top-N videos from a trained model (als_model.bin, mappings.bin, and\n"
      "ratings.csv for what each user already watched). Scores are x_u . y_i, best first.\n"
      "Modes: --user ID; --history V1,V2 (fold-in of an unseen user, solved exactly);\n"
      "--similar VIDEO (cosine of video factors); --users FILE|- (one user id or JSON object per\n"
      "line -> JSON Lines in input order); --all-users (every user, streamed, multithreaded).\n"
      "Exit status: 0 ok, 1 error (e.g. unknown --user), 3 a batch finished but some users\n"
      "were unknown or some lines invalid (summary on stderr)."};
  Options options;
  app.add_option("--dir", options.dir, "Artifacts directory with als_model.bin, mappings.bin, ratings.csv")
      ->capture_default_str();
  app.add_option("--ratings", options.ratings, "Read ratings.csv from this file instead")->check(CLI::ExistingFile);
  app.add_option("--mappings", options.mappings, "Read mappings.bin from this file instead")->check(CLI::ExistingFile);
  app.add_option("--model", options.model, "Read the model from this file instead of DIR's (als_model.bin, ease_model.bin or item_knn_model.bin)")->check(CLI::ExistingFile);
  app.add_option("-u,--user", options.user, "Recommend for this user id (with --history: label of the fold-in user)");
  app.add_option("--history", options.history,
                 "Fold-in: comma-separated video ids the user watched, each optionally ID:WEIGHT (default weight 1)");
  app.add_option("--similar", options.similar, "List the videos most similar to this video id");
  app.add_option("--users", options.users, "Recommend for each user (or JSON request) per line of FILE, - = stdin")
      ->check(vr::cli::ExistingFileOrDash);
  app.add_flag("--all-users", options.all_users, "Recommend for every user in the model");
  app.add_option("--shard", options.shard,
                 "With --all-users: only user slice I of N (0-based, e.g. 0/4); the N outputs concatenated in "
                 "order are the --all-users output byte for byte (empty = all users)");
  app.add_option("-k", options.k, "Videos per user (fewer if the catalog is smaller)")
      ->capture_default_str()->check(vr::cli::AtLeast(1));
  app.add_flag("--include-watched", options.include_watched, "Keep videos the user already watched");
  app.add_option("--exclude", options.exclude, "Comma-separated video ids to leave out")->delimiter(',');
  app.add_flag("--explain", options.explain,
               "Add the watched videos that contributed most to each score (Hu et al. 2008, section 5;\n"
               "the contributions of all watched videos sum to the score shown)");
  app.add_option("--explain-top", options.explain_top, "Contributions listed per video with --explain")
      ->capture_default_str()->check(vr::cli::AtLeast(1));
  app.add_option("--titles", options.titles, "Videos CSV (video_id,title,...) to add titles from")
      ->check(CLI::ExistingFile);
  app.add_option("--format", options.format,
                 "auto (tsv for one query, json lines for batches), tsv, json, or csv (user_id,rank,video_id,score)")
      ->capture_default_str()->check(CLI::IsMember({"auto", "tsv", "json", "csv"}));
  app.add_option("--threads", options.threads, "Worker threads for --users and --all-users (0 = all cores)")
      ->capture_default_str()->check(vr::cli::AtLeast(0));
  app.add_option("-o,--output", options.output, "Write here instead of stdout (- = stdout); a file is written atomically")
      ->capture_default_str();
  app.add_option("--unknown-user", options.unknown_user,
                 "A --user (or batch user without a history) the model does not know: 404 = an error (not found),\n"
                 "or popular = the most popular videos of the training data, in the usual shape (noted on stderr)")
      ->capture_default_str()
      ->check(CLI::IsMember({"404", "popular"}));
  vr::cli::add_scan_flag(app, options.scan, "How to search the catalog");
  vr::cli::add_popularity_penalty_flag(app, options.popularity_penalty);
  app.add_option("--retrieval", options.retrieval,
                 "With --similar: exact (cosine with every video), ann (the HNSW index ann_index.bin beside the model,\n"
                 "built by vr-index) or auto (the index when there is one)")
      ->capture_default_str()->check(CLI::IsMember({"exact", "ann", "auto"}));
  app.add_option("--ef", options.ef, "--similar with an index: the search's candidate list (more = better recall, slower)")
      ->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--catalog", options.catalog,
                 "Videos CSV (video_id, and optionally title, categories, available_from, available_to, hidden):\n"
                 "hidden videos and videos outside their availability window are never recommended, on any mode")
      ->check(CLI::ExistingFile);
  app.add_option("--now", options.now,
                 "With --catalog: the time availability windows are checked at (ISO 8601 or epoch seconds;\n"
                 "now = the clock when the run starts); set it to make a batch reproducible")
      ->capture_default_str();
  app.add_option("--category", options.categories,
                 "With --catalog: only videos with one of these categories (comma-separated; empty = any)")
      ->delimiter(',');
  app.add_option("--exclude-category", options.exclude_categories,
                 "With --catalog: no video with one of these categories (comma-separated)")
      ->delimiter(',');
  app.add_flag("--verbose", options.verbose, "Print the share of the catalog scored to stderr");
  vr::cli::add_version_flag(app);

  return vr::cli::run(app, argc, argv, [&] {
    vr::RecommendJob job;
    job.artifacts = vr::resolve_artifact_paths(options.dir, options.ratings, options.mappings,
                                               options.model.empty() ? vr::find_model_file(options.dir) : options.model);
    job.titles_path = options.titles;
    job.user_id = options.user;
    if (!options.history.empty()) job.history = vr::parse_history(options.history);
    job.similar_to = options.similar;
    job.users_path = options.users;
    job.all_users = options.all_users;
    if (!options.shard.empty()) std::tie(job.shard, job.shards) = vr::parse_user_shard(options.shard);
    job.options.k = options.k;
    job.options.include_watched = options.include_watched;
    job.options.exclude = options.exclude;
    job.options.explain = options.explain;
    job.options.explain_top = options.explain_top;
    job.style.format = vr::parse_output_format(options.format);
    job.threads = options.threads;
    job.output_path = options.output;
    job.unknown_user = vr::parse_unknown_user_policy(options.unknown_user);
    job.scan = vr::parse_scan_mode(options.scan);
    job.popularity_penalty = options.popularity_penalty;
    job.retrieval.mode = vr::parse_retrieval(options.retrieval);
    job.retrieval.ef = options.ef;
    job.catalog_path = options.catalog;
    if (!options.catalog.empty()) job.now = vr::parse_reference_time(options.now, "--now");
    job.categories.categories = options.categories;
    job.categories.exclude_categories = options.exclude_categories;
    const auto summary = vr::run_recommend(job);
    if (summary.catalog_unknown_videos > 0) {
      std::cerr << "vr-recommend: note: " << options.catalog << " lists " << summary.catalog_unknown_videos
                << " videos the model does not know (ignored)\n";
    }
    if (options.verbose && !options.catalog.empty()) {
      std::cerr << "vr-recommend: catalog " << options.catalog << " leaves out " << summary.ineligible_videos
                << " of the model's videos\n";
    }
    if (summary.videos_without_title > 0) {
      std::cerr << "vr-recommend: warning: " << options.titles << " has no title for " << summary.videos_without_title
                << " of the model's videos (their title is left empty)\n";
    }
    if (options.verbose) {
      std::cerr << "vr-recommend: scan " << options.scan << ", " << summary.scan.videos_scored << " of "
                << summary.scan.catalog_videos << " video scores computed over " << summary.scan.queries
                << " searches (" << 100.0 * summary.scan.share_scanned() << "% of the catalog)\n";
    }
    if (job.users_path.empty() && !job.all_users) {
      if (summary.popular > 0) {
        std::cerr << "vr-recommend: user '" << job.user_id << "' is not in the model; answered with the most popular videos\n";
      }
      return vr::cli::kExitOk;
    }
    std::cerr << "vr-recommend: " << summary.answered << " users answered, " << summary.not_found << " not found, "
              << summary.invalid << " invalid lines";
    if (job.unknown_user == vr::UnknownUserPolicy::Popular) {
      std::cerr << ", " << summary.popular << " answered with popular videos";
    }
    std::cerr << "\n";
    return summary.not_found + summary.invalid > 0 ? vr::cli::kExitPartial : vr::cli::kExitOk;
  });
}
