#include "vr/eligibility.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace vr {

EligibleVideos::EligibleVideos(std::vector<std::uint8_t> allowed) : allowed_(std::move(allowed)) {
  eligible_count_ = static_cast<std::size_t>(
      std::count_if(allowed_.begin(), allowed_.end(), [](std::uint8_t flag) { return flag != 0; }));
}

std::vector<std::uint32_t> EligibleVideos::ineligible() const {
  std::vector<std::uint32_t> videos;
  videos.reserve(allowed_.size() - eligible_count_);
  for (std::size_t video = 0; video < allowed_.size(); ++video) {
    if (allowed_[video] == 0) videos.push_back(static_cast<std::uint32_t>(video));
  }
  return videos;
}

CatalogRules::CatalogRules(std::shared_ptr<const Catalog> catalog, const IdMap& model_videos)
    : catalog_(std::move(catalog)), entry_of_(model_videos.size(), -1) {
  for (std::size_t row = 0; row < catalog_->videos.size(); ++row) {
    const CatalogVideo& video = catalog_->videos[row];
    const auto index = model_videos.find(video.video_id);
    if (!index) {
      ++unknown_videos_;
      continue;
    }
    entry_of_[*index] = static_cast<std::int64_t>(row);
    ++listed_videos_;
    if (video.hidden) ++hidden_videos_;
    for (const std::string& category : video.categories) videos_by_category_[category].push_back(*index);
    if (video.available_from) boundaries_.push_back(*video.available_from);
    if (video.available_to) boundaries_.push_back(*video.available_to);
  }
  std::sort(boundaries_.begin(), boundaries_.end());
  boundaries_.erase(std::unique(boundaries_.begin(), boundaries_.end()), boundaries_.end());
}

std::shared_ptr<const EligibleVideos> CatalogRules::eligible_at(double now) const {
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cached_ && cached_from_ <= now && now < cached_until_) return cached_;
  // Between two consecutive boundaries no video enters or leaves its window.
  const auto next = std::upper_bound(boundaries_.begin(), boundaries_.end(), now);
  cached_until_ = next == boundaries_.end() ? std::numeric_limits<double>::infinity() : *next;
  cached_from_ = next == boundaries_.begin() ? -std::numeric_limits<double>::infinity() : *(next - 1);
  std::vector<std::uint8_t> allowed(entry_of_.size(), 1);
  for (std::size_t video = 0; video < entry_of_.size(); ++video) {
    const CatalogVideo* row = entry(static_cast<std::uint32_t>(video));
    if (row != nullptr && !row->available_at(now)) allowed[video] = 0;
  }
  cached_ = std::make_shared<const EligibleVideos>(std::move(allowed));
  return cached_;
}

std::shared_ptr<const EligibleVideos> CatalogRules::eligible_at(double now, const CategoryFilter& filter) const {
  auto base = eligible_at(now);
  if (filter.empty()) return base;
  std::vector<std::uint8_t> allowed = base->flags();
  if (!filter.categories.empty()) {
    // Only videos listed under one of the categories stay.
    std::vector<std::uint8_t> listed(allowed.size(), 0);
    for (const std::string& category : filter.categories) {
      if (const auto it = videos_by_category_.find(category); it != videos_by_category_.end()) {
        for (const std::uint32_t video : it->second) listed[video] = 1;
      }
    }
    for (std::size_t video = 0; video < allowed.size(); ++video) allowed[video] &= listed[video];
  }
  for (const std::string& category : filter.exclude_categories) {
    if (const auto it = videos_by_category_.find(category); it != videos_by_category_.end()) {
      for (const std::uint32_t video : it->second) allowed[video] = 0;
    }
  }
  return std::make_shared<const EligibleVideos>(std::move(allowed));
}

}  // namespace vr
