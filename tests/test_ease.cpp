// EASE at catalog scale: the in-place OpenBLAS path against the closed form on a generated
// 5,000-video set (checked column by column through sparse products, no dense double
// inverse), against the former Eigen Cholesky path on a small case, its progress phases, and
// the memory check that refuses a catalog before allocating it.
#include <catch2/catch.hpp>

#include <Eigen/Cholesky>
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "vr/errors.h"
#include "vr/item_models.h"
#include "vr/memory_budget.h"
#include "vr/ratings.h"

namespace {

// `users` users, each watching 5 to 40 distinct videos of `videos`, popular videos (low
// indices) more often; a few ratings are dislikes (r < 0), which EASE ignores. Not
// vr::test::generated_ratings (vr-generate's events have no dislikes): the dislikes are
// what checks that EASE leaves them out.
vr::SparseMatrix skewed_ratings_with_dislikes(std::uint32_t users, std::uint32_t videos, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  std::uniform_int_distribution<int> history_length(5, 40);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<vr::Rating> ratings;
  for (std::uint32_t user = 0; user < users; ++user) {
    std::set<std::uint32_t> watched;
    const int length = history_length(random);
    while (static_cast<int>(watched.size()) < length) {
      // Square of a uniform: a skew towards low indices, every video reachable.
      const double u = unit(random);
      watched.insert(std::min(videos - 1, static_cast<std::uint32_t>(u * u * videos)));
    }
    for (const std::uint32_t video : watched) {
      ratings.push_back({user, video, unit(random) < 0.05 ? -1.0f : 1.0f + static_cast<float>(unit(random))});
    }
  }
  return vr::build_sparse_matrix(ratings, users, videos);
}

// y = X^T (X v) with X the binarised ratings (r > 0 -> 1), in double.
std::vector<double> gram_times(const vr::SparseMatrix& ratings, const std::vector<double>& v) {
  std::vector<double> result(ratings.cols, 0.0);
  for (std::uint32_t user = 0; user < ratings.rows; ++user) {
    double xv = 0;
    for (std::uint64_t k = ratings.row_offsets[user]; k < ratings.row_offsets[user + 1]; ++k) {
      if (ratings.values[k] > 0) xv += v[ratings.col_indices[k]];
    }
    for (std::uint64_t k = ratings.row_offsets[user]; k < ratings.row_offsets[user + 1]; ++k) {
      if (ratings.values[k] > 0) result[ratings.col_indices[k]] += xv;
    }
  }
  return result;
}

// The former implementation: Eigen's LLT of the float Gram matrix, solved against the
// identity, then B = I - P diag(1 / diag(P)).
vr::FactorMatrix eigen_ease(const vr::SparseMatrix& ratings, float regularization) {
  const auto n = static_cast<Eigen::Index>(ratings.cols);
  Eigen::MatrixXf gram = Eigen::MatrixXf::Zero(n, n);
  for (std::uint32_t user = 0; user < ratings.rows; ++user) {
    for (std::uint64_t a = ratings.row_offsets[user]; a < ratings.row_offsets[user + 1]; ++a) {
      if (!(ratings.values[a] > 0)) continue;
      for (std::uint64_t b = ratings.row_offsets[user]; b < ratings.row_offsets[user + 1]; ++b) {
        if (ratings.values[b] > 0) gram(ratings.col_indices[a], ratings.col_indices[b]) += 1.0f;
      }
    }
  }
  gram.diagonal().array() += regularization;
  const Eigen::LLT<Eigen::MatrixXf> cholesky(gram);
  REQUIRE(cholesky.info() == Eigen::Success);
  gram.setIdentity();
  cholesky.solveInPlace(gram);
  vr::FactorMatrix weights(n, n);
  for (Eigen::Index j = 0; j < n; ++j) {
    for (Eigen::Index i = 0; i < n; ++i) weights(j, i) = i == j ? 0.0f : -gram(j, i) / gram(i, i);
  }
  return weights;
}

}  // namespace

