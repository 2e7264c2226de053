#include "vr/id_map.h"

#include <algorithm>
#include <numeric>

#include "vr/errors.h"

namespace vr {

IdMap::IdMap(const std::vector<std::string>& ids) {
  index_of_.reserve(ids.size());
  for (const auto& id : ids) {
    if (id.empty()) throw InvalidInput("empty id in id map");
    if (index_of_.count(id) != 0) throw InvalidInput("duplicate id '" + id + "' in id map");
    intern(id);
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
  index_of_.clear();
  index_of_.reserve(ids_.size());
  for (std::size_t i = 0; i < ids_.size(); ++i) {
    index_of_.emplace(std::string_view(ids_[i]), static_cast<std::uint32_t>(i));
  }
}

std::uint32_t IdMap::intern(std::string_view id) {
  const auto found = index_of_.find(id);
  if (found != index_of_.end()) return found->second;
  if (ids_.size() >= UINT32_MAX) throw InvalidInput("more than 4294967295 distinct ids");
  const auto index = static_cast<std::uint32_t>(ids_.size());
  ids_.emplace_back(id);
  index_of_.emplace(std::string_view(ids_.back()), index);
  return index;
}

std::optional<std::uint32_t> IdMap::find(std::string_view id) const {
  const auto found = index_of_.find(id);
  if (found == index_of_.end()) return std::nullopt;
  return found->second;
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
