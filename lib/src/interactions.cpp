#include "vr/interactions.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "vr/csv.h"
#include "vr/errors.h"

namespace vr {
namespace {

// The aggregation table: packed (user, video) key -> summed weight, in 64 open-addressing
// partitions chosen by the key's hash. 12 bytes a slot, 53-80% full (growth by 1.5x), so
// memory stays near the pairs' own size; partitions grow one at a time, so a resize never
// doubles the whole table at once. Inserts are buffered and the target slots prefetched in a batch: the table
// is far larger than the caches, and one miss at a time would dominate the run time.
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
  static constexpr int kPartitionBits = 6;
  static constexpr std::size_t kBatch = 32;

  // Partitions start small: a short input (one request, a test, a fuzz case) should not pay for
  // 64 big tables, and 1.5x growth makes the extra early rehashes of a big input negligible.
  PairAccumulator() : partitions_(std::size_t{1} << kPartitionBits) {
    for (auto& partition : partitions_) partition.slots.assign(16, Slot{kEmpty, 0.0f});
  }

  void add(std::uint32_t user, std::uint32_t video, float weight) {
    const std::uint64_t key = (static_cast<std::uint64_t>(user) << 32) | video;
    pending_[pending_count_++] = Pending{key, hash(key), weight};
    if (pending_count_ == kBatch) flush();
  }

  // Inserts what is still buffered. Call before reading the table.
  void flush() {
    for (std::size_t i = 0; i < pending_count_; ++i) {
      const Partition& partition = partition_of(pending_[i].hash);
      __builtin_prefetch(&partition.slots[home_slot(pending_[i].hash, partition.slots.size())]);
    }
    for (std::size_t i = 0; i < pending_count_; ++i) insert(pending_[i]);
    pending_count_ = 0;
  }

  // Compacts every partition in place to its filled slots (12 bytes a pair, no slack).
  void compact() {
    flush();
    for (auto& partition : partitions_) {
      std::size_t filled = 0;
      for (const Slot& slot : partition.slots) {
        if (slot.key != kEmpty) partition.slots[filled++] = slot;
      }
      partition.slots.resize(filled);
      partition.slots.shrink_to_fit();
    }
  }

  // After compact(): renumbers every key to the final (user, video) indices and sorts each
  // partition by key, in place.
  void renumber_and_sort(const std::vector<std::uint32_t>& user_renumbering,
                         const std::vector<std::uint32_t>& video_renumbering) {
    for (auto& partition : partitions_) {
      for (auto& slot : partition.slots) {
        slot.key = (static_cast<std::uint64_t>(user_renumbering[slot.key >> 32]) << 32) |
                   video_renumbering[slot.key & 0xffffffffu];
      }
      std::sort(partition.slots.begin(), partition.slots.end(),
                [](const Slot& a, const Slot& b) { return a.key < b.key; });
    }
  }

  // After renumber_and_sort(): calls visit(key, value) for every pair in key order, merging
  // the sorted partitions (no copy of the pairs is made), and releases them.
  template <class Visitor>
  void merge_sorted(const Visitor& visit) {
    using Cursor = std::pair<std::uint64_t, std::size_t>;  // (key, partition)
    std::vector<std::size_t> position(partitions_.size(), 0);
    std::vector<Cursor> heap;
    auto later = [](const Cursor& a, const Cursor& b) { return a.first > b.first; };
    for (std::size_t p = 0; p < partitions_.size(); ++p) {
      if (!partitions_[p].slots.empty()) heap.emplace_back(partitions_[p].slots[0].key, p);
    }
    std::make_heap(heap.begin(), heap.end(), later);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), later);
      const std::size_t p = heap.back().second;
      const Slot& slot = partitions_[p].slots[position[p]++];
      visit(slot.key, slot.value);
      if (position[p] < partitions_[p].slots.size()) {
        heap.back().first = partitions_[p].slots[position[p]].key;
        std::push_heap(heap.begin(), heap.end(), later);
      } else {
        heap.pop_back();
        partitions_[p].slots = {};
      }
    }
  }

 private:
  struct Pending {
    std::uint64_t key;
    std::uint64_t hash;
    float weight;
  };
  struct Partition {
    std::vector<Slot> slots;
    std::size_t size = 0;
  };

  static std::uint64_t hash(std::uint64_t key) {
    // splitmix64 finaliser: cheap and mixes both halves of the key into every bit.
    key ^= key >> 30;
    key *= 0xbf58476d1ce4e5b9ULL;
    key ^= key >> 27;
    key *= 0x94d049bb133111ebULL;
    key ^= key >> 31;
    return key;
  }

  Partition& partition_of(std::uint64_t key_hash) { return partitions_[key_hash >> (64 - kPartitionBits)]; }

  // Maps the hash's low 32 bits onto [0, capacity) without a division (Lemire's fastrange),
  // so capacities need not be powers of two and can grow by 1.5x instead of 2x.
  static std::size_t home_slot(std::uint64_t key_hash, std::size_t capacity) {
    return static_cast<std::size_t>(((key_hash & 0xffffffffULL) * capacity) >> 32);
  }

  void insert(const Pending& entry) {
    Partition& partition = partition_of(entry.hash);
    const std::size_t capacity = partition.slots.size();
    for (std::size_t position = home_slot(entry.hash, capacity);; position = position + 1 == capacity ? 0 : position + 1) {
      Slot& slot = partition.slots[position];
      if (slot.key == entry.key) {
        slot.value += entry.weight;
        return;
      }
      if (slot.key == kEmpty) {
        slot = Slot{entry.key, entry.weight};
        if (++partition.size * 10 > partition.slots.size() * 8) grow(partition);
        return;
      }
    }
  }

  static void grow(Partition& partition) {
    std::vector<Slot> old = std::move(partition.slots);
    const std::size_t capacity = old.size() + old.size() / 2;
    partition.slots.assign(capacity, Slot{kEmpty, 0.0f});
    for (const Slot& slot : old) {
      if (slot.key == kEmpty) continue;
      std::size_t position = home_slot(hash(slot.key), capacity);
      while (partition.slots[position].key != kEmpty) position = position + 1 == capacity ? 0 : position + 1;
      partition.slots[position] = slot;
    }
  }

  std::vector<Partition> partitions_;
  Pending pending_[kBatch];
  std::size_t pending_count_ = 0;
};