TEST_CASE("EASE on a generated 5000-video set solves its closed form column by column") {
  // B's column i is b_i = e_i - P e_i / P_ii, so (G + lambda I)(b_i - e_i) = -e_i / P_ii:
  // zero everywhere but at i (negative there). Checked for 30 random columns with sparse
  // products in double, relative to the size of the terms that cancel.
  const std::uint32_t videos = 5000;
  const float lambda = 50.0f;
  const vr::SparseMatrix ratings = skewed_ratings_with_dislikes(6000, videos, 7);
  const vr::FactorMatrix weights = vr::train_ease(ratings, lambda, 2);
  REQUIRE(weights.rows() == videos);
  REQUIRE(weights.cols() == videos);
  for (std::uint32_t i = 0; i < videos; ++i) REQUIRE(weights(i, i) == 0.0f);

  std::mt19937_64 random(11);
  std::uniform_int_distribution<std::uint32_t> pick(0, videos - 1);
  double worst = 0;
  for (int trial = 0; trial < 30; ++trial) {
    const std::uint32_t i = pick(random);
    std::vector<double> v(videos), magnitude(videos);
    for (std::uint32_t j = 0; j < videos; ++j) {
      v[j] = weights(j, i) - (j == i ? 1.0 : 0.0);
      magnitude[j] = std::abs(v[j]);
    }
    const std::vector<double> product = gram_times(ratings, v);
    const std::vector<double> scale = gram_times(ratings, magnitude);
    for (std::uint32_t k = 0; k < videos; ++k) {
      const double residual = product[k] + lambda * v[k];
      const double terms = scale[k] + lambda * magnitude[k];
      if (k == i) {
        INFO("column " << i);
        CHECK(residual < 0);
        continue;
      }
      worst = std::max(worst, std::abs(residual) / terms);
    }
  }
  INFO("largest relative residual off the diagonal " << worst);
  CHECK(worst < 1e-4);
}

TEST_CASE("EASE equals the former Eigen Cholesky path on 300 videos") {
  const vr::SparseMatrix ratings = skewed_ratings_with_dislikes(800, 300, 3);
  const float lambda = 20.0f;
  const vr::FactorMatrix expected = eigen_ease(ratings, lambda);
  for (const int threads : {1, 2}) {
    INFO(threads << " threads");
    const vr::FactorMatrix weights = vr::train_ease(ratings, lambda, threads);
    const float largest = expected.cwiseAbs().maxCoeff();
    REQUIRE(largest > 0);
    CHECK((weights - expected).cwiseAbs().maxCoeff() <= 1e-5f * largest);
  }
}

TEST_CASE("EASE gives the same weights twice with the same thread count") {
  // OpenBLAS may change the last bits between thread counts (checked to tolerance above), never
  // between two runs with the same count.
  const vr::SparseMatrix ratings = skewed_ratings_with_dislikes(1500, 600, 9);
  CHECK(vr::train_ease(ratings, 30.0f, 2) == vr::train_ease(ratings, 30.0f, 2));
  CHECK(vr::train_ease(ratings, 30.0f, 1) == vr::train_ease(ratings, 30.0f, 1));
}

TEST_CASE("EASE reports its four phases in order") {
  std::vector<std::string> phases;
  double previous_total = 0;
  bool totals_grow = true;
  vr::train_ease(skewed_ratings_with_dislikes(200, 120, 5), 10.0f, 1, [&](const vr::PhaseReport& report) {
    phases.push_back(report.name);
    totals_grow = totals_grow && report.seconds >= 0 && report.total_seconds >= previous_total;
    previous_total = report.total_seconds;
  });
  CHECK(phases == std::vector<std::string>{"EASE Gram matrix", "EASE factorisation", "EASE inverse", "EASE weights"});
  CHECK(totals_grow);
}

TEST_CASE("EASE's memory check refuses a catalog larger than the memory available") {
  const std::uint32_t videos = 17600;
  const std::uint64_t needed = vr::ease_training_bytes(videos, 100000, 5000000);
  // The dense matrix dominates: 4 * 17600^2 = 1.24 GB, plus the two sparse copies.
  CHECK(needed >= 4ull * videos * videos + 2 * 8ull * 5000000);
  CHECK(needed < 4ull * videos * videos + 2 * 8ull * 5000000 + (1ull << 30));
  CHECK_NOTHROW(vr::check_ease_memory(videos, 100000, 5000000, needed));
  CHECK_THROWS_AS(vr::check_ease_memory(videos, 100000, 5000000, needed - 1), vr::InsufficientMemory);
  CHECK_THROWS_WITH(vr::check_ease_memory(videos, 100000, 5000000, 500'000'000),
                    Catch::Contains("17600 videos") && Catch::Contains("1.59 GB") && Catch::Contains("0.50 GB") &&
                        Catch::Contains("--model als") && Catch::Contains("--model item-knn"));
  // What this process may use is known here (MemAvailable at least) and not zero.
  CHECK(vr::available_memory_bytes() > 0);
  CHECK(vr::available_memory_bytes() < std::numeric_limits<std::uint64_t>::max());
}
