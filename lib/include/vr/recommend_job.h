// vr-recommend's job: one query (a user, a fold-in history, similar videos) or a batch (a
// list of users, every user), written as TSV, JSON / JSON Lines or CSV.
//
// Output formats (scores are float32 printed in the shortest form that reads back exactly):
//   tsv   one line per video: video_id<TAB>score[<TAB>title][<TAB>because], no header;
//         `because` is "v003:0.41,v001:0.12" (watched video : contribution)
//   json  one object per query, on one line: {"userId": "u002", "recommendations":
//         [{"videoId": "v001", "score": 0.91}, ...]} (the /invocations response), with
//         "title" and "because": [{"videoId": ..., "contribution": ...}] when asked for;
//         in batch modes one such line per user (JSON Lines), and for a user that cannot be
//         answered {"userId": "u999", "error": "user not found"}
//   csv   header user_id,rank,video_id,score[,title][,because], one row per video, rank
//         from 1; users that cannot be answered write no rows (they are only counted)
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <unordered_map>
#include <vector>

#include "vr/artifacts.h"
#include "vr/eligibility.h"
#include "vr/popular.h"
#include "vr/recommender.h"

namespace vr {

enum class OutputFormat {
  Auto,  // tsv for one query, json (JSON Lines) for a batch
  Tsv,
  Json,
  Csv,
};

// Parses "auto", "tsv", "json", "csv"; throws InvalidInput otherwise.
OutputFormat parse_output_format(const std::string& text);

// video id -> title, from a videos CSV.
using VideoTitles = std::unordered_map<std::string, std::string>;

// Reads a videos CSV with (at least) the columns video_id and title, found by header name.
// Throws InvalidInput naming `source_name` and the line when a column or field is missing.
VideoTitles read_video_titles(std::istream& input, const std::string& source_name);

// How to write answers.
struct OutputStyle {
  OutputFormat format = OutputFormat::Auto;  // resolved by each writer for its mode
  const VideoTitles* titles = nullptr;       // add a title to each video when set (missing ones are "")
};

// A fold-in history parsed from the command line.
struct History {
  std::vector<std::string> videos;  // video ids, as given
  std::vector<float> weights;       // one weight per video (1 when not given)
};

// Parses "v001,v003:2.5": comma-separated video ids, each optionally followed by
// ":weight" (a finite number; default 1). Throws InvalidInput on an empty list or a bad weight.
History parse_history(const std::string& text);

// Writes the top-k for one known user. Throws NotFound("user 'ID' not found") for an unknown one.
void write_user_recommendations(const Recommender& recommender, const std::string& user_id,
                                const RecommendOptions& options, const OutputStyle& style, std::ostream& output);

// Writes the fold-in top-k of a user described by `history`; `user_id` (may be empty) only
// labels the output. Throws NotFound if no history video is known.
void write_history_recommendations(const Recommender& recommender, const std::string& user_id,
                                   const History& history, const RecommendOptions& options,
                                   const OutputStyle& style, std::ostream& output);

// Writes the videos most similar to `video_id` (tsv, or json as {"videoId": ..., "similar":
// [{"videoId": ..., "score": ...}]}; csv is refused). Throws NotFound for an unknown video.
void write_similar_videos(const Recommender& recommender, const std::string& video_id,
                          const RecommendOptions& options, const OutputStyle& style, std::ostream& output);

// What a batch did, for the summary on stderr and the exit status.
struct BatchSummary {
  std::uint64_t answered = 0;   // users whose recommendations were written
  std::uint64_t not_found = 0;  // unknown users (and histories with no known video)
  std::uint64_t invalid = 0;    // input lines that could not be parsed
  std::uint64_t popular = 0;    // unknown users answered with popular videos (also in answered)
  ScanCounters scan;            // how much of the catalog the searches scored
  std::uint64_t videos_without_title = 0;  // with a titles file: catalog videos it has no title for
  std::uint64_t catalog_unknown_videos = 0;  // with a catalog: its rows whose video the model does not know
  std::uint64_t ineligible_videos = 0;       // with a catalog: model videos left out (hidden, window, category)
};

// Answers one user per input line, writing one output line per user in input order (JSON
// Lines by default, or csv). A line is a user id, or a JSON object {"userId": "u1"} (or
// "user_id") optionally with "history": ["v1", ...] or [{"videoId": "v1", "weight": 2}, ...]
// for fold-in, and "k". Blank lines are skipped, and so is a header line: "user_id" or
// "userId" (any case) when no user has that id. Lines that are already available are
// answered together on `threads` threads; the output is flushed whenever the input has to
// wait, so the tool works inside a shell pipe.
// With `popular`, an unknown user without a history is answered with the most popular videos.
BatchSummary write_batch_recommendations(const Recommender& recommender, std::istream& users,
                                         const RecommendOptions& options, const OutputStyle& style, int threads,
                                         std::ostream& output, const PopularVideos* popular = nullptr);

// Writes every user's top-k in user-index order (JSON Lines by default, or csv), scored in
// blocks on `threads` threads and streamed as it goes. Returns the number of users written.
// With `shard` I of `shards` N, only the I-th (0-based) of N contiguous user slices, users
// [n*I/N, n*(I+1)/N), and the csv header only in slice 0: the N outputs concatenated in order
// are the unsharded output byte for byte.
std::uint64_t write_all_recommendations(const Recommender& recommender, const RecommendOptions& options,
                                        const OutputStyle& style, int threads, std::ostream& output,
                                        std::uint32_t shard = 0, std::uint32_t shards = 1);

// Parses "I/N" (0 <= I < N): --shard's value. Throws InvalidInput otherwise.
std::pair<std::uint32_t, std::uint32_t> parse_user_shard(const std::string& text);

// What vr-recommend was asked to do, as plain data. Exactly one of user_id (alone or with
// history), history, similar_to, users_path, all_users selects the mode.
struct RecommendJob {
  ArtifactPaths artifacts;
  std::string titles_path;    // videos CSV for titles; empty = no titles
  std::string user_id;        // one known user (or, with history, the label of a fold-in user)
  History history;            // fold-in history; empty = none
  std::string similar_to;     // a video id for similar videos
  std::string users_path;     // a file of users, one per line, or "-" for stdin
  bool all_users = false;     // every user in the model
  std::uint32_t shard = 0;    // with all_users: write user slice `shard` of `shards` only
  std::uint32_t shards = 1;
  RecommendOptions options;
  OutputStyle style;          // titles are filled in from titles_path
  int threads = 0;            // 0 = all cores
  std::string output_path = "-";  // "-" = stdout; a file is written atomically
  // An unknown --user (or batch user without a history): an error (NotFound), or the most
  // popular videos of the training data in the usual shape.
  UnknownUserPolicy unknown_user = UnknownUserPolicy::NotFound;
  ScanMode scan = ScanMode::Pruned;  // how the catalog is searched (same answers either way)
  double popularity_penalty = 0;     // beta of the long-tail re-ranking (vr/popularity_penalty.h); 0 = off
  SimilarRetrieval retrieval;        // --similar: exact cosine or the ANN index (index_path
                                     // empty = ann_index.bin beside the model)
  std::string catalog_path;          // videos.csv whose rules every answer obeys (vr/catalog.h); empty = none
  std::optional<double> now;         // the time availability windows are checked at; none = the clock
  CategoryFilter categories;         // only / never these categories (needs catalog_path)
};

// Loads the artifacts (and titles), runs the selected mode and writes the answer. Throws
// InvalidInput when no mode or more than one is selected, NotFound for an unknown user or
// video in a single query, and the loaders' exceptions. Batch modes return their summary;
// a single query returns {answered = 1}.
BatchSummary run_recommend(const RecommendJob& job);

}  // namespace vr
