// vr-evaluate --catalog: offline metrics under the catalog's rules (vr/catalog.h). The videos
// the catalog makes ineligible at the reference time (hidden, or outside their availability
// window) are left out of every model's and the baseline's candidates exactly as a user's
// training videos are: they never count toward k. The test ratings on them are dropped, since
// no recommender serving that catalog could return them. Training is unchanged: a model is
// trained on the whole history, as vr-train trains it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vr/catalog.h"
#include "vr/eligibility.h"
#include "vr/ratings.h"

namespace vr {

// A catalog bound to the videos of an evaluation's data.
struct EvaluationCatalog {
  std::shared_ptr<const EligibleVideos> eligible;  // one flag per video index of the data
  std::string source;                              // the catalog file, for the report
  double now = 0;                                  // seconds since the epoch the windows were checked at
  std::uint64_t unknown_videos = 0;                // catalog rows whose video the data does not have
};

// What the catalog changed in an evaluation (in the report's split summary).
struct CatalogSplitSummary {
  std::string source;                      // the catalog file
  double now = 0;                          // seconds since the epoch the windows were checked at
  std::uint64_t ineligible_videos = 0;     // the data's videos never ranked
  std::uint64_t unknown_videos = 0;        // catalog rows whose video the data does not have
  std::uint64_t test_ratings_dropped = 0;  // test ratings on ineligible videos, left out
  std::uint64_t users_dropped = 0;         // users whose every test video was ineligible (not evaluated)
};

// Binds `catalog` to the data's videos (`video_ids[i]` is video index i) at `now`. A video the
// catalog does not list is eligible; a catalog row the data does not have is counted.
EvaluationCatalog bind_evaluation_catalog(std::shared_ptr<const Catalog> catalog,
                                          const std::vector<std::string>& video_ids, double now);

// `ratings` without its entries on videos `eligible` does not allow; adds how many were left
// out to `dropped`. Throws std::invalid_argument when the mask does not have ratings.cols flags.
SparseMatrix without_ineligible_videos(const SparseMatrix& ratings, const EligibleVideos& eligible,
                                       std::uint64_t& dropped);

}  // namespace vr