// A small direct-mapped cache in front of an IdMap for short ids. Video popularity is
// heavy-tailed and active users recur, so most look-ups hit a few thousand hot ids; the
// cache answers those from L2 without the two cache misses (table slot, then the stored
// string) a look-up in a million-id map costs.
class HotIdCache {
 public:
  explicit HotIdCache(IdMap& ids) : ids_(ids) {}

  std::uint32_t intern(std::string_view id) {
    if (id.size() > kMaxLength) return ids_.intern(id);
    if (entries_.empty()) {
      // A small map is already cache-resident: the cache (256 KB) only pays off once it is not.
      if (ids_.size() < kEnableAtIds) return ids_.intern(id);
      entries_.resize(kEntries);
    }
    std::uint64_t hash = 0x9e3779b97f4a7c15ULL;
    for (unsigned char byte : id) hash = (hash ^ byte) * 0x100000001b3ULL;
    Entry& entry = entries_[(hash ^ (hash >> 29)) & (kEntries - 1)];
    if (entry.length == id.size() && entry.hash == hash && std::memcmp(entry.bytes, id.data(), id.size()) == 0) {
      return entry.index;
    }
    const std::uint32_t index = ids_.intern(id);
    entry.hash = hash;
    entry.index = index;
    entry.length = static_cast<std::uint8_t>(id.size());
    std::memcpy(entry.bytes, id.data(), id.size());
    return index;
  }

 private:
  static constexpr std::size_t kEntries = 8192;
  static constexpr std::size_t kEnableAtIds = 4096;
  static constexpr std::size_t kMaxLength = 19;
  struct Entry {
    std::uint64_t hash = 0;
    std::uint32_t index = 0;
    std::uint8_t length = 0xff;  // never equal to a cached id's length: the entry is empty
    char bytes[kMaxLength] = {};
  };
  static_assert(sizeof(Entry) == 32);
  IdMap& ids_;
  std::vector<Entry> entries_;
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
                                              const ProgressCallback& progress, const RatingSink& sink) {
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
  HotIdCache user_cache(result.users);
  HotIdCache video_cache(result.videos);

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
      user_index = user_cache.intern(user_id);
      last_user.assign(user_id);
      last_user_index = user_index;
      have_last_user = true;
    }
    const std::uint32_t video_index = video_cache.intern(video_id);
    pairs.add(user_index, video_index, weight);
  }
  if (progress) progress(result.rows_read, reader.bytes_read());

  // Renumber users and videos by sorted id so the output does not depend on row order
  // within the file beyond the sums themselves.
  const auto user_renumbering = result.users.sort_ids();
  const auto video_renumbering = result.videos.sort_ids();
  pairs.compact();
  pairs.renumber_and_sort(user_renumbering, video_renumbering);
  const RatingSink collect = [&result](const Rating& rating) { result.ratings.push_back(rating); };
  const RatingSink& deliver = sink ? sink : collect;
  pairs.merge_sorted([&](std::uint64_t key, float value) {
    const Rating rating{static_cast<std::uint32_t>(key >> 32), static_cast<std::uint32_t>(key & 0xffffffffu), value};
    // A pair whose weights cancel out (e.g. like then unlike) carries no information.
    if (value == 0.0f) return;
    if (!std::isfinite(value)) {
      throw InvalidInput(source_name + ": the summed weight of user '" + result.users.id(rating.user) +
                         "' on video '" + result.videos.id(rating.video) + "' overflows a float");
    }
    ++result.pairs;
    deliver(rating);
  });
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

  // Ratings stream straight into the output file: no second copy of every pair.
  RatingsCsvWriter ratings_csv(ratings_writer.stream());
  const RatingSink write_rating = [&ratings_csv](const Rating& rating) { ratings_csv.write(rating); };
  AggregatedInteractions aggregated;
  if (job.input_path == "-") {
    aggregated = aggregate_interactions(std::cin, "<stdin>", job.config, progress, write_rating);
  } else {
    auto input = open_input_file(job.input_path);
    aggregated = aggregate_interactions(input, job.input_path, job.config, progress, write_rating);
  }
  if (aggregated.pairs == 0) {
    throw InvalidInput((job.input_path == "-" ? std::string("<stdin>") : job.input_path) +
                       ": no valid interactions found; nothing to write");
  }
  Mappings mappings{std::move(aggregated.users), std::move(aggregated.videos)};
  write_mappings(mappings_writer.stream(), mappings);
  // Mappings first, then ratings: the window in which a reader can see one new file and one
  // old one is a single rename wide (vr-serve and scripts/pipeline.sh read versioned folders).
  // Both are flushed and synced first, so a full disk fails before either is replaced.
  ratings_writer.prepare();
  mappings_writer.prepare();
  mappings_writer.commit();
  ratings_writer.commit();
  aggregated.users = std::move(mappings.users);
  aggregated.videos = std::move(mappings.videos);
  return aggregated;
}

}  // namespace vr
