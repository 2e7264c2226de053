// The ALS maths, checked against exact solutions computed independently in double precision.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "vr/als.h"
#include "vr/errors.h"

namespace {

// A random users x videos ratings matrix with integer weights 1..5 (and a few negatives
// when `with_dislikes`), every user and video non-empty.
vr::SparseMatrix random_ratings(std::uint32_t users, std::uint32_t videos, double density, std::uint64_t seed,
                                bool with_dislikes = false) {
  std::mt19937_64 random(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<vr::Rating> ratings;
  for (std::uint32_t u = 0; u < users; ++u) {
    for (std::uint32_t i = 0; i < videos; ++i) {
      if (unit(random) < density || i == u % videos || u == i % users) {
        float value = static_cast<float>(1 + random() % 5);
        if (with_dislikes && unit(random) < 0.1) value = -value;
        ratings.push_back({u, i, value});
      }
    }
  }
  return vr::build_sparse_matrix(ratings, users, videos);
}

// The user step solved from the definition, over every video (observed or not), in double:
// A = sum_i c_ui y_i y_i^T + lambda I, b = sum_i c_ui p_ui y_i, with c = 1, p = 0 unobserved.
Eigen::VectorXd exact_row_from_definition(const vr::SparseMatrix& confidence, std::uint32_t row,
                                          const vr::FactorMatrix& fixed, double regularization) {
  const Eigen::Index factors = fixed.cols();
  Eigen::MatrixXd a = regularization * Eigen::MatrixXd::Identity(factors, factors);
  Eigen::VectorXd b = Eigen::VectorXd::Zero(factors);
  std::vector<double> c(static_cast<std::size_t>(fixed.rows()), 1.0);
  std::vector<double> p(static_cast<std::size_t>(fixed.rows()), 0.0);
  for (std::uint64_t k = confidence.row_offsets[row]; k < confidence.row_offsets[row + 1]; ++k) {
    const double value = confidence.values[k];
    c[confidence.col_indices[k]] = std::fabs(value);
    p[confidence.col_indices[k]] = value > 0 ? 1.0 : 0.0;
  }
  for (Eigen::Index i = 0; i < fixed.rows(); ++i) {
    const Eigen::VectorXd y = fixed.row(i).transpose().cast<double>();
    a += c[static_cast<std::size_t>(i)] * y * y.transpose();
    b += c[static_cast<std::size_t>(i)] * p[static_cast<std::size_t>(i)] * y;
  }
  return a.ldlt().solve(b);
}

double relative_difference(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  return (a - b).norm() / std::max(1e-12, b.norm());
}

// implicit's loss from its definition, over the dense matrix.
double dense_loss(const vr::SparseMatrix& confidence, const vr::FactorMatrix& x, const vr::FactorMatrix& y,
                  double regularization) {
  double loss = 0, total_confidence = 0;
  for (std::uint32_t u = 0; u < confidence.rows; ++u) {
    std::vector<double> c(confidence.cols, 1.0), p(confidence.cols, 0.0);
    for (std::uint64_t k = confidence.row_offsets[u]; k < confidence.row_offsets[u + 1]; ++k) {
      c[confidence.col_indices[k]] = std::fabs(confidence.values[k]);
      p[confidence.col_indices[k]] = confidence.values[k] > 0 ? 1.0 : 0.0;
    }
    for (std::uint32_t i = 0; i < confidence.cols; ++i) {
      const double score = x.row(u).cast<double>().dot(y.row(i).cast<double>());
      loss += c[i] * (p[i] - score) * (p[i] - score);
      total_confidence += c[i];
    }
  }
  loss += regularization * (x.cast<double>().squaredNorm() + y.cast<double>().squaredNorm());
  // implicit counts an unobserved cell's confidence as 1 and an observed one as c.
  return loss / total_confidence;
}

}  // namespace

TEST_CASE("the Cholesky user step equals the exact solve of the full objective") {
  const auto ratings = random_ratings(30, 40, 0.15, 1, /*with_dislikes=*/true);
  vr::TrainConfig config;
  config.factors = 6;
  config.alpha = 2.0f;
  const auto confidence = vr::confidence_matrix(ratings, config);
  const vr::FactorMatrix items = vr::initial_factors(40, 6, 7) * 50.0f;  // not tiny, so the test bites
  vr::FactorMatrix users = vr::initial_factors(30, 6, 8);
  vr::solve_half_iteration(confidence, items, 0.1f, vr::Solver::Cholesky, 3, 2, users);
  for (std::uint32_t u = 0; u < 30; ++u) {
    const Eigen::VectorXd expected = exact_row_from_definition(confidence, u, items, 0.1);
    CHECK(relative_difference(users.row(u).transpose().cast<double>(), expected) < 1e-4);
  }
}

TEST_CASE("a CG user step lands on the exact solve of the same system") {
  const auto ratings = random_ratings(40, 50, 0.2, 2);
  vr::TrainConfig config;
  config.factors = 8;
  const auto confidence = vr::confidence_matrix(ratings, config);
  const vr::FactorMatrix items = vr::initial_factors(50, 8, 3) * 30.0f;
  vr::FactorMatrix exact = vr::FactorMatrix::Zero(40, 8);
  vr::solve_half_iteration(confidence, items, 0.1f, vr::Solver::Cholesky, 3, 1, exact);

  SECTION("with as many steps as factors CG is exact, from any start") {
    vr::FactorMatrix cg = vr::initial_factors(40, 8, 4);
    vr::solve_half_iteration(confidence, items, 0.1f, vr::Solver::ConjugateGradient, 8, 1, cg);
    for (Eigen::Index u = 0; u < 40; ++u) {
      CHECK(relative_difference(cg.row(u).transpose().cast<double>(), exact.row(u).transpose().cast<double>()) < 2e-3);
    }
  }
  SECTION("three steps warm-started near the solution stay within a tight tolerance") {
    vr::FactorMatrix cg = exact;
    cg.array() *= 1.01f;  // a 1% perturbation, as between two late ALS iterations
    vr::solve_half_iteration(confidence, items, 0.1f, vr::Solver::ConjugateGradient, 3, 1, cg);
    for (Eigen::Index u = 0; u < 40; ++u) {
      CHECK(relative_difference(cg.row(u).transpose().cast<double>(), exact.row(u).transpose().cast<double>()) < 2e-3);
    }
  }
}

TEST_CASE("training loss matches its definition over the dense matrix") {
  const auto ratings = random_ratings(20, 25, 0.2, 5, /*with_dislikes=*/true);
  vr::TrainConfig config;
  config.factors = 4;
  config.alpha = 3.0f;
  const auto confidence = vr::confidence_matrix(ratings, config);
  const vr::FactorMatrix x = vr::initial_factors(20, 4, 1) * 40.0f;
  const vr::FactorMatrix y = vr::initial_factors(25, 4, 2) * 40.0f;
  CHECK(vr::training_loss(confidence, x, y, 0.5f) == Approx(dense_loss(confidence, x, y, 0.5)).epsilon(1e-5));
}

TEST_CASE("with the Cholesky solver the loss never increases between iterations") {
  const auto ratings = random_ratings(120, 80, 0.08, 9);
  vr::TrainConfig config;
  config.factors = 10;
  config.iterations = 15;
  config.solver = vr::Solver::Cholesky;
  std::vector<double> losses;
  vr::train_als(ratings, config, [&](const vr::IterationReport& report) { losses.push_back(report.loss); });
  REQUIRE(losses.size() == 15);
  for (std::size_t i = 1; i < losses.size(); ++i) {
    INFO("iteration " << i + 1);
    CHECK(losses[i] <= losses[i - 1] * (1 + 1e-6));
  }
  CHECK(losses.back() < losses.front());
}

TEST_CASE("CG training also decreases the loss overall") {
  const auto ratings = random_ratings(120, 80, 0.08, 10);
  vr::TrainConfig config;
  config.factors = 10;
  config.iterations = 10;
  std::vector<double> losses;
  vr::train_als(ratings, config, [&](const vr::IterationReport& report) { losses.push_back(report.loss); });
  CHECK(losses.back() < losses.front());
}

TEST_CASE("fold-in reproduces a training user's factor once training has converged") {
  const auto ratings = random_ratings(60, 40, 0.1, 11);
  vr::TrainConfig config;
  config.factors = 5;
  config.iterations = 200;
  config.solver = vr::Solver::Cholesky;
  config.compute_loss = false;
  const auto model = vr::train_als(ratings, config);
  const Eigen::MatrixXf gram = vr::regularized_gram(model.item_factors, config.regularization);
  for (std::uint32_t u = 0; u < 60; u += 7) {
    std::vector<std::pair<std::uint32_t, float>> history;
    for (std::uint64_t k = ratings.row_offsets[u]; k < ratings.row_offsets[u + 1]; ++k) {
      history.emplace_back(ratings.col_indices[k], vr::confidence_of(ratings.values[k], config));
    }
    const Eigen::VectorXf folded = vr::solve_row_exact(gram, model.item_factors, history);
    INFO("user " << u);
    CHECK(relative_difference(folded.cast<double>(), model.user_factors.row(u).transpose().cast<double>()) < 1e-3);
  }
}

TEST_CASE("the same seed gives the same factors whatever the thread count") {
  const auto ratings = random_ratings(700, 300, 0.03, 12);
  vr::TrainConfig config;
  config.factors = 16;
  config.iterations = 4;
  config.threads = 1;
  const auto one = vr::train_als(ratings, config);
  config.threads = 2;
  const auto two = vr::train_als(ratings, config);
  config.threads = 7;
  const auto seven = vr::train_als(ratings, config);
  CHECK(one.user_factors == two.user_factors);
  CHECK(one.item_factors == two.item_factors);
  CHECK(one.user_factors == seven.user_factors);
  config.seed = 43;
  const auto other_seed = vr::train_als(ratings, config);
  CHECK_FALSE(one.user_factors == other_seed.user_factors);
}

TEST_CASE("users and videos without interactions get all-zero factors") {
  // User 2 and video 3 have nothing.
  const auto ratings = vr::build_sparse_matrix({{0, 0, 1}, {0, 1, 2}, {1, 2, 3}, {3, 0, 1}}, 4, 4);
  vr::TrainConfig config;
  config.factors = 3;
  config.iterations = 3;
  const auto model = vr::train_als(ratings, config);
  CHECK(model.user_factors.row(2).isZero(0));
  CHECK(model.item_factors.row(3).isZero(0));
  CHECK_FALSE(model.user_factors.row(0).isZero(0));
}

TEST_CASE("initial factors are uniform in [0, 0.01) and seeded") {
  const auto a = vr::initial_factors(100, 10, 5);
  CHECK(a.minCoeff() >= 0.0f);
  CHECK(a.maxCoeff() < 0.01f);
  CHECK(a.mean() == Approx(0.005).epsilon(0.05));
  CHECK(a == vr::initial_factors(100, 10, 5));
  CHECK_FALSE(a == vr::initial_factors(100, 10, 6));
}

TEST_CASE("confidence follows c = alpha * r, or alpha * log(1 + r / eps)") {
  vr::TrainConfig config;
  config.alpha = 2.0f;
  CHECK(vr::confidence_of(3.0f, config) == 6.0f);
  CHECK(vr::confidence_of(-3.0f, config) == -6.0f);
  config.scaling = vr::ConfidenceScaling::Log;
  config.eps = 0.5f;
  CHECK(vr::confidence_of(3.0f, config) == Approx(2.0 * std::log(1.0 + 6.0)));
  CHECK(vr::confidence_of(-3.0f, config) == Approx(-2.0 * std::log(1.0 + 6.0)));
}

TEST_CASE("numerical failures are errors, never models") {
  vr::FactorMatrix factors = vr::FactorMatrix::Ones(3, 2);
  CHECK_NOTHROW(vr::check_finite(factors, "user factors"));
  factors(1, 1) = std::nanf("");
  CHECK_THROWS_AS(vr::check_finite(factors, "user factors"), vr::NumericalError);
  factors(1, 1) = INFINITY;
  CHECK_THROWS_AS(vr::check_finite(factors, "user factors"), vr::NumericalError);
  // A confidence below 1 with no regularisation makes A_u indefinite.
  const Eigen::MatrixXf zero_gram = Eigen::MatrixXf::Zero(2, 2);
  const vr::FactorMatrix items = vr::FactorMatrix::Ones(1, 2);
  CHECK_THROWS_WITH(vr::solve_row_exact(zero_gram, items, {{0, 0.5f}}), Catch::Contains("--regularization"));
}

TEST_CASE("invalid configs are refused") {
  vr::TrainConfig config;
  config.factors = 0;
  CHECK_THROWS_AS(vr::validate(config), vr::InvalidInput);
  config = {};
  config.alpha = 0;
  CHECK_THROWS_AS(vr::validate(config), vr::InvalidInput);
  config = {};
  config.regularization = -1;
  CHECK_THROWS_AS(vr::validate(config), vr::InvalidInput);
  config = {};
  config.cg_steps = 0;
  CHECK_THROWS_AS(vr::validate(config), vr::InvalidInput);
}

TEST_CASE("initial_factor_rows draws rows of the one initial sequence without the rows before") {
  const vr::FactorMatrix all = vr::initial_factors(50, 7, 123);
  for (const std::uint32_t first : {0u, 1u, 13u, 49u}) {
    const vr::FactorMatrix rows = vr::initial_factor_rows(first, 50 - first, 7, 123);
    CHECK(rows == all.bottomRows(50 - first));
  }
}
