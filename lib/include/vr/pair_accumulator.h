// vr-features' aggregation table: (user, video) index pairs -> summed weight, built from
// millions of rows, then renumbered and walked in (user, video) order.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <numeric>
#include <utility>
#include <vector>

#include <sys/mman.h>

#include "vr/errors.h"

namespace vr {

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

}  // namespace vr
