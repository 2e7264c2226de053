#include "vr/interactions.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "vr/csv.h"
#include "vr/errors.h"

namespace vr {
namespace {

// Open-addressing hash map from a packed (user, video) key to the summed weight. 12 bytes a
// slot, so memory stays close to the aggregated pairs' own size (std::unordered_map would
// spend ~40 bytes a pair on nodes and pointers).
class PairAccumulator {
 public:
#pragma pack(push, 4)
  struct Slot {
    std::uint64_t key;
    float value;
  };
#pragma pack(pop)
  static_assert(sizeof(Slot) == 12);
  static constexpr std::uint64_t kEmpty = ~0ULL;

  PairAccumulator() { slots_.assign(1 << 16, Slot{kEmpty, 0.0f}); }

  void add(std::uint32_t user, std::uint32_t video, float weight) {
    const std::uint64_t key = (static_cast<std::uint64_t>(user) << 32) | video;
    std::size_t mask = slots_.size() - 1;
    std::size_t position = hash(key) & mask;
    for (;;) {
      Slot& slot = slots_[position];
      if (slot.key == key) {
        slot.value += weight;
        return;
      }
      if (slot.key == kEmpty) {
        slot.key = key;
        slot.value = weight;
        if (++size_ * 10 > slots_.size() * 7) grow();
        return;
      }
      position = (position + 1) & mask;
    }
  }

  std::size_t size() const { return size_; }

  // Hands out the filled slots, compacted, and leaves the accumulator empty.
  std::vector<Slot> take_slots() {
    std::size_t filled = 0;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].key != kEmpty) slots_[filled++] = slots_[i];
    }
    slots_.resize(filled);
    slots_.shrink_to_fit();
    size_ = 0;
    return std::move(slots_);
  }

 private:
  static std::uint64_t hash(std::uint64_t key) {
    // splitmix64 finaliser: cheap and mixes both halves of the key into the low bits.
    key ^= key >> 30;
    key *= 0xbf58476d1ce4e5b9ULL;
    key ^= key >> 27;
    key *= 0x94d049bb133111ebULL;
    key ^= key >> 31;
    return key;
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.size() * 2, Slot{kEmpty, 0.0f});
    const std::size_t mask = slots_.size() - 1;
    for (const Slot& slot : old) {
      if (slot.key == kEmpty) continue;
      std::size_t position = hash(slot.key) & mask;
      while (slots_[position].key != kEmpty) position = (position + 1) & mask;
      slots_[position] = slot;
    }
  }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

std::string_view trim_spaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Weight lookup by event name without allocating a std::string per row.
class EventWeights {
 public:
  explicit EventWeights(const std::map<std::string, double>& weights) {
    for (const auto& [name, weight] : weights) entries_.emplace_back(name, static_cast<float>(weight));
  }
  const float* find(std::string_view name) const {
    for (const auto& [known, weight] : entries_) {
      if (known == name) return &weight;
    }
    return nullptr;
  }
  std::string names() const {
    std::string all;
    for (const auto& entry : entries_) all += (all.empty() ? "" : ", ") + entry.first;
    return all;
  }

 private:
  std::vector<std::pair<std::string, float>> entries_;
};

}  // namespace

std::uint64_t SkippedRows::total() const {
  std::uint64_t sum = 0;
  for (const auto& entry : count_by_reason) sum += entry.second;
  return sum;
}

std::map<std::string, double> parse_event_weights(const std::string& text) {
  std::map<std::string, double> weights;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string_view item = trim_spaces(std::string_view(text).substr(start, comma - start));
    const std::size_t equals = item.find('=');
    if (equals == std::string_view::npos || equals == 0) {
      throw InvalidInput("--weights: expected name=weight, got '" + std::string(item) + "'");
    }
    const std::string name(trim_spaces(item.substr(0, equals)));
    const auto weight = parse_finite_number(item.substr(equals + 1));
    if (!weight) {
      throw InvalidInput("--weights: weight of '" + name + "' is not a finite number");
    }
    if (!weights.emplace(name, *weight).second) {
      throw InvalidInput("--weights: event '" + name + "' given twice");
    }
    start = comma + 1;
  }
  return weights;
}

