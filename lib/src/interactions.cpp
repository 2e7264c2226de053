#include "vr/interactions.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <memory>
#include <new>
#include <numeric>
#include <optional>
#include <utility>

#include <sys/mman.h>

#include "vr/csv.h"
#include "vr/errors.h"
#include "vr/id_interner.h"
#include "vr/timestamp.h"
#include "vr/interaction_rows.h"

namespace vr {
namespace {

// Zero-filled memory for one partition of the pair table. All but the smallest blocks come
// straight from the kernel and go back to it when released: with malloc, the tables a growing
// partition leaves behind stayed resident (glibc raises its mmap threshold after the first
// large free, and freed chunks inside its heap stay mapped; 40-50 MB of the 20M-event run's
// peak RSS).
class ZeroedBlock {
 public:
  ZeroedBlock() = default;
  explicit ZeroedBlock(std::size_t bytes) : bytes_(bytes), mapped_(bytes >= kMapBytes) {
    if (!mapped_) {
      data_ = ::operator new(bytes, std::align_val_t{64});
      std::memset(data_, 0, bytes);
      return;
    }
    data_ = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data_ == MAP_FAILED) {
      data_ = nullptr;
      throw std::bad_alloc();
    }
    populate();
  }
  ZeroedBlock(ZeroedBlock&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)), mapped_(other.mapped_) {}
  ZeroedBlock& operator=(ZeroedBlock&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
      mapped_ = other.mapped_;
    }
    return *this;
  }
  ZeroedBlock(const ZeroedBlock&) = delete;
  ZeroedBlock& operator=(const ZeroedBlock&) = delete;
  ~ZeroedBlock() { release(); }

  void* data() const { return data_; }

  // Gives back the whole pages after the first `bytes` (small blocks stay as they are).
  void shrink(std::size_t bytes) {
    if (!mapped_ || round_to_page(bytes) >= bytes_) return;
    const std::size_t kept = round_to_page(bytes);
    munmap(static_cast<char*>(data_) + kept, round_to_page(bytes_) - kept);
    bytes_ = kept;
    if (kept == 0) data_ = nullptr;
  }

 private:
  static constexpr std::size_t kMapBytes = std::size_t{16} << 10;
  static constexpr std::size_t kSmallPage = 4096;

  static std::size_t round_to_page(std::size_t bytes) { return (bytes + kSmallPage - 1) & ~(kSmallPage - 1); }

  // The whole block is about to be written (a rehash spreads over all of it): one call maps
  // its pages instead of one fault per page (kernel time 1.3 -> 0.9 s on 20M events). Kernels
  // before 5.14 refuse the advice, which only costs the faults again.
  void populate() { madvise(data_, round_to_page(bytes_), MADV_POPULATE_WRITE); }

  void release() {
    if (data_ == nullptr) return;
    if (mapped_) {
      munmap(data_, round_to_page(bytes_));
    } else {
      ::operator delete(data_, std::align_val_t{64});
    }
    data_ = nullptr;
  }

  void* data_ = nullptr;
  std::size_t bytes_ = 0;
  bool mapped_ = false;
};

// The aggregation table: packed (user, video) key -> summed weight, in 64 partitions chosen by
// the user, each an open-addressing table of cache-line buckets of 5 pairs probed linearly.
// A probe reads one line where a table of single slots would run on through several: at the
// 72-90% fill it keeps (growth by 1.25x) to stay within 1.5x of the pairs' own 12 bytes, most
// inserts find room in the line they start on. Partitions grow one at a time, so a resize
// never doubles the whole table at once. Inserts are buffered and their home lines prefetched
// in a batch: the table is far larger than the caches, and one miss at a time would dominate
// the run time. Keeping each user's pairs in one partition lets the output be written by
// walking the users in order, with no merge of the partitions.
class PairAccumulator {
 public:
#pragma pack(push, 4)
  struct Slot {
    std::uint64_t key;
    float value;
  };
#pragma pack(pop)
  static_assert(sizeof(Slot) == 12);
  static constexpr int kPartitionBits = 6;
  static constexpr std::size_t kBatch = 32;

  // Partitions start at 4 buckets: a short input (one request, a test, a fuzz case) should not
  // pay for 64 big tables, and the extra early rehashes of a big input are negligible.
  PairAccumulator() : partitions_(std::size_t{1} << kPartitionBits) {
    for (auto& partition : partitions_) partition.resize_buckets(4);
  }

