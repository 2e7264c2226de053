#include "vr/id_interner.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "vr/errors.h"

namespace vr {

std::uint64_t IdInterner::short_payload(std::string_view id) {
  std::uint64_t payload = 0;
  // memcpy from an empty view's null data is undefined even for 0 bytes.
  if (!id.empty()) std::memcpy(&payload, id.data(), id.size());
  return payload;
}

std::string_view IdInterner::id_in(const Slot& slot) const {
  const std::uint32_t length = slot.tag_and_length & 0xff;
  if (length != kLongId) return std::string_view(reinterpret_cast<const char*>(&slot.payload), length);
  std::uint32_t long_length;
  std::memcpy(&long_length, long_ids_.data() + slot.payload, sizeof long_length);
  return std::string_view(long_ids_.data() + slot.payload + sizeof long_length, long_length);
}

std::string_view IdInterner::id(std::uint32_t index) const { return id_in(slots_[slot_of_index_[index]]); }

void IdInterner::prefetch(std::uint64_t id_hash) const {
  if (!slots_.empty()) __builtin_prefetch(&slots_[home_slot(id_hash, slots_.size())]);
}

std::uint32_t IdInterner::intern(std::string_view id, std::uint64_t id_hash) {
  const std::uint32_t tag_and_length = tag_and_length_of(id_hash, id.size());
  const bool is_short = id.size() <= kMaxShortLength;
  const std::uint64_t payload = is_short ? short_payload(id) : 0;
  std::size_t position = 0;
  if (!slots_.empty()) {
    const std::size_t count = slots_.size();
    for (position = home_slot(id_hash, count); slots_[position].index_plus_one != 0;
         position = position + 1 == count ? 0 : position + 1) {
      const Slot& slot = slots_[position];
      if (slot.tag_and_length != tag_and_length) continue;
      // A short id is settled by the slot alone (its length is in the tag word); a long one
      // needs its bytes from the arena.
      if (is_short ? slot.payload == payload : id_in(slot) == id) return slot.index_plus_one - 1;
    }
  }
  if (size() >= UINT32_MAX - 1) throw InvalidInput("more than 4294967294 distinct ids");
  const auto index = static_cast<std::uint32_t>(size());
  Slot added{index + 1, tag_and_length, payload};
  if (!is_short) {
    added.payload = long_ids_.size();
    const auto length = static_cast<std::uint32_t>(id.size());
    long_ids_.resize(long_ids_.size() + sizeof length + id.size());
    std::memcpy(long_ids_.data() + added.payload, &length, sizeof length);
    std::memcpy(long_ids_.data() + added.payload + sizeof length, id.data(), id.size());
  }
  // Grow at 80% full, by 1.5x: a probe rarely leaves its cache line, and a table right after
  // growing is still over half full. A new table starts small (a one-row input stays cheap).
  if (slots_.empty() || (size() + 1) * 5 > slots_.size() * 4) {
    slot_of_index_.push_back(0);
    grow();
    const std::size_t count = slots_.size();
    position = home_slot(id_hash, count);
    while (slots_[position].index_plus_one != 0) position = position + 1 == count ? 0 : position + 1;
  } else {
    slot_of_index_.push_back(0);
  }
  slots_[position] = added;
  slot_of_index_[index] = static_cast<std::uint32_t>(position);
  return index;
}

void IdInterner::grow() {
  std::vector<Slot> old_slots = std::move(slots_);
  const std::size_t count = old_slots.empty() ? 16 : old_slots.size() + old_slots.size() / 2;
  slots_.assign(count, Slot{0, 0, 0});
  for (const Slot& slot : old_slots) {
    if (slot.index_plus_one == 0) continue;
    // The slot keeps only 24 bits of the hash: the id is hashed again for its new home.
    std::size_t position = home_slot(hash(id_in(slot)), count);
    while (slots_[position].index_plus_one != 0) position = position + 1 == count ? 0 : position + 1;
    slots_[position] = slot;
    slot_of_index_[slot.index_plus_one - 1] = static_cast<std::uint32_t>(position);
  }
}

std::vector<std::uint32_t> IdInterner::order_by_id() const {
  // Sorting by the first 8 bytes as a big-endian number (zero-padded: a shorter id whose
  // bytes all match sorts first, as in byte order) settles most comparisons without touching
  // the ids; only equal prefixes compare the whole ids.
  struct Entry {
    std::uint64_t prefix;
    std::uint32_t index;
  };
  std::vector<Entry> entries(size());
  for (std::uint32_t index = 0; index < size(); ++index) {
    const std::string_view text = id(index);
    std::uint64_t prefix = 0;
    for (std::size_t i = 0; i < 8; ++i) {
      prefix = prefix << 8 | (i < text.size() ? static_cast<unsigned char>(text[i]) : 0u);
    }
    entries[index] = Entry{prefix, index};
  }
  std::sort(entries.begin(), entries.end(), [this](const Entry& a, const Entry& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    return id(a.index) < id(b.index);
  });
  std::vector<std::uint32_t> order(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) order[i] = entries[i].index;
  return order;
}

IdMap IdInterner::to_id_map(const std::vector<std::uint32_t>& order) const {
  std::vector<std::string> ids;
  ids.reserve(order.size());
  for (const std::uint32_t index : order) ids.emplace_back(id(index));
  return IdMap(ids);
}

}  // namespace vr
