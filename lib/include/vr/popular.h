// The most popular videos of the training data: the answer for a user the model has not seen
// when vr-serve or vr-recommend run with --unknown-user popular.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vr/id_map.h"
#include "vr/recent_popularity.h"
#include "vr/ratings.h"
#include "vr/recommender.h"
#include "vr/topk.h"

namespace vr {

// How an unknown user (no history to fold in) is answered.
enum class UnknownUserPolicy {
  NotFound,  // 404 / an error, the original contract (default)
  Popular,   // the most popular videos, in the usual answer shape
};

// Parses "404" and "popular"; throws InvalidInput otherwise.
UnknownUserPolicy parse_unknown_user_policy(const std::string& text);

class PopularVideos {
 public:
  // Ranks the videos of `watched` (users x videos) by the number of users with a positive
  // rating (the popularity baseline vr-evaluate reports), ties to the lower index, keeping the
  // first `depth` (>= 1).
  explicit PopularVideos(const SparseMatrix& watched, int depth = 1000);
  // The ranking of a popular.csv file (write_popular_csv), its ids looked up in `videos`
  // (ids the model does not have are left out), keeping the first `depth`. Throws
  // InvalidInput naming the file and line for a bad header or row.
  PopularVideos(const std::string& popular_csv_path, const IdMap& videos, int depth = 1000);

  // The `k` most popular videos not in `exclude` and allowed by `eligible` (when set), scored
  // by their user counts (fewer when the ranked list runs out).
  std::vector<Recommendation> top(const IdMap& videos, int k, const std::vector<std::string>& exclude,
                                  const EligibleVideos* eligible = nullptr) const;

 private:
  std::vector<ScoredVideo> ranked_;
};

// The popular answers for a model folder: from DIR/popular.csv when vr-features wrote one
// (--popular-window), else counted from `watched` (the training data).
PopularVideos popular_videos_for(const std::string& model_directory, const SparseMatrix& watched, const IdMap& videos);

}  // namespace vr
