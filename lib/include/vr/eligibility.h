// Which of a model's videos may be recommended, and the catalog rules (vr/catalog.h) that
// decide it. Every recommendation path takes an EligibleVideos the way it takes "exclude"
// (RecommendOptions::eligible): videos it does not allow never appear and do not count toward
// k. One mask per model, per time window and per set of category filters; building one costs
// a pass over the model's videos, looking one up in it is one byte read.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "vr/catalog.h"
#include "vr/id_map.h"

namespace vr {

// One flag per model video index: may it be recommended.
class EligibleVideos {
 public:
  // `allowed[v]` != 0 when video v may be recommended.
  explicit EligibleVideos(std::vector<std::uint8_t> allowed);

  bool allows(std::uint32_t video) const { return video < allowed_.size() && allowed_[video] != 0; }
  std::size_t size() const { return allowed_.size(); }
  std::size_t eligible_count() const { return eligible_count_; }
  // The videos not allowed, ascending (built on each call: O(size())).
  std::vector<std::uint32_t> ineligible() const;
  const std::vector<std::uint8_t>& flags() const { return allowed_; }

 private:
  std::vector<std::uint8_t> allowed_;
  std::size_t eligible_count_ = 0;
};

// A request's category filters: only videos with one of `categories` (when not empty), and
// none with one of `exclude_categories`. A category no video has matches nothing.
struct CategoryFilter {
  std::vector<std::string> categories;
  std::vector<std::string> exclude_categories;
  bool empty() const { return categories.empty() && exclude_categories.empty(); }
};

// A catalog bound to one model's video ids. A video the model knows but the catalog does not
// list is eligible (the catalog states rules for the videos it lists) and has no category;
// a catalog video the model does not know is counted (unknown_videos) and otherwise ignored.
// Thread-safe: one instance serves every request of a model.
class CatalogRules {
 public:
  CatalogRules(std::shared_ptr<const Catalog> catalog, const IdMap& model_videos);

  const Catalog& catalog() const { return *catalog_; }
  std::size_t model_videos() const { return entry_of_.size(); }
  // Catalog rows whose video the model does not know.
  std::size_t unknown_videos() const { return unknown_videos_; }
  // Model videos the catalog lists, and of those the hidden ones.
  std::size_t listed_videos() const { return listed_videos_; }
  std::size_t hidden_videos() const { return hidden_videos_; }

  // The catalog row of model video `video`, or null when the catalog does not list it.
  const CatalogVideo* entry(std::uint32_t video) const {
    const std::int64_t row = entry_of_[video];
    return row < 0 ? nullptr : &catalog_->videos[static_cast<std::size_t>(row)];
  }

  // The videos available at `now` (seconds since the epoch): not hidden, inside their window.
  // The same mask is returned until `now` reaches the next window boundary of any video.
  std::shared_ptr<const EligibleVideos> eligible_at(double now) const;

  // eligible_at(now) narrowed by `filter` (eligible_at(now) itself when the filter is empty).
  std::shared_ptr<const EligibleVideos> eligible_at(double now, const CategoryFilter& filter) const;

 private:
  std::shared_ptr<const Catalog> catalog_;
  std::vector<std::int64_t> entry_of_;     // model video -> catalog row, -1 when not listed
  std::vector<double> boundaries_;         // every available_from / available_to, ascending, unique
  // category -> the model videos that have it, ascending (filters touch only these).
  std::unordered_map<std::string, std::vector<std::uint32_t>> videos_by_category_;
  std::size_t unknown_videos_ = 0;
  std::size_t listed_videos_ = 0;
  std::size_t hidden_videos_ = 0;

  // The mask of the window [cached_from_, cached_until_).
  mutable std::mutex cache_mutex_;
  mutable std::shared_ptr<const EligibleVideos> cached_;
  mutable double cached_from_ = 0;
  mutable double cached_until_ = 0;
};

}  // namespace vr
