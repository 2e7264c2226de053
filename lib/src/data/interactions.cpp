#include "vr/interactions.h"

#include <cmath>
#include <memory>
#include <string>
#include <utility>

#include "vr/csv.h"
#include "vr/errors.h"
#include "vr/id_interner.h"
#include "vr/interaction_rows.h"
#include "vr/pair_accumulator.h"
#include "vr/row_batch.h"
#include "vr/timestamp.h"

namespace vr {

std::uint64_t SkippedRows::total() const {
  std::uint64_t sum = 0;
  for (const auto& entry : count_by_reason) sum += entry.second;
  return sum;
}

AggregatedInteractions aggregate_interactions(std::istream& input, const std::string& source_name,
                                              const FeaturesConfig& config,
                                              const ProgressCallback& progress, const RatingSink& sink) {
  // Held by pointer so that its 48 MiB read buffer can be released once the input is read,
  // before the renumbering and sorting need memory of their own.
  auto reader = std::make_unique<CsvReader>(input, source_name, config.delimiter);
  std::vector<std::string_view> fields;
  if (!reader->next_row(fields)) {
    throw InvalidInput(source_name + ": empty input (expected a header line with user_id, "
                       "video_id and event or value)");
  }
  const std::vector<std::string> header_names(fields.begin(), fields.end());
  const std::vector<std::string_view> header(header_names.begin(), header_names.end());
  const bool decay = config.half_life_seconds > 0;
  const bool recent = config.popular_window_seconds > 0;
  const InteractionRowParser parser(find_interaction_columns(header, source_name, reader->delimiter()),
                                    config.event_weights, /*read_timestamps=*/decay || recent);
  if (recent && !parser.columns().timestamp) {
    throw InvalidInput(source_name + ":1: missing column 'timestamp' (needed by --popular-window)");
  }
  if (recent && !config.decay_now) throw InvalidInput("recent popularity needs a reference time (--now)");
  if (decay && !parser.columns().timestamp) {
    throw InvalidInput(source_name + ":1: missing column 'timestamp' (needed by --half-life)");
  }
  if (decay && !config.decay_now) throw InvalidInput("time decay needs a reference time (--now)");

  AggregatedInteractions result;
  result.delimiter = reader->delimiter();
  PairAccumulator pairs;
  // Logs are often grouped by user: a row whose user is the previous row's skips the look-up.
  std::string last_user;
  bool have_last_user = false;
  // Ids are interned compactly while the pair table is large, and become IdMaps only once
  // the pairs are written out and freed.
  IdInterner user_ids;
  IdInterner video_ids;
  RowBatch batch;
  // Recent popularity: the (user, video) pairs with a positive event in the window.
  PairAccumulator recent_pairs;
  RowBatch recent_batch;

  InteractionRowError row_error;
  auto reject = [&](const std::string& reason, const std::string& detail) {
    if (config.skip_invalid) {
      ++result.skipped.count_by_reason[reason];
      return;
    }
    throw InvalidInput(source_name + ":" + std::to_string(reader->line_number()) + ": " + detail);
  };

  while (reader->next_row(fields)) {
    ++result.rows_read;
    if (progress && (result.rows_read & 0xfffff) == 0) progress(result.rows_read, reader->bytes_read());
    InteractionRow row;
    if (!parser.parse(fields, row, row_error)) {
      reject(row_error.reason, row_error.detail);
      continue;
    }
    const std::string_view user_id = row.user_id;
    const std::string_view video_id = row.video_id;
    float weight = row.weight;
    if (decay) weight = static_cast<float>(weight * decay_factor(*config.decay_now - row.timestamp, config.half_life_seconds));
    const bool same_user = have_last_user && equal_bytes(user_id, last_user);
    if (!same_user) {
      last_user.assign(user_id);
      have_last_user = true;
    }
    batch.add(user_id, same_user, video_id, weight);
    if (batch.full()) batch.resolve(user_ids, video_ids, pairs);
    if (recent && row.weight > 0 && *config.decay_now - row.timestamp <= config.popular_window_seconds) {
      recent_batch.add(user_id, false, video_id, 1.0f);
      if (recent_batch.full()) recent_batch.resolve(user_ids, video_ids, recent_pairs);
    }
  }
  batch.resolve(user_ids, video_ids, pairs);
  recent_batch.resolve(user_ids, video_ids, recent_pairs);
  if (progress) progress(result.rows_read, reader->bytes_read());
  reader.reset();

  // Renumber users and videos by sorted id so the output does not depend on row order
  // within the file beyond the sums themselves. The pair table is compacted first: sorting
  // the ids needs memory, and the table's empty slots are the largest thing to give back.
  pairs.compact();
  const auto users_by_id = user_ids.order_by_id();
  const auto videos_by_id = video_ids.order_by_id();
  const auto renumbering = [](const std::vector<std::uint32_t>& order) {
    std::vector<std::uint32_t> new_index_of_old(order.size());
    for (std::size_t new_index = 0; new_index < order.size(); ++new_index) {
      new_index_of_old[order[new_index]] = static_cast<std::uint32_t>(new_index);
    }
    return new_index_of_old;
  };
  const std::vector<std::uint32_t> new_user_index = renumbering(users_by_id);
  const std::vector<std::uint32_t> new_video_index = renumbering(videos_by_id);
  pairs.renumber_and_sort(new_user_index, new_video_index);
  if (recent) {
    recent_pairs.compact();
    recent_pairs.renumber_and_sort(new_user_index, new_video_index);
    result.recent_users.assign(videos_by_id.size(), 0);
    recent_pairs.visit_sorted([&](std::uint64_t key, float) { ++result.recent_users[key & 0xffffffffu]; });
  }
  const RatingSink collect = [&result](const Rating& rating) { result.ratings.push_back(rating); };
  const RatingSink& deliver = sink ? sink : collect;
  pairs.visit_sorted([&](std::uint64_t key, float value) {
    const Rating rating{static_cast<std::uint32_t>(key >> 32), static_cast<std::uint32_t>(key & 0xffffffffu), value};
    // A pair whose weights cancel out (e.g. like then unlike) carries no information.
    if (value == 0.0f) return;
    if (!std::isfinite(value)) {
      throw InvalidInput(source_name + ": the summed weight of user '" +
                         std::string(user_ids.id(users_by_id[rating.user])) + "' on video '" +
                         std::string(video_ids.id(videos_by_id[rating.video])) + "' overflows a float");
    }
    ++result.pairs;
    deliver(rating);
  });
  result.users = user_ids.to_id_map(users_by_id);
  result.videos = video_ids.to_id_map(videos_by_id);
  return result;
}

}  // namespace vr
