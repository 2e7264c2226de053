// A two-way map between external string ids ("u001", "v042") and dense indices 0..n-1.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vr {

class IdMap {
 public:
  IdMap() = default;
  // Builds a map whose index i is ids[i]. Throws InvalidInput on a duplicate or empty id.
  explicit IdMap(const std::vector<std::string>& ids);
  IdMap(const IdMap& other);
  IdMap& operator=(const IdMap& other);
  IdMap(IdMap&&) noexcept = default;
  IdMap& operator=(IdMap&&) noexcept = default;

  // Index of `id`, adding it with the next free index if new.
  std::uint32_t intern(std::string_view id);
  // intern(id) for an id whose hash(id) is already known.
  std::uint32_t intern(std::string_view id, std::uint64_t id_hash);

  // A caller resolving many ids at once can overlap their cache misses (the table slot, then
  // the stored id): compute each hash(), call prefetch_slot() for all of them, then
  // prefetch_id() for all, then intern(id, hash). The prefetches are only hints.
  static std::uint64_t hash(std::string_view id);
  // Starts loading the table slot where a look-up of `id_hash` begins.
  void prefetch_slot(std::uint64_t id_hash) const;
  // Starts loading the id stored in that slot, if its hash tag matches.
  void prefetch_id(std::uint64_t id_hash) const;
  // Index of `id`, or nullopt if unknown.
  std::optional<std::uint32_t> find(std::string_view id) const;
  // The id at `index` (must be < size()).
  const std::string& id(std::uint32_t index) const { return ids_[index]; }
  // Number of ids.
  std::size_t size() const { return ids_.size(); }
  // All ids in index order.
  std::vector<std::string> ids() const { return {ids_.begin(), ids_.end()}; }

  // Renumbers so that indices follow the ids' byte order (as pandas' category codes do).
  // Returns old_index -> new_index.
  std::vector<std::uint32_t> sort_ids();

 private:
  void rebuild_index();
  void insert_slot(std::uint64_t hash, std::uint32_t index);
  // Open addressing: each slot holds (hash tag << 32 | index + 1), 0 when empty. The tag
  // settles most mismatches without touching the string; a power-of-two table avoids the
  // division std::unordered_map pays on every look-up.
  std::vector<std::uint64_t> slots_;
  std::deque<std::string> ids_;
};

}  // namespace vr
