// A small in-memory recommender for the /invocations fuzz targets: 6 users (u0..u4 and u"5é), 8
// videos (v0..v6 and v7\\), 4 factors with fixed values, and a few watched videos per user; and
// its precomputed table.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vr/precomputed.h"
#include "vr/recommender.h"

namespace vr::fuzz {

inline std::shared_ptr<const Recommender> tiny_recommender() {
  constexpr int kUsers = 6;
  constexpr int kVideos = 8;
  constexpr int kFactors = 4;
  Model model;
  model.info.vr_version = "fuzz";
  model.info.config.factors = kFactors;
  model.info.n_users = kUsers;
  model.info.n_videos = kVideos;
  model.factors.user_factors.resize(kUsers, kFactors);
  model.factors.item_factors.resize(kVideos, kFactors);
  for (int row = 0; row < kUsers; ++row) {
    for (int col = 0; col < kFactors; ++col) {
      model.factors.user_factors(row, col) = 0.1f * static_cast<float>((row * 7 + col * 3) % 11) - 0.4f;
    }
  }
  for (int row = 0; row < kVideos; ++row) {
    for (int col = 0; col < kFactors; ++col) {
      model.factors.item_factors(row, col) = 0.1f * static_cast<float>((row * 5 + col * 2) % 13) - 0.5f;
    }
  }
  std::vector<std::string> users;
  std::vector<std::string> videos;
  for (int i = 0; i < kUsers; ++i) users.push_back("u" + std::to_string(i));
  for (int i = 0; i < kVideos; ++i) videos.push_back("v" + std::to_string(i));
  // One user and one video whose ids need escaping in JSON (a quote, a backslash, UTF-8): the
  // answer writer's fallback path.
  users.back() = "u\"5\xc3\xa9";
  videos.back() = "v7\\";
  std::vector<Rating> watched;
  for (std::uint32_t user = 0; user < kUsers; ++user) {
    watched.push_back(Rating{user, user % kVideos, 1.0f});
    watched.push_back(Rating{user, (user + 3) % kVideos, 2.5f});
  }
  model.info.n_ratings = watched.size();
  Mappings mappings{IdMap(users), IdMap(videos)};
  return std::make_shared<const Recommender>(std::move(model), std::move(mappings),
                                             build_sparse_matrix(watched, kUsers, kVideos));
}

// Its precomputed table, 3 deep: requests with k <= 3 are answered from it, larger k scored.
inline std::unique_ptr<const PrecomputedRecommendations> tiny_table(const Recommender& recommender) {
  return PrecomputedRecommendations::compute(recommender, 3, [] { return true; });
}

}  // namespace vr::fuzz
