// Raw interaction logs -> aggregated ratings. This is vr-features' logic.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vr/id_map.h"
#include "vr/ratings.h"

namespace vr {

// How raw event rows become ratings.
struct FeaturesConfig {
  // Weight of each event name, used when the input has an `event` column.
  std::map<std::string, double> event_weights{{"watch", 1.0}, {"like", 2.0}, {"complete", 3.0}};
  // Skip malformed rows (counted by reason) instead of failing on the first one.
  bool skip_invalid = false;
  // Time decay: each event's weight is multiplied by 0.5^(age / half_life_seconds), its age
  // measured from decay_now (seconds since the epoch; events after it count as new). Needs a
  // `timestamp` column (ISO 8601 or epoch seconds). 0 = no decay (the default).
  double half_life_seconds = 0;
  // The reference time of the decay; required when half_life_seconds > 0 (run_features
  // defaults it to the newest timestamp in the input).
  std::optional<double> decay_now;
  // Recent popularity: also count, per video, the distinct users with a positive event no
  // older than this many seconds before decay_now (AggregatedInteractions::recent_users).
  // Needs a `timestamp` column. 0 = not counted (the default).
  double popular_window_seconds = 0;
  // Field delimiter: ',', ';' or '\t'; 0 = detect it from the header line (detect_delimiter).
  char delimiter = 0;
};

// Why rows were skipped under skip_invalid, with counts.
struct SkippedRows {
  std::map<std::string, std::uint64_t> count_by_reason;
  std::uint64_t total() const;
};

// The result of aggregation: ids mapped to dense indices (sorted by id), and one rating per
// distinct (user, video) pair, sorted by user then video.
struct AggregatedInteractions {
  IdMap users;
  IdMap videos;
  std::vector<Rating> ratings;  // empty when they were streamed to a sink
  std::uint64_t pairs = 0;      // distinct (user, video) pairs with a non-zero sum
  std::uint64_t rows_read = 0;  // data rows read (excluding header and blank lines)
  char delimiter = ',';         // the field delimiter used (given or detected)
  SkippedRows skipped;
  // With popular_window_seconds: per video (index in `videos`), the distinct users with a
  // positive event in the window; empty otherwise.
  std::vector<std::uint32_t> recent_users;
};

// Called now and then with (rows read, bytes read) for progress output.
using ProgressCallback = std::function<void(std::uint64_t rows, std::uint64_t bytes)>;

// Parses "watch=1,like=2,complete=3". Throws InvalidInput on a malformed list, or a name given
// twice (in any letter case).
std::map<std::string, double> parse_event_weights(const std::string& text);

// Receives the aggregated ratings one at a time, sorted by user then video.
using RatingSink = std::function<void(const Rating& rating)>;

// Reads an interactions CSV (columns by header name in any letter case: user_id, video_id
// and either event or value, parsed by InteractionRowParser; timestamp optional; fields
// separated by config.delimiter, or by what the header shows) and sums weights per (user,
// video). Event names match in any letter case. Memory grows with the
// number of distinct pairs, not rows. Throws InvalidInput naming `source_name`, the line
// and the field on the first bad row unless config.skip_invalid. With a `sink`, the ratings
// are streamed to it (after the id maps are final) instead of being collected in
// result.ratings, which saves a copy of every pair.
AggregatedInteractions aggregate_interactions(std::istream& input, const std::string& source_name,
                                              const FeaturesConfig& config,
                                              const ProgressCallback& progress = {},
                                              const RatingSink& sink = {});

}  // namespace vr

namespace vr {

// Everything vr-features does, as plain data.
struct FeaturesJob {
  std::string input_path;     // interactions CSV, or "-" for stdin
  std::string ratings_path;   // where ratings.csv goes ("-" = stdout)
  std::string mappings_path;  // where mappings.bin goes
  // An earlier run's mappings.bin: its ids keep their indices, new ids follow (empty = none,
  // every id numbered afresh by sorted id).
  std::string previous_mappings_path;
  // Where popular.csv goes when config.popular_window_seconds > 0 (the videos ranked by
  // recent users; read by vr-serve and vr-recommend --unknown-user popular).
  std::string popular_path;
  FeaturesConfig config;
};

// Reads the input, aggregates it and writes both outputs atomically (outputs are opened
// before reading, so an unwritable folder fails at once; a failure leaves old outputs as
// they were). Returns the aggregation (without ratings, to free memory) for a summary.
// With job.previous_mappings_path, `stable_ids` (when given) receives how today's ids relate
// to the previous ones.
struct StableIdsSummary;
AggregatedInteractions run_features(const FeaturesJob& job, const ProgressCallback& progress = {},
                                    StableIdsSummary* stable_ids = nullptr);

// How today's ids relate to an earlier run's (vr-features --mappings-from).
struct StableIdsSummary {
  std::size_t new_users = 0, new_videos = 0;        // ids the previous mappings lacked
  std::size_t absent_users = 0, absent_videos = 0;  // previous ids with no event today (kept)
};

}  // namespace vr
