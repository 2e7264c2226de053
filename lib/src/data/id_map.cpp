#include "vr/id_map.h"

#include <algorithm>
#include <numeric>

#include "vr/errors.h"

#include <cstring>

namespace vr {
namespace {

// A fast hash for short ids (8 bytes at a time, multiply-xorshift, splitmix finish).
std::uint64_t hash_id(std::string_view id) {
  std::uint64_t hash = 0x9e3779b97f4a7c15ULL ^ id.size();
  const char* data = id.data();
  std::size_t remaining = id.size();
  while (remaining >= 8) {
    std::uint64_t chunk;
    std::memcpy(&chunk, data, 8);
    hash = (hash ^ chunk) * 0xbf58476d1ce4e5b9ULL;
    hash ^= hash >> 29;
    data += 8;
    remaining -= 8;
  }
  std::uint64_t tail = 0;
  // memcpy from an empty view's null data is undefined even for 0 bytes (UBSan, found by
  // tests/fuzz/fuzz_invocations_jsonl).
  if (remaining > 0) std::memcpy(&tail, data, remaining);
  hash = (hash ^ tail) * 0x94d049bb133111ebULL;
  hash ^= hash >> 31;
  hash *= 0xbf58476d1ce4e5b9ULL;
  hash ^= hash >> 27;
  return hash;
}

constexpr std::uint64_t tag_of(std::uint64_t hash) { return hash & 0xffffffff00000000ULL; }

}  // namespace

IdMap::IdMap(const std::vector<std::string>& ids) {
  // Sized for all the ids at once: no table rebuild on the way (a million ids rebuilt it 17
  // times).
  std::size_t capacity = 16;
  while (capacity < ids.size() * 2) capacity *= 2;
  slots_.assign(capacity, 0);
  for (const auto& id : ids) {
    if (id.empty()) throw InvalidInput("empty id in id map");
    const std::size_t new_index = ids_.size();
    if (intern(id) != new_index) throw InvalidInput("duplicate id '" + id + "' in id map");
  }
}

IdMap::IdMap(const IdMap& other) : ids_(other.ids_) { rebuild_index(); }

IdMap& IdMap::operator=(const IdMap& other) {
  if (this != &other) {
    ids_ = other.ids_;
    rebuild_index();
  }
  return *this;
}

void IdMap::rebuild_index() {
  std::size_t capacity = 16;
  while (capacity < ids_.size() * 2) capacity *= 2;
  slots_.assign(capacity, 0);
  for (std::size_t i = 0; i < ids_.size(); ++i) insert_slot(hash_id(ids_[i]), static_cast<std::uint32_t>(i));
}

void IdMap::insert_slot(std::uint64_t hash, std::uint32_t index) {
  const std::size_t mask = slots_.size() - 1;
  std::size_t position = hash & mask;
  while (slots_[position] != 0) position = (position + 1) & mask;
  slots_[position] = tag_of(hash) | (static_cast<std::uint64_t>(index) + 1);
}

std::uint64_t IdMap::hash(std::string_view id) { return hash_id(id); }

void IdMap::prefetch_slot(std::uint64_t id_hash) const {
  if (!slots_.empty()) __builtin_prefetch(&slots_[id_hash & (slots_.size() - 1)]);
}

void IdMap::prefetch_id(std::uint64_t id_hash) const {
  if (slots_.empty()) return;
  const std::uint64_t slot = slots_[id_hash & (slots_.size() - 1)];
  if (slot != 0 && tag_of(slot) == tag_of(id_hash)) __builtin_prefetch(&ids_[(slot & 0xffffffffULL) - 1]);
}

std::uint32_t IdMap::intern(std::string_view id) { return intern(id, hash_id(id)); }

std::uint32_t IdMap::intern(std::string_view id, std::uint64_t id_hash) {
  if (!slots_.empty()) {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t position = id_hash & mask; slots_[position] != 0; position = (position + 1) & mask) {
      const std::uint64_t slot = slots_[position];
      if (tag_of(slot) == tag_of(id_hash)) {
        const auto index = static_cast<std::uint32_t>((slot & 0xffffffffULL) - 1);
        if (ids_[index] == id) return index;
      }
    }
  }
  if (ids_.size() >= UINT32_MAX - 1) throw InvalidInput("more than 4294967294 distinct ids");
  const auto index = static_cast<std::uint32_t>(ids_.size());
  ids_.emplace_back(id);
  if ((ids_.size()) * 2 > slots_.size()) {
    rebuild_index();  // also inserts the new id
  } else {
    insert_slot(id_hash, index);
  }
  return index;
}

std::optional<std::uint32_t> IdMap::find(std::string_view id) const {
  if (slots_.empty()) return std::nullopt;
  const std::uint64_t hash = hash_id(id);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t position = hash & mask; slots_[position] != 0; position = (position + 1) & mask) {
    const std::uint64_t slot = slots_[position];
    if (tag_of(slot) == tag_of(hash)) {
      const auto index = static_cast<std::uint32_t>((slot & 0xffffffffULL) - 1);
      if (ids_[index] == id) return index;
    }
  }
  return std::nullopt;
}

std::vector<std::uint32_t> IdMap::sort_ids() {
  std::vector<std::uint32_t> order(ids_.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(),
            [this](std::uint32_t a, std::uint32_t b) { return ids_[a] < ids_[b]; });
  std::vector<std::uint32_t> new_index_of_old(ids_.size());
  std::deque<std::string> sorted;
  for (std::size_t new_index = 0; new_index < order.size(); ++new_index) {
    new_index_of_old[order[new_index]] = static_cast<std::uint32_t>(new_index);
    sorted.push_back(std::move(ids_[order[new_index]]));
  }
  ids_ = std::move(sorted);
  rebuild_index();
  return new_index_of_old;
}

}  // namespace vr