  void add(std::uint32_t user, std::uint32_t video, float weight) {
    const std::uint64_t key = (static_cast<std::uint64_t>(user) << 32) | video;
    pending_[pending_count_++] = Pending{key, hash(key), weight, partition_of_user(user)};
    if (pending_count_ == kBatch) flush();
  }

  // Inserts what is still buffered. Call before reading the table.
  void flush() {
    for (std::size_t i = 0; i < pending_count_; ++i) {
      const Partition& partition = partitions_[pending_[i].partition];
      __builtin_prefetch(&partition.buckets()[home_bucket(pending_[i].hash, partition.bucket_count)]);
    }
    for (std::size_t i = 0; i < pending_count_; ++i) insert(pending_[i]);
    pending_count_ = 0;
  }

  // Packs every partition in place into an array of its pairs (12 bytes each, no slack) and
  // gives the rest of its memory back.
  void compact() {
    flush();
    for (auto& partition : partitions_) {
      // Bucket b's pairs go to slots before 5 * (b + 1), which end inside bucket b itself: a
      // bucket is copied out before anything is written over it.
      Slot* packed = partition.slots();
      std::size_t filled = 0;
      for (std::size_t b = 0; b < partition.bucket_count; ++b) {
        const Bucket bucket = partition.buckets()[b];
        for (std::uint32_t i = 0; i < bucket.count; ++i) packed[filled++] = Slot{bucket.keys[i], bucket.values[i]};
      }
      partition.storage.shrink(filled * sizeof(Slot));
      partition.bucket_count = 0;
    }
  }

  // After compact(): renumbers every key to the final (user, video) indices and sorts each
  // partition by key, in place (a radix sort on the bits the indices use, with one
  // partition-sized scratch buffer).
  void renumber_and_sort(const std::vector<std::uint32_t>& user_renumbering,
                         const std::vector<std::uint32_t>& video_renumbering) {
    partition_of_new_user_.resize(user_renumbering.size());
    for (std::uint32_t user = 0; user < user_renumbering.size(); ++user) {
      partition_of_new_user_[user_renumbering[user]] = static_cast<std::uint8_t>(partition_of_user(user));
    }
    const int video_bits = std::bit_width(video_renumbering.size());
    const int key_bits = std::bit_width(user_renumbering.size()) + video_bits;
    std::size_t largest = 0;
    for (const auto& partition : partitions_) largest = std::max(largest, partition.size);
    std::vector<Slot> scratch(largest);
    for (auto& partition : partitions_) {
      Slot* slots = partition.slots();
      for (std::size_t i = 0; i < partition.size; ++i) {
        slots[i].key = (static_cast<std::uint64_t>(user_renumbering[slots[i].key >> 32]) << 32) |
                       video_renumbering[slots[i].key & 0xffffffffu];
      }
      radix_sort(slots, partition.size, scratch.data(), video_bits, key_bits);
    }
  }

  // After renumber_and_sort(): calls visit(key, value) for every pair in key order (user by
  // user, each from its partition) and releases the partitions.
  template <class Visitor>
  void visit_sorted(const Visitor& visit) {
    std::vector<std::size_t> position(partitions_.size(), 0);
    for (std::size_t user = 0; user < partition_of_new_user_.size(); ++user) {
      const Partition& partition = partitions_[partition_of_new_user_[user]];
      const Slot* slots = partition.slots();
      std::size_t& next = position[partition_of_new_user_[user]];
      for (; next < partition.size && (slots[next].key >> 32) == user; ++next) visit(slots[next].key, slots[next].value);
    }
    partitions_.clear();
    partitions_.shrink_to_fit();
  }

 private:
  static constexpr std::uint32_t kBucketSlots = 5;
  struct alignas(64) Bucket {
    std::uint64_t keys[kBucketSlots];
    float values[kBucketSlots];
    std::uint32_t count;  // filled slots, from the first; all zero bytes is an empty bucket
  };
  static_assert(sizeof(Bucket) == 64);

  struct Pending {
    std::uint64_t key;
    std::uint64_t hash;
    float weight;
    std::uint32_t partition;
  };

  // A table of buckets while aggregating; after compact(), `size` packed slots.
  struct Partition {
    ZeroedBlock storage;
    std::size_t bucket_count = 0;
    std::size_t size = 0;  // pairs held

    Bucket* buckets() const { return static_cast<Bucket*>(storage.data()); }
    Slot* slots() const { return static_cast<Slot*>(storage.data()); }
    void resize_buckets(std::size_t count) {
      storage = ZeroedBlock(count * sizeof(Bucket));
      bucket_count = count;
    }
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