AggregatedInteractions aggregate_interactions(std::istream& input, const std::string& source_name,
                                              const FeaturesConfig& config,
                                              const ProgressCallback& progress) {
  CsvReader reader(input, source_name);
  std::vector<std::string_view> fields;
  if (!reader.next_row(fields)) {
    throw InvalidInput(source_name + ": empty input (expected a header line with user_id, "
                       "video_id and event or value)");
  }
  const std::vector<std::string> header_names(fields.begin(), fields.end());
  const std::vector<std::string_view> header(header_names.begin(), header_names.end());
  const auto user_column = find_column(header, "user_id", source_name);
  const auto video_column = find_column(header, "video_id", source_name);
  const auto event_column = find_column(header, "event", source_name);
  const auto value_column = find_column(header, "value", source_name);
  const auto missing = [&](const std::string& what) {
    return InvalidInput(source_name + ":1: missing column '" + what + "' in header '" +
                        [&] {
                          std::string joined;
                          for (const auto& name : header_names) joined += (joined.empty() ? "" : ",") + name;
                          return joined;
                        }() + "'");
  };
  if (!user_column) throw missing("user_id");
  if (!video_column) throw missing("video_id");
  if (!event_column && !value_column) throw missing("event' or 'value");
  if (event_column && value_column) {
    throw InvalidInput(source_name + ":1: both 'event' and 'value' columns present; keep one");
  }
  const std::size_t needed_fields =
      std::max({*user_column, *video_column, event_column.value_or(0), value_column.value_or(0)}) + 1;

  const EventWeights weights(config.event_weights);
  AggregatedInteractions result;
  PairAccumulator pairs;
  // Logs are often grouped by user: remember the last user to skip most hash look-ups.
  std::string last_user;
  std::uint32_t last_user_index = 0;
  bool have_last_user = false;

  auto reject = [&](const std::string& reason, const std::string& detail) {
    if (config.skip_invalid) {
      ++result.skipped.count_by_reason[reason];
      return;
    }
    throw InvalidInput(source_name + ":" + std::to_string(reader.line_number()) + ": " + detail);
  };

  while (reader.next_row(fields)) {
    ++result.rows_read;
    if (progress && (result.rows_read & 0xfffff) == 0) progress(result.rows_read, reader.bytes_read());
    if (fields.size() < needed_fields) {
      reject("too few fields", "expected at least " + std::to_string(needed_fields) +
                                   " fields, found " + std::to_string(fields.size()));
      continue;
    }
    const std::string_view user_id = trim_spaces(fields[*user_column]);
    const std::string_view video_id = trim_spaces(fields[*video_column]);
    if (user_id.empty()) {
      reject("empty user_id", "field 'user_id' is empty");
      continue;
    }
    if (video_id.empty()) {
      reject("empty video_id", "field 'video_id' is empty");
      continue;
    }
    float weight = 0;
    if (event_column) {
      const std::string_view event = trim_spaces(fields[*event_column]);
      const float* known = weights.find(event);
      if (known == nullptr) {
        reject("unknown event", "field 'event': unknown event '" + std::string(event) +
                                    "' (known: " + weights.names() + "; set --weights)");
        continue;
      }
      weight = *known;
    } else {
      const auto value = parse_finite_number(fields[*value_column]);
      if (!value || std::fabs(*value) > 3.0e38) {
        reject("invalid value", "field 'value': '" + std::string(fields[*value_column]) +
                                    "' is not a finite number");
        continue;
      }
      weight = static_cast<float>(*value);
    }
    std::uint32_t user_index = 0;
    if (have_last_user && user_id == last_user) {
      user_index = last_user_index;
    } else {
      user_index = result.users.intern(user_id);
      last_user.assign(user_id);
      last_user_index = user_index;
      have_last_user = true;
    }
    const std::uint32_t video_index = result.videos.intern(video_id);
    pairs.add(user_index, video_index, weight);
  }
  if (progress) progress(result.rows_read, reader.bytes_read());

  // Renumber users and videos by sorted id so the output does not depend on row order
  // within the file beyond the sums themselves.
  const auto user_renumbering = result.users.sort_ids();
  const auto video_renumbering = result.videos.sort_ids();
  auto slots = pairs.take_slots();
  // Counting sort by (renumbered) user, then a small sort of each user's videos: linear in
  // the number of pairs, where one big comparison sort was a tenth of the run time.
  const std::size_t user_count = result.users.size();
  std::vector<std::uint64_t> user_offsets(user_count + 1, 0);
  for (const auto& slot : slots) ++user_offsets[user_renumbering[slot.key >> 32] + 1];
  for (std::size_t u = 0; u < user_count; ++u) user_offsets[u + 1] += user_offsets[u];
  result.ratings.resize(slots.size());
  {
    std::vector<std::uint64_t> next(user_offsets.begin(), user_offsets.end() - 1);
    for (const auto& slot : slots) {
      const std::uint32_t user = user_renumbering[slot.key >> 32];
      const std::uint32_t video = video_renumbering[slot.key & 0xffffffffu];
      result.ratings[next[user]++] = Rating{user, video, slot.value};
    }
  }
  slots = {};
  for (std::size_t u = 0; u < user_count; ++u) {
    std::sort(result.ratings.begin() + static_cast<std::ptrdiff_t>(user_offsets[u]),
              result.ratings.begin() + static_cast<std::ptrdiff_t>(user_offsets[u + 1]),
              [](const Rating& a, const Rating& b) { return a.video < b.video; });
  }
  // A pair whose weights cancel out (e.g. like then unlike) carries no information.
  std::size_t kept = 0;
  for (const auto& rating : result.ratings) {
    if (rating.value == 0.0f) continue;
    if (!std::isfinite(rating.value)) {
      throw InvalidInput(source_name + ": the summed weight of user '" + result.users.id(rating.user) +
                         "' on video '" + result.videos.id(rating.video) + "' overflows a float");
    }
    result.ratings[kept++] = rating;
  }
  result.ratings.resize(kept);
  return result;
}

}  // namespace vr

