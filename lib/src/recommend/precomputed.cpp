#include "vr/precomputed.h"

#include <algorithm>
#include <string>

#include "vr/errors.h"

namespace vr {

std::size_t PrecomputedRecommendations::bytes_for(std::size_t users, int depth) {
  return users * (static_cast<std::size_t>(std::max(depth, 0)) * sizeof(ScoredVideo) + sizeof(std::uint32_t));
}

std::unique_ptr<const PrecomputedRecommendations> PrecomputedRecommendations::compute(
    const Recommender& recommender, int depth, const std::function<bool()>& keep_going) {
  if (depth < 1) throw InvalidInput("the precomputed depth must be >= 1, not " + std::to_string(depth));
  auto table = std::make_unique<PrecomputedRecommendations>();
  const auto users = static_cast<std::uint32_t>(recommender.mappings().users.size());
  table->depth_ = depth;
  table->entries_.resize(static_cast<std::size_t>(users) * static_cast<std::size_t>(depth));
  table->counts_.resize(users);
  // Blocks of 64 users: the kernel's own block, and short enough (a few milliseconds) that a
  // stop request is noticed at once.
  constexpr std::uint32_t kUsersPerStep = 64;
  for (std::uint32_t begin = 0; begin < users; begin += kUsersPerStep) {
    if (!keep_going()) return nullptr;
    const std::uint32_t end = std::min(users, begin + kUsersPerStep);
    recommender.top_videos_for_users(begin, end, depth, [&](std::uint32_t user, std::vector<ScoredVideo>&& top) {
      std::copy(top.begin(), top.end(), table->entries_.begin() + static_cast<std::ptrdiff_t>(user) * depth);
      table->counts_[user] = static_cast<std::uint32_t>(top.size());
    });
  }
  return table;
}

}  // namespace vr