  // Fibonacci hashing: consecutive user indices spread evenly over the partitions.
  static std::uint32_t partition_of_user(std::uint32_t user) {
    return static_cast<std::uint32_t>((user * 0x9e3779b97f4a7c15ULL) >> (64 - kPartitionBits));
  }

  // Maps the hash's low 32 bits onto [0, count) without a division (Lemire's fastrange), so
  // bucket counts need not be powers of two and can grow by 1.25x instead of 2x.
  static std::size_t home_bucket(std::uint64_t key_hash, std::size_t count) {
    return static_cast<std::size_t>(((key_hash & 0xffffffffULL) * count) >> 32);
  }

  void insert(const Pending& entry) {
    Partition& partition = partitions_[entry.partition];
    Bucket* buckets = partition.buckets();
    const std::size_t count = partition.bucket_count;
    // No pair is ever removed, so a key is in the first bucket with room from its home on, or
    // before it.
    for (std::size_t b = home_bucket(entry.hash, count);; b = b + 1 == count ? 0 : b + 1) {
      Bucket& bucket = buckets[b];
      for (std::uint32_t i = 0; i < bucket.count; ++i) {
        if (bucket.keys[i] == entry.key) {
          bucket.values[i] += entry.weight;
          return;
        }
      }
      if (bucket.count < kBucketSlots) {
        bucket.keys[bucket.count] = entry.key;
        bucket.values[bucket.count] = entry.weight;
        ++bucket.count;
        if (++partition.size * 100 > count * kBucketSlots * kMaxLoadPercent) grow(partition);
        return;
      }
    }
  }

  static void grow(Partition& partition) {
    const ZeroedBlock old_storage = std::move(partition.storage);
    const auto* old_buckets = static_cast<const Bucket*>(old_storage.data());
    const std::size_t old_count = partition.bucket_count;
    const std::size_t count = old_count + std::max<std::size_t>(1, old_count / kGrowthDivisor);
    partition.resize_buckets(count);
    Bucket* buckets = partition.buckets();
    for (std::size_t old = 0; old < old_count; ++old) {
      for (std::uint32_t i = 0; i < old_buckets[old].count; ++i) {
        std::size_t b = home_bucket(hash(old_buckets[old].keys[i]), count);
        while (buckets[b].count == kBucketSlots) b = b + 1 == count ? 0 : b + 1;
        buckets[b].keys[buckets[b].count] = old_buckets[old].keys[i];
        buckets[b].values[buckets[b].count] = old_buckets[old].values[i];
        ++buckets[b].count;
      }
    }
  }

  // Sorts `count` slots by key: LSD radix passes over the compact key (user << video_bits |
  // video), which has key_bits significant bits.
  static void radix_sort(Slot* slots, std::size_t count, Slot* scratch, int video_bits, int key_bits) {
    // A radix pass costs a histogram of up to 2^kMaxDigitBits counters whatever the count: on
    // the 64 partitions of a small input that dominated (3/4 of a fuzz run's time).
    if (count < kComparisonSortBelow) {
      std::sort(slots, slots + count, [](const Slot& left, const Slot& right) { return left.key < right.key; });
      return;
    }
    const auto compact_key = [video_bits](std::uint64_t key) { return ((key >> 32) << video_bits) | (key & 0xffffffffu); };
    const int passes = std::max(1, (key_bits + kMaxDigitBits - 1) / kMaxDigitBits);
    const int digit_bits = (key_bits + passes - 1) / passes;
    const std::uint64_t digit_mask = (std::uint64_t{1} << digit_bits) - 1;
    std::vector<std::size_t> offsets(std::size_t{1} << digit_bits);
    Slot* from = slots;
    Slot* to = scratch;
    for (int pass = 0; pass < passes; ++pass) {
      const int shift = pass * digit_bits;
      std::fill(offsets.begin(), offsets.end(), 0);
      for (std::size_t i = 0; i < count; ++i) ++offsets[(compact_key(from[i].key) >> shift) & digit_mask];
      std::size_t start = 0;
      for (auto& offset : offsets) start += std::exchange(offset, start);
      for (std::size_t i = 0; i < count; ++i) to[offsets[(compact_key(from[i].key) >> shift) & digit_mask]++] = from[i];
      std::swap(from, to);
    }
    if (from != slots) std::copy(from, from + count, slots);
  }