#include <filesystem>
#include <iostream>

#include "vr/atomic_file.h"
#include "vr/mappings.h"

namespace vr {

AggregatedInteractions run_features(const FeaturesJob& job, const ProgressCallback& progress) {
  for (const auto* path : {&job.ratings_path, &job.mappings_path}) {
    if (*path == "-") continue;
    const auto parent = std::filesystem::path(*path).parent_path();
    if (!parent.empty()) ensure_directory(parent.string());
  }
  if (job.mappings_path == "-") throw InvalidInput("mappings.bin is binary and cannot go to stdout");
  AtomicFileWriter ratings_writer(job.ratings_path);
  AtomicFileWriter mappings_writer(job.mappings_path);

  AggregatedInteractions aggregated;
  if (job.input_path == "-") {
    aggregated = aggregate_interactions(std::cin, "<stdin>", job.config, progress);
  } else {
    auto input = open_input_file(job.input_path);
    aggregated = aggregate_interactions(input, job.input_path, job.config, progress);
  }
  if (aggregated.ratings.empty()) {
    throw InvalidInput((job.input_path == "-" ? std::string("<stdin>") : job.input_path) +
                       ": no valid interactions found; nothing to write");
  }
  write_ratings_csv(ratings_writer.stream(), aggregated.ratings);
  Mappings mappings{std::move(aggregated.users), std::move(aggregated.videos)};
  write_mappings(mappings_writer.stream(), mappings);
  // Mappings first: a reader that sees the new ratings.csv can always resolve its indices
  // (the old mappings are never smaller than what the old ratings used).
  mappings_writer.commit();
  ratings_writer.commit();
  aggregated.users = std::move(mappings.users);
  aggregated.videos = std::move(mappings.videos);
  return aggregated;
}

}  // namespace vr
