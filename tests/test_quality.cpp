// Recommendation quality: planted structure is found, and MovieLens 100K lands on the
// reference figures of als-semantics.md.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "support/test_support.h"
#include "vr/als.h"
#include "vr/ranking_metrics.h"
#include "vr/generate.h"
#include "vr/interactions.h"

namespace {

struct Quality {
  vr::RankingMetrics model;
  vr::RankingMetrics popularity;
};

Quality evaluate(const vr::AggregatedInteractions& data, const vr::TrainConfig& config, std::uint64_t split_seed) {
  const auto ratings = vr::build_sparse_matrix(data.ratings, static_cast<std::uint32_t>(data.users.size()),
                                               static_cast<std::uint32_t>(data.videos.size()));
  const auto split = vr::split_per_user_random(ratings, 0.25, split_seed);
  const auto factors = vr::train_als(split.train, config);
  const auto recommended = vr::top_k_all_users(factors.user_factors, factors.item_factors, 10, &split.train, 2);
  return Quality{vr::ranking_metrics(recommended, split.test, 10),
                 vr::ranking_metrics(vr::popularity_top_k(split.train, 10), split.test, 10)};
}

}  // namespace

TEST_CASE("ranking metrics follow their definitions on a hand-made case") {
  // User 0: test {1, 3}; recommended [3, 0, 1] -> hits at ranks 1 and 3.
  // User 1: test {2}; recommended [0, 1] -> no hit. User 2: no test videos, not counted.
  const auto test = vr::build_sparse_matrix({{0, 1, 1}, {0, 3, 1}, {1, 2, 1}}, 3, 5);
  const std::vector<std::vector<vr::ScoredVideo>> recommended{
      {{3, 0.9f}, {0, 0.8f}, {1, 0.7f}}, {{0, 0.5f}, {1, 0.4f}}, {{4, 1.0f}}};
  const auto metrics = vr::ranking_metrics(recommended, test, 3);
  CHECK(metrics.users == 2);
  CHECK(metrics.precision == Approx((2.0 / 3 + 0) / 2));
  CHECK(metrics.recall == Approx((1.0 + 0) / 2));
  const double dcg = 1.0 + 1.0 / std::log2(4.0);
  const double ideal = 1.0 + 1.0 / std::log2(3.0);
  CHECK(metrics.ndcg == Approx((dcg / ideal + 0) / 2));
  CHECK(metrics.map == Approx(((1.0 + 2.0 / 3) / 2 + 0) / 2));
  CHECK(metrics.hit_rate == Approx(0.5));
  CHECK(metrics.coverage == Approx(4.0 / 5));  // videos 0, 1, 3, 4
}

TEST_CASE("the per-user split is seeded, disjoint and complete") {
  std::vector<vr::Rating> ratings;
  for (std::uint32_t u = 0; u < 50; ++u) {
    for (std::uint32_t i = 0; i < 1 + u % 12; ++i) ratings.push_back({u, (u * 7 + i * 3) % 40, 1.0f + static_cast<float>(i)});
  }
  const auto matrix = vr::build_sparse_matrix(ratings, 50, 40);
  const auto split = vr::split_per_user_random(matrix, 0.25, 3);
  CHECK(split.train.nnz() + split.test.nnz() == matrix.nnz());
  for (std::uint32_t u = 0; u < 50; ++u) {
    CHECK(split.train.row_size(u) >= 1);
    const auto expected_test = std::min<std::uint64_t>(static_cast<std::uint64_t>(std::llround(matrix.row_size(u) * 0.25)),
                                                       matrix.row_size(u) - 1);
    CHECK(split.test.row_size(u) == expected_test);
  }
  const auto again = vr::split_per_user_random(matrix, 0.25, 3);
  CHECK(again.test.col_indices == split.test.col_indices);
  const auto other = vr::split_per_user_random(matrix, 0.25, 4);
  CHECK_FALSE(other.test.col_indices == split.test.col_indices);
}

TEST_CASE("on planted low-rank data ALS is far above the most-popular baseline") {
  vr::GenerateConfig generate;
  generate.users = 3000;
  generate.videos = 800;
  generate.events = 120000;
  generate.tastes = 8;
  generate.seed = 5;
  std::stringstream log;
  vr::generate_interactions(log, generate);
  const auto data = vr::aggregate_interactions(log, "generated", vr::FeaturesConfig{});
  vr::TrainConfig config;
  config.factors = 16;
  config.iterations = 10;
  const auto quality = evaluate(data, config, 1);
  INFO("ALS precision@10 " << quality.model.precision << ", popularity " << quality.popularity.precision);
  CHECK(quality.model.precision > 2.0 * quality.popularity.precision);
  CHECK(quality.model.ndcg > 2.0 * quality.popularity.ndcg);
}

TEST_CASE("MovieLens 100K with the original defaults matches the reference figures") {
  const auto movielens = vr::test::require_movielens_interactions_csv();
  std::stringstream csv(movielens);
  const auto data = vr::aggregate_interactions(csv, "u.data", vr::FeaturesConfig{});
  REQUIRE(data.users.size() == 943);
  REQUIRE(data.videos.size() == 1682);
  REQUIRE(data.ratings.size() == 100000);

  vr::TrainConfig config;  // factors 20, regularization 0.1, alpha 1, 20 iterations, CG
  // Averaged over a few splits, so the check is about vr and not one lucky split.
  double ndcg = 0, precision = 0, popularity_ndcg = 0, popularity_precision = 0;
  const int splits = 3;
  for (int seed = 1; seed <= splits; ++seed) {
    const auto quality = evaluate(data, config, static_cast<std::uint64_t>(seed));
    ndcg += quality.model.ndcg / splits;
    precision += quality.model.precision / splits;
    popularity_ndcg += quality.popularity.ndcg / splits;
    popularity_precision += quality.popularity.precision / splits;
  }
  INFO("nDCG@10 " << ndcg << ", precision@10 " << precision << "; popularity " << popularity_ndcg << " / "
                  << popularity_precision);
  CHECK(ndcg >= 0.44);
  CHECK(ndcg <= 0.48);
  CHECK(precision >= 0.38);
  CHECK(precision <= 0.42);
  CHECK(popularity_ndcg == Approx(0.245).margin(0.02));
  CHECK(popularity_precision == Approx(0.225).margin(0.02));
}