  // A partition grows by 1/kGrowthDivisor once more than kMaxLoadPercent of its slots are full.
  static constexpr std::size_t kMaxLoadPercent = 90;
  static constexpr std::size_t kGrowthDivisor = 4;
  static constexpr int kMaxDigitBits = 11;
  static constexpr std::size_t kComparisonSortBelow = 256;

  std::vector<Partition> partitions_;
  std::vector<std::uint8_t> partition_of_new_user_;
  Pending pending_[kBatch];
  std::size_t pending_count_ = 0;
};

// Ids, event names and the like are a few bytes long: comparing and copying them with two
// overlapping loads of 1, 4 or 8 bytes beats a call into libc, whose memcmp was 7% of the
// 20M-event run. Neither reads outside [data, data + size).
bool equal_bytes(const char* left, const char* right, std::size_t size) {
  const auto load8 = [](const char* bytes) {
    std::uint64_t word;
    std::memcpy(&word, bytes, 8);
    return word;
  };
  const auto load4 = [](const char* bytes) {
    std::uint32_t word;
    std::memcpy(&word, bytes, 4);
    return word;
  };
  if (size >= 8) {
    if (size > 16) return std::memcmp(left, right, size) == 0;
    return ((load8(left) ^ load8(right)) | (load8(left + size - 8) ^ load8(right + size - 8))) == 0;
  }
  if (size >= 4) return ((load4(left) ^ load4(right)) | (load4(left + size - 4) ^ load4(right + size - 4))) == 0;
  if (size == 0) return true;
  return left[0] == right[0] && left[size / 2] == right[size / 2] && left[size - 1] == right[size - 1];
}

bool equal_bytes(std::string_view left, std::string_view right) {
  return left.size() == right.size() && equal_bytes(left.data(), right.data(), left.size());
}

void copy_bytes(char* to, const char* from, std::size_t size) {
  if (size >= 8 && size <= 16) {
    std::uint64_t head;
    std::uint64_t tail;
    std::memcpy(&head, from, 8);
    std::memcpy(&tail, from + size - 8, 8);
    std::memcpy(to, &head, 8);
    std::memcpy(to + size - 8, &tail, 8);
    return;
  }
  std::memcpy(to, from, size);
}

// Resolves the user and video ids of a batch of rows to indices together, so that the cache
// misses of their id-map look-ups overlap instead of coming one after the other. Ids are
// copied in (the CSV reader's line buffer moves on), and rows are resolved in input order, so
// indices are handed out exactly as one-at-a-time interning would.
class RowBatch {
 public:
  static constexpr std::size_t kRows = 64;

  // `same_user` = this row's user id equals the previous row's (logs are often grouped by
  // user): its look-up is skipped.
  void add(std::string_view user_id, bool same_user, std::string_view video_id, float weight) {
    Row& row = rows_[count_++];
    row.same_user = same_user;
    if (!same_user) row.user = append(user_id);
    row.video = append(video_id);
    row.weight = weight;
  }
  bool full() const { return count_ == kRows; }

  // Interns every row's ids and adds its pair to `pairs`; empties the batch.
  void resolve(IdInterner& users, IdInterner& videos, PairAccumulator& pairs) {
    for (std::size_t i = 0; i < count_; ++i) {
      Row& row = rows_[i];
      if (!row.same_user) start_look_up(row.user, users);
      start_look_up(row.video, videos);
    }
    for (std::size_t i = 0; i < count_; ++i) {
      const Row& row = rows_[i];
      if (!row.same_user) last_user_index_ = users.intern(text(row.user), row.user.hash);
      pairs.add(last_user_index_, videos.intern(text(row.video), row.video.hash), row.weight);
    }
    count_ = 0;
    bytes_used_ = 0;
  }

 private:
  struct Id {
    std::size_t offset = 0;
    std::size_t length = 0;
    std::uint64_t hash = 0;
  };
  struct Row {
    Id user;
    Id video;
    float weight = 0;
    bool same_user = false;
  };

  Id append(std::string_view id) {
    Id appended;
    appended.offset = bytes_used_;
    appended.length = id.size();
    if (bytes_used_ + id.size() > bytes_.size()) bytes_.resize(std::max(2 * bytes_.size(), bytes_used_ + id.size()));
    copy_bytes(bytes_.data() + bytes_used_, id.data(), id.size());
    bytes_used_ += id.size();
    return appended;
  }
  std::string_view text(const Id& id) const { return std::string_view(bytes_.data() + id.offset, id.length); }

