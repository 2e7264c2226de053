// The ALS maths, checked against exact solutions computed independently in double precision.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>

#include "vr/als.h"
#include "vr/errors.h"
#include "vr/parallel.h"
#include "support/test_support.h"

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

// implicit 0.7's _calculate_loss (implicit/cpu/_als.pyx), step for step in double: per user
// r = YtY x_u + sum_i (t_i + (|c_i| - 1) y_i.x_u) y_i with t_i = -2 c_i for a positive c_i and
// 0 for a negative one, loss += sum_i |c_i| + r.x_u; then lambda (|X|^2 + |Y|^2), divided by
// sum |c| + users * items - nnz.
double implicit_calculate_loss(const vr::SparseMatrix& confidence, const vr::FactorMatrix& x_factors,
                               const vr::FactorMatrix& y_factors, double regularization) {
  const Eigen::MatrixXd x = x_factors.cast<double>();
  const Eigen::MatrixXd y = y_factors.cast<double>();
  const Eigen::MatrixXd yty = y.transpose() * y;
  double loss = 0, total_confidence = 0;
  for (std::uint32_t u = 0; u < confidence.rows; ++u) {
    const Eigen::VectorXd xu = x.row(u).transpose();
    Eigen::VectorXd r = yty * xu;
    for (std::uint64_t k = confidence.row_offsets[u]; k < confidence.row_offsets[u + 1]; ++k) {
      double c = confidence.values[k];
      double temp = 0;
      if (c > 0) {
        temp = -2 * c;
      } else {
        c = -c;
      }
      const Eigen::VectorXd yi = y.row(confidence.col_indices[k]).transpose();
      r += (temp + (c - 1) * yi.dot(xu)) * yi;
      total_confidence += c;
      loss += c;
    }
    loss += r.dot(xu);
  }
  loss += regularization * (x.squaredNorm() + y.squaredNorm());
  return loss / (total_confidence + double(confidence.rows) * confidence.cols - double(confidence.nnz()));
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
    // implicit's calculate_loss also counts |c| once for each disliked (negative) entry.
    for (std::uint64_t k = confidence.row_offsets[u]; k < confidence.row_offsets[u + 1]; ++k) {
      if (confidence.values[k] < 0) loss += std::fabs(confidence.values[k]);
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

TEST_CASE("the loss with a dislike is implicit's calculate_loss, worked by hand") {
  // One user, two videos, one factor: x = 2, y = (0.5, 1), c = (3, -2), lambda = 0.1.
  // Scores s = (1, 2). implicit: sum |c| = 5; x YtY x = 4 * 1.25 = 5; video 1 adds
  // -2*3*1 + (3-1)*1 = -4, video 2 (dislike) adds 0 + (2-1)*4 = 4; so 5 + 5 - 4 + 4 = 10,
  // plus 0.1 * (4 + 1.25) = 0.525, over 5 + 1*2 - 2 = 5: 2.105. (The objective's own value
  // is 3*(1-1)^2 + 2*(0-2)^2 + 0.525 = 8.525, /5 = 1.705: implicit counts |c| = 2 more.)
  const auto confidence = vr::build_sparse_matrix({{0, 0, 3.0f}, {0, 1, -2.0f}}, 1, 2);
  vr::FactorMatrix x(1, 1);
  x << 2.0f;
  vr::FactorMatrix y(2, 1);
  y << 0.5f, 1.0f;
  CHECK(vr::training_loss(confidence, x, y, 0.1f) == Approx(2.105).epsilon(1e-6));
  CHECK(implicit_calculate_loss(confidence, x, y, 0.1) == Approx(2.105).epsilon(1e-12));
  // Without the dislike the two agree on the objective itself.
  const auto positive_only = vr::build_sparse_matrix({{0, 0, 3.0f}}, 1, 2);
  CHECK(vr::training_loss(positive_only, x, y, 0.1f) == Approx(implicit_calculate_loss(positive_only, x, y, 0.1)).epsilon(1e-6));
}

TEST_CASE("training loss equals implicit's calculate_loss with likes and dislikes") {
  const auto ratings = random_ratings(30, 35, 0.2, 21, /*with_dislikes=*/true);
  vr::TrainConfig config;
  config.alpha = 0.7f;
  const auto confidence = vr::confidence_matrix(ratings, config);
  REQUIRE(std::any_of(confidence.values.begin(), confidence.values.end(), [](float c) { return c < 0; }));
  const vr::FactorMatrix x = vr::initial_factors(30, 5, 3) * 60.0f;
  const vr::FactorMatrix y = vr::initial_factors(35, 5, 4) * 60.0f;
  CHECK(vr::training_loss(confidence, x, y, 0.3f, 1) == Approx(implicit_calculate_loss(confidence, x, y, 0.3)).epsilon(1e-5));
}

TEST_CASE("every fixed-size CG kernel gives the generic kernel's result") {
  for (const int factors : {8, 16, 20, 32, 48, 64, 100, 128}) {
    INFO("factors " << factors);
    const auto ratings = random_ratings(12, 160, 0.1, 30 + static_cast<std::uint64_t>(factors), /*with_dislikes=*/true);
    vr::TrainConfig config;
    const auto confidence = vr::confidence_matrix(ratings, config);
    const vr::FactorMatrix items = vr::initial_factors(160, factors, 5) * 20.0f;
    const Eigen::MatrixXf gram = vr::regularized_gram(items, 0.1f);
    const vr::FactorMatrix start = vr::initial_factors(12, factors, 6);
    for (std::uint32_t u = 0; u < 12; ++u) {
      Eigen::VectorXf by_size = start.row(u).transpose();
      Eigen::VectorXf generic = by_size;
      CHECK(vr::solve_row_conjugate_gradient(gram, items, confidence, u, 3, by_size.data(), vr::CgKernel::BySize) ==
            vr::CgRowOutcome::Completed);
      CHECK(vr::solve_row_conjugate_gradient(gram, items, confidence, u, 3, generic.data(), vr::CgKernel::Generic) ==
            vr::CgRowOutcome::Completed);
      // Float rounding differs between the kernels (another summation order); a wrong kernel
      // would be off by far more than 1e-3.
      CHECK(relative_difference(by_size.cast<double>(), generic.cast<double>()) < 1e-3);
      // The step moved the factor (the comparison is not of two untouched starts).
      CHECK(relative_difference(generic.cast<double>(), start.row(u).transpose().cast<double>()) > 0.1);
    }
  }
}

TEST_CASE("CG with lambda = 0 on a positive definite system reaches the exact solve") {
  const auto ratings = random_ratings(25, 60, 0.15, 41);
  vr::TrainConfig config;
  const auto confidence = vr::confidence_matrix(ratings, config);
  const vr::FactorMatrix items = vr::initial_factors(60, 6, 7) * 30.0f;
  vr::FactorMatrix exact = vr::FactorMatrix::Zero(25, 6);
  vr::solve_half_iteration(confidence, items, 0.0f, vr::Solver::Cholesky, 3, 1, exact);
  vr::FactorMatrix cg = vr::initial_factors(25, 6, 8);
  // Without lambda the system is less well conditioned: more steps than factors, as float
  // rounding keeps CG from finishing in exactly `factors` steps.
  CHECK(vr::solve_half_iteration(confidence, items, 0.0f, vr::Solver::ConjugateGradient, 30, 1, cg) == 0);
  for (Eigen::Index u = 0; u < 25; ++u) {
    const Eigen::VectorXd expected = exact_row_from_definition(confidence, static_cast<std::uint32_t>(u), items, 0.0);
    CHECK(relative_difference(cg.row(u).transpose().cast<double>(), expected) < 2e-3);
  }
}

TEST_CASE("CG stops a row whose system has no positive curvature instead of spreading NaN") {
  // One video y = (0, 1) with c = 1, so A = gram: b = (0, 1) and, from x = 0, the first
  // direction is p = (0, 1).
  vr::FactorMatrix items(1, 2);
  items << 0.0f, 1.0f;
  const auto confidence = vr::build_sparse_matrix({{0, 0, 1.0f}}, 1, 1);
  for (const auto kernel : {vr::CgKernel::BySize, vr::CgKernel::Generic}) {
    SECTION("singular (lambda = 0): p^T A p = 0 would divide by zero") {
      Eigen::MatrixXf gram(2, 2);
      gram << 1.0f, 0.0f, 0.0f, 0.0f;
      Eigen::Vector2f x = Eigen::Vector2f::Zero();
      CHECK(vr::solve_row_conjugate_gradient(gram, items, confidence, 0, 3, x.data(), kernel) == vr::CgRowOutcome::Stopped);
      CHECK(x.allFinite());
      CHECK(x.isZero(0));
    }
    SECTION("indefinite: p^T A p < 0 would step uphill") {
      Eigen::MatrixXf gram(2, 2);
      gram << 1.0f, 0.0f, 0.0f, -1.0f;
      Eigen::Vector2f x = Eigen::Vector2f::Zero();
      CHECK(vr::solve_row_conjugate_gradient(gram, items, confidence, 0, 3, x.data(), kernel) == vr::CgRowOutcome::Stopped);
      CHECK(x.isZero(0));
    }
    SECTION("a non-finite start stops at once") {
      Eigen::MatrixXf gram = Eigen::MatrixXf::Identity(2, 2);
      Eigen::Vector2f x(std::nanf(""), 0.0f);
      CHECK(vr::solve_row_conjugate_gradient(gram, items, confidence, 0, 3, x.data(), kernel) == vr::CgRowOutcome::Stopped);
    }
  }
}

TEST_CASE("a half-iteration counts the rows whose CG was stopped") {
  // Two users on one video y = (1, 0), lambda = 0: user 0 starts from a finite factor and
  // completes, user 1 starts from a NaN one and is stopped. Cholesky counts nothing.
  vr::FactorMatrix items(1, 2);
  items << 1.0f, 0.0f;
  const auto confidence = vr::build_sparse_matrix({{0, 0, 1.0f}, {1, 0, 2.0f}}, 2, 1);
  vr::FactorMatrix users(2, 2);
  users << 0.0f, 1.0f, std::nanf(""), 0.0f;
  CHECK(vr::solve_half_iteration(confidence, items, 0.0f, vr::Solver::ConjugateGradient, 3, 1, users) == 1);
  CHECK(users.row(0).allFinite());
  CHECK(vr::solve_half_iteration(confidence, items, 1.0f, vr::Solver::Cholesky, 3, 1, users) == 0);
}

TEST_CASE("training with threads = 1 runs on the calling thread only, the loss included") {
  if (vr::resolve_thread_count(0) < 2) vr::test::skip_test("one core: threads = 0 would also use one thread");
  // More than 1024 users, so the loss has several blocks to share out.
  const auto ratings = random_ratings(2100, 40, 0.05, 51);
  vr::TrainConfig config;
  config.factors = 4;
  config.iterations = 1;
  config.threads = 1;
  const auto before = vr::parallel_threads_started();
  vr::train_als(ratings, config);
  CHECK(vr::parallel_threads_started() == before);
  config.threads = 2;
  vr::train_als(ratings, config);
  CHECK(vr::parallel_threads_started() > before);
  // And the loss does not depend on the thread count.
  const auto confidence = vr::confidence_matrix(ratings, config);
  const vr::FactorMatrix x = vr::initial_factors(2100, 4, 1);
  const vr::FactorMatrix y = vr::initial_factors(40, 4, 2);
  CHECK(vr::training_loss(confidence, x, y, 0.1f, 1) == vr::training_loss(confidence, x, y, 0.1f, 2));
}

TEST_CASE("training with log scaling solves the log-scaled objective") {
  // Converged Cholesky training: every user's factor is the exact solve of the user step
  // with c = alpha * log(1 + r / eps), which fold-in (the recommender's path) recomputes.
  const auto ratings = random_ratings(50, 30, 0.12, 61);
  vr::TrainConfig config;
  config.factors = 4;
  config.iterations = 150;
  config.solver = vr::Solver::Cholesky;
  config.scaling = vr::ConfidenceScaling::Log;
  config.eps = 0.5f;
  config.alpha = 3.0f;
  config.compute_loss = false;
  const auto model = vr::train_als(ratings, config);
  const Eigen::MatrixXf gram = vr::regularized_gram(model.item_factors, config.regularization);
  for (std::uint32_t u = 0; u < 50; u += 6) {
    std::vector<std::pair<std::uint32_t, float>> log_history, raw_history;
    for (std::uint64_t k = ratings.row_offsets[u]; k < ratings.row_offsets[u + 1]; ++k) {
      log_history.emplace_back(ratings.col_indices[k], vr::confidence_of(ratings.values[k], config));
      raw_history.emplace_back(ratings.col_indices[k], config.alpha * ratings.values[k]);
    }
    const Eigen::VectorXd trained = model.user_factors.row(u).transpose().cast<double>();
    INFO("user " << u);
    CHECK(relative_difference(vr::solve_row_exact(gram, model.item_factors, log_history).cast<double>(), trained) < 3e-3);
    // Raw confidences would give another factor: the scaling is really applied.
    CHECK(relative_difference(vr::solve_row_exact(gram, model.item_factors, raw_history).cast<double>(), trained) > 1e-2);
  }
  // And CG training with log scaling also lowers the loss.
  config.solver = vr::Solver::ConjugateGradient;
  config.iterations = 8;
  config.compute_loss = true;
  std::vector<double> losses;
  vr::train_als(ratings, config, [&](const vr::IterationReport& report) { losses.push_back(report.loss); });
  CHECK(losses.back() < losses.front());
}
