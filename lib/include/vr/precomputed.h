// Every known user's top videos, computed once per model ahead of requests, so that a plain
// request ("user u001, k 10": no history, exclusions, explanation or watched videos) is a
// table look-up instead of scoring the whole catalog. Batch recommenders serve this way; the
// table is filled by the same kernel as Recommender::recommend, so an answer from it is
// identical, bit for bit, to the scored one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "vr/recommender.h"
#include "vr/topk.h"

namespace vr {

class PrecomputedRecommendations {
 public:
  // Bytes a table of `users` users at `depth` videos each takes.
  static std::size_t bytes_for(std::size_t users, int depth);

  // Computes the top `depth` videos of every user of `recommender` (an ALS model; throws
  // InvalidInput for another kind or depth < 1), 64 users at a time, on the calling thread.
  // `keep_going` is asked between blocks: once it returns false (a newer model arrived, the
  // server is stopping), the work stops and the result is null.
  static std::unique_ptr<const PrecomputedRecommendations> compute(const Recommender& recommender, int depth,
                                                                   const std::function<bool()>& keep_going);

  // How many videos per user were kept: a request for at most this many can be answered here.
  int depth() const { return depth_; }
  std::size_t users() const { return counts_.size(); }
  std::size_t bytes() const { return bytes_for(counts_.size(), depth_); }
  // The stored top of `user` (< users()), best first: depth() videos, or fewer when the user
  // has watched nearly the whole catalog. Its first k are the answer to k <= depth().
  std::span<const ScoredVideo> top(std::uint32_t user) const {
    return {entries_.data() + static_cast<std::size_t>(user) * static_cast<std::size_t>(depth_), counts_[user]};
  }

 private:
  int depth_ = 0;
  std::vector<ScoredVideo> entries_;   // users x depth, row-major; a short row is padded
  std::vector<std::uint32_t> counts_;  // entries filled per user
};

}  // namespace vr