  void start_look_up(Id& id, const IdInterner& ids) {
    id.hash = IdInterner::hash(text(id));
    ids.prefetch(id.hash);
  }

  Row rows_[kRows];
  std::size_t count_ = 0;
  std::vector<char> bytes_;
  std::size_t bytes_used_ = 0;
  std::uint32_t last_user_index_ = 0;  // the user of the last row resolved
};

std::string_view trim_spaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

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
    for (const auto& [known, known_weight] : weights) {
      // Event names match in any letter case, so "Like" and "like" would be one event.
      if (equal_ignoring_case(known, name)) throw InvalidInput("--weights: event '" + name + "' given twice");
    }
    weights.emplace(name, *weight);
    start = comma + 1;
  }
  return weights;
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
  const InteractionRowParser parser(find_interaction_columns(header, source_name, reader->delimiter()),
                                    config.event_weights, /*read_timestamps=*/decay);
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
  }
  batch.resolve(user_ids, video_ids, pairs);
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
  pairs.renumber_and_sort(renumbering(users_by_id), renumbering(videos_by_id));
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

#include <filesystem>
#include <iostream>

#include <iterator>
#include <sstream>

#include "vr/atomic_file.h"
#include "vr/mappings.h"
#include "vr/stable_ids.h"

namespace vr {

AggregatedInteractions run_features(const FeaturesJob& job, const ProgressCallback& progress,
                                    StableIdsSummary* stable_ids) {
  for (const auto* path : {&job.ratings_path, &job.mappings_path}) {
    if (*path == "-") continue;
    const auto parent = std::filesystem::path(*path).parent_path();
    if (!parent.empty()) ensure_directory(parent.string());
  }
  if (job.mappings_path == "-") throw InvalidInput("mappings.bin is binary and cannot go to stdout");
  // Read before anything else: a wrong file fails at once, with nothing written.
  std::optional<Mappings> previous;
  if (!job.previous_mappings_path.empty()) previous = load_mappings(job.previous_mappings_path);
  AtomicFileWriter ratings_writer(job.ratings_path);
  AtomicFileWriter mappings_writer(job.mappings_path);

  const std::string source_name = job.input_path == "-" ? std::string("<stdin>") : job.input_path;
  FeaturesConfig config = job.config;
  // Time decay's default reference time is the newest event, which takes a pass over the
  // input first (stdin is kept in memory for the second pass).
  std::string stdin_text;
  const bool scan_twice = config.half_life_seconds > 0 && !config.decay_now;
  if (scan_twice && job.input_path == "-") {
    stdin_text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  const auto with_input = [&](const auto& read) {
    if (job.input_path != "-") {
      auto input = open_input_file(job.input_path);
      return read(static_cast<std::istream&>(input));
    }
    if (!scan_twice) return read(static_cast<std::istream&>(std::cin));
    std::istringstream input(stdin_text);
    return read(static_cast<std::istream&>(input));
  };
  if (scan_twice) {
    config.decay_now = with_input(
        [&](std::istream& input) { return newest_timestamp(input, source_name, config.skip_invalid); });
  }

  // Ratings stream straight into the output file: no second copy of every pair. With previous
  // mappings they are renumbered and re-sorted first, so they are collected.
  RatingsCsvWriter ratings_csv(ratings_writer.stream(), [&ratings_writer] { ratings_writer.start_writeback(); });
  const RatingSink write_rating = [&ratings_csv](const Rating& rating) { ratings_csv.write(rating); };
  AggregatedInteractions aggregated = with_input([&](std::istream& input) {
    return aggregate_interactions(input, source_name, config, progress, previous ? RatingSink{} : write_rating);
  });
  if (aggregated.pairs == 0) {
    throw InvalidInput(source_name + ": no valid interactions found; nothing to write");
  }
  if (previous) {
    StableNumbering users = keep_previous_indices(previous->users, aggregated.users);
    StableNumbering videos = keep_previous_indices(previous->videos, aggregated.videos);
    renumber_ratings(aggregated.ratings, users.stable_index, videos.stable_index);
    for (const Rating& rating : aggregated.ratings) ratings_csv.write(rating);
    aggregated.ratings.clear();
    aggregated.ratings.shrink_to_fit();
    aggregated.users = std::move(users.ids);
    aggregated.videos = std::move(videos.ids);
    if (stable_ids != nullptr) *stable_ids = StableIdsSummary{users.added, videos.added, users.absent, videos.absent};
  }
  ratings_csv.flush();
  ratings_writer.start_writeback();  // written to disk while the mappings are serialized
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
