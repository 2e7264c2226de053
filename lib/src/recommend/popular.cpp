#include "vr/popular.h"

#include <algorithm>

#include "vr/errors.h"
#include "vr/topk.h"

namespace vr {

UnknownUserPolicy parse_unknown_user_policy(const std::string& text) {
  if (text == "404") return UnknownUserPolicy::NotFound;
  if (text == "popular") return UnknownUserPolicy::Popular;
  throw InvalidInput("unknown --unknown-user '" + text + "' (expected 404 or popular)");
}

PopularVideos::PopularVideos(const SparseMatrix& watched, int depth) {
  std::vector<float> users(watched.cols, 0.0f);
  for (std::size_t k = 0; k < watched.values.size(); ++k) {
    if (watched.values[k] > 0) users[watched.col_indices[k]] += 1.0f;
  }
  ranked_ = select_top_k(users.data(), watched.cols, std::max(1, depth), {});
  // A video nobody rated positively is not popular.
  ranked_.erase(std::find_if(ranked_.begin(), ranked_.end(), [](const ScoredVideo& video) { return video.score <= 0; }),
                ranked_.end());
}

std::vector<Recommendation> PopularVideos::top(const IdMap& videos, int k, const std::vector<std::string>& exclude) const {
  std::vector<Recommendation> result;
  for (const ScoredVideo& video : ranked_) {
    if (static_cast<int>(result.size()) >= k) break;
    const std::string& id = videos.id(video.video);
    if (std::find(exclude.begin(), exclude.end(), id) != exclude.end()) continue;
    result.push_back(Recommendation{id, video.score, {}});
  }
  return result;
}

}  // namespace vr
