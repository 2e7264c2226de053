// A compact id -> dense index interner for aggregating large logs (vr-features' hot loop).
// Ids of up to 8 bytes are stored inside the table's 16-byte slots, longer ones in one
// contiguous arena, so a look-up of a short id reads a single cache line and a million user
// ids take ~20-30 MB instead of the ~48 MB of an IdMap (a std::string each plus its slot).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "vr/id_map.h"

namespace vr {

class IdInterner {
 public:
  // The hash intern() expects: the same as IdMap::hash().
  static std::uint64_t hash(std::string_view id) { return IdMap::hash(id); }

  // Starts loading the slot where a look-up of `id_hash` begins (only a hint): a caller
  // resolving many ids can overlap their cache misses.
  void prefetch(std::uint64_t id_hash) const;
  // Index of `id`, adding it with the next free index (0, 1, 2, ...) if new. `id_hash` must be
  // hash(id). Throws InvalidInput beyond 4294967294 ids.
  std::uint32_t intern(std::string_view id, std::uint64_t id_hash);
  std::uint32_t intern(std::string_view id) { return intern(id, hash(id)); }
  // Number of ids.
  std::size_t size() const { return slot_of_index_.size(); }
  // The id at `index` (< size()); the view is valid until the next intern().
  std::string_view id(std::uint32_t index) const;

  // The indices in the ids' byte order: element i is the index of the i-th smallest id.
  std::vector<std::uint32_t> order_by_id() const;
  // An IdMap holding the ids in `order` (index i = id(order[i])).
  IdMap to_id_map(const std::vector<std::uint32_t>& order) const;

 private:
  // Open addressing with linear probing; the home slot is the hash's low 32 bits scaled onto
  // the table (no power-of-two size, so the table can grow by 1.5x).
  struct Slot {
    std::uint32_t index_plus_one;  // 0 = empty
    std::uint32_t tag_and_length;  // hash's top 24 bits << 8 | length (kLongId for > 8 bytes)
    std::uint64_t payload;         // a short id's bytes, zero-padded; else its arena offset
  };
  static_assert(sizeof(Slot) == 16);
  static constexpr std::uint32_t kLongId = 0xff;
  static constexpr std::size_t kMaxShortLength = 8;

  static std::size_t home_slot(std::uint64_t id_hash, std::size_t count) {
    return static_cast<std::size_t>(((id_hash & 0xffffffffULL) * count) >> 32);
  }
  static std::uint32_t tag_and_length_of(std::uint64_t id_hash, std::size_t length) {
    return static_cast<std::uint32_t>(id_hash >> 40) << 8 |
           static_cast<std::uint32_t>(length <= kMaxShortLength ? length : kLongId);
  }
  static std::uint64_t short_payload(std::string_view id);
  std::string_view id_in(const Slot& slot) const;
  void grow();

  std::vector<Slot> slots_;
  std::vector<std::uint32_t> slot_of_index_;  // where each index's id is
  std::vector<char> long_ids_;                // ids over 8 bytes: a 4-byte length, then the bytes
};

}  // namespace vr
