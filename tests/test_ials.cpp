// iALS's unobserved weight and frequency-scaled regularisation (Rendle et al. 2021,
// docs/als.md): the solvers and the loss against the weighted least-squares problem written
// out over the dense matrix in double, and the settings through the model and config files.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <sstream>

#include "vr/als.h"
#include "vr/errors.h"
#include "vr/framed_file.h"
#include "vr/model.h"
#include "vr/training.h"

namespace {

// A random users x videos ratings matrix with integer weights 1..5 and a few negatives
// (dislikes), every user and video non-empty, the rows' counts spread out.
vr::SparseMatrix random_ratings(std::uint32_t users, std::uint32_t videos, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<vr::Rating> ratings;
  for (std::uint32_t u = 0; u < users; ++u) {
    const double density = 0.05 + 0.4 * unit(random);
    for (std::uint32_t i = 0; i < videos; ++i) {
      if (unit(random) < density || i == u % videos || u == i % users) {
        float value = static_cast<float>(1 + random() % 5);
        if (unit(random) < 0.1) value = -value;
        ratings.push_back({u, i, value});
      }
    }
  }
  return vr::build_sparse_matrix(ratings, users, videos);
}

// Each cell's weight and target from the definition: an observed cell weighs |c| with target
// 1 for c > 0 and 0 for a dislike; an unobserved cell weighs alpha0 with target 0.
void cell_weights(const vr::SparseMatrix& confidence, std::uint32_t row, double unobserved_weight,
                  std::vector<double>& weight, std::vector<double>& target) {
  weight.assign(confidence.cols, unobserved_weight);
  target.assign(confidence.cols, 0.0);
  for (std::uint64_t k = confidence.row_offsets[row]; k < confidence.row_offsets[row + 1]; ++k) {
    weight[confidence.col_indices[k]] = std::fabs(static_cast<double>(confidence.values[k]));
    target[confidence.col_indices[k]] = confidence.values[k] > 0 ? 1.0 : 0.0;
  }
}

// lambda (n + alpha0 N)^nu, in double.
double row_lambda(double regularization, double unobserved_weight, double exponent, double ratings, double others) {
  return regularization * std::pow(ratings + unobserved_weight * others, exponent);
}

// Row `row`'s minimiser of sum_i w_i (p_i - x.y_i)^2 + lambda_row |x|^2, solved directly in
// double as the normal equations (Y^T W Y + lambda_row I) x = Y^T W p over every column.
Eigen::VectorXd exact_weighted_row(const vr::SparseMatrix& confidence, std::uint32_t row, const vr::FactorMatrix& fixed,
                                   double regularization, double unobserved_weight, double exponent) {
  std::vector<double> weight, target;
  cell_weights(confidence, row, unobserved_weight, weight, target);
  const Eigen::MatrixXd y = fixed.cast<double>();
  const Eigen::VectorXd w = Eigen::Map<const Eigen::VectorXd>(weight.data(), static_cast<Eigen::Index>(weight.size()));
  const Eigen::VectorXd p = Eigen::Map<const Eigen::VectorXd>(target.data(), static_cast<Eigen::Index>(target.size()));
  const double lambda = row_lambda(regularization, unobserved_weight, exponent,
                                   static_cast<double>(confidence.row_size(row)), static_cast<double>(confidence.cols));
  const Eigen::MatrixXd a = y.transpose() * w.asDiagonal() * y + lambda * Eigen::MatrixXd::Identity(y.cols(), y.cols());
  const Eigen::VectorXd b = y.transpose() * (w.array() * p.array()).matrix();
  return a.llt().solve(b);
}

// The loss from its definition over the dense matrix: sum of w (p - s)^2 over every cell,
// implicit's extra |c| for each dislike, each row's lambda_row |x|^2 on both sides, divided by
// the sum of the cells' weights.
double dense_weighted_loss(const vr::SparseMatrix& confidence, const vr::FactorMatrix& x, const vr::FactorMatrix& y,
                           double regularization, double unobserved_weight, double exponent) {
  double loss = 0, total_weight = 0;
  std::vector<double> weight, target;
  std::vector<double> column_ratings(confidence.cols, 0.0);
  for (std::uint32_t u = 0; u < confidence.rows; ++u) {
    cell_weights(confidence, u, unobserved_weight, weight, target);
    for (std::uint32_t i = 0; i < confidence.cols; ++i) {
      const double score = x.row(u).cast<double>().dot(y.row(i).cast<double>());
      loss += weight[i] * (target[i] - score) * (target[i] - score);
      total_weight += weight[i];
    }
    for (std::uint64_t k = confidence.row_offsets[u]; k < confidence.row_offsets[u + 1]; ++k) {
      if (confidence.values[k] < 0) loss += std::fabs(static_cast<double>(confidence.values[k]));
      column_ratings[confidence.col_indices[k]] += 1;
    }
    loss += row_lambda(regularization, unobserved_weight, exponent, static_cast<double>(confidence.row_size(u)),
                       confidence.cols) *
            x.row(u).cast<double>().squaredNorm();
  }
  for (std::uint32_t i = 0; i < confidence.cols; ++i) {
    loss += row_lambda(regularization, unobserved_weight, exponent, column_ratings[i], confidence.rows) *
            y.row(i).cast<double>().squaredNorm();
  }
  return loss / total_weight;
}

double relative_difference(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  return (a - b).norm() / std::max(1e-12, b.norm());
}

struct Weights {
  float regularization, unobserved_weight, exponent;
};

// Settings with each new term alone and both together; lambda small enough with nu = 1
// that the data still count.
const std::vector<Weights> kSettings = {
    {0.1f, 0.05f, 0.0f}, {0.1f, 3.0f, 0.0f}, {0.002f, 1.0f, 1.0f}, {0.01f, 0.2f, 0.5f}, {0.003f, 0.1f, 1.0f}};

// Every row of `solved` against the exact weighted least-squares solve of its row of
// `confidence` with the other side `fixed` held, within `tolerance` (relative).
void check_rows_match_exact_solve(const vr::FactorMatrix& solved, const vr::SparseMatrix& confidence,
                                  const vr::FactorMatrix& fixed, const Weights& setting, double tolerance,
                                  const char* side) {
  for (std::uint32_t row = 0; row < static_cast<std::uint32_t>(solved.rows()); ++row) {
    const Eigen::VectorXd expected = exact_weighted_row(confidence, row, fixed, setting.regularization,
                                                        setting.unobserved_weight, setting.exponent);
    INFO(side << ' ' << row);
    CHECK(relative_difference(solved.row(row).transpose().cast<double>(), expected) < tolerance);
  }
}

}  // namespace

TEST_CASE("iALS weights: the Cholesky step equals the exact weighted least-squares solve, both sides") {
  const auto ratings = random_ratings(30, 40, 1);
  vr::TrainConfig config;
  config.alpha = 2.0f;
  const auto by_user = vr::confidence_matrix(ratings, config);
  const auto by_video = by_user.transposed();
  const vr::FactorMatrix videos = vr::initial_factors(40, 6, 7) * 50.0f;  // not tiny, so the test bites
  const vr::FactorMatrix users = vr::initial_factors(30, 6, 8) * 50.0f;
  for (const auto& setting : kSettings) {
    INFO("lambda " << setting.regularization << ", alpha0 " << setting.unobserved_weight << ", nu " << setting.exponent);
    const vr::SystemWeights weights{setting.regularization, setting.unobserved_weight, setting.exponent};
    vr::FactorMatrix solved_users = vr::initial_factors(30, 6, 9);
    vr::solve_half_iteration(by_user, videos, weights, vr::Solver::Cholesky, 3, 2, solved_users);
    check_rows_match_exact_solve(solved_users, by_user, videos, setting, 1e-4, "user");
    vr::FactorMatrix solved_videos = vr::initial_factors(40, 6, 10);
    vr::solve_half_iteration(by_video, users, weights, vr::Solver::Cholesky, 3, 2, solved_videos);
    check_rows_match_exact_solve(solved_videos, by_video, users, setting, 1e-4, "video");
  }
}

TEST_CASE("iALS weights: CG run past the factor count lands on the exact solve") {
  const auto ratings = random_ratings(40, 50, 2);
  const auto confidence = vr::confidence_matrix(ratings, vr::TrainConfig{});
  // 8 factors run a kernel compiled for the size, 7 the run-time-sized one.
  for (const int factors : {8, 7}) {
    const vr::FactorMatrix videos = vr::initial_factors(50, factors, 3) * 30.0f;
    for (const auto& setting : kSettings) {
      INFO(factors << " factors, lambda " << setting.regularization << ", alpha0 " << setting.unobserved_weight
                   << ", nu " << setting.exponent);
      const vr::SystemWeights weights{setting.regularization, setting.unobserved_weight, setting.exponent};
      // In exact arithmetic `factors` steps solve the system; in float, with alpha0 and lambda
      // small, the systems are ill-conditioned enough to need a few times more.
      vr::FactorMatrix cg = vr::initial_factors(40, factors, 4);
      CHECK(vr::solve_half_iteration(confidence, videos, weights, vr::Solver::ConjugateGradient, 4 * factors, 1, cg) ==
            0);
      check_rows_match_exact_solve(cg, confidence, videos, setting, 2e-3, "user");
    }
  }
}

TEST_CASE("iALS weights: the training loss matches its direct evaluation over the dense matrix") {
  const auto ratings = random_ratings(20, 25, 5);
  vr::TrainConfig config;
  config.alpha = 3.0f;
  const auto confidence = vr::confidence_matrix(ratings, config);
  const vr::FactorMatrix x = vr::initial_factors(20, 4, 1) * 40.0f;
  const vr::FactorMatrix y = vr::initial_factors(25, 4, 2) * 40.0f;
  for (const auto& setting : kSettings) {
    INFO("lambda " << setting.regularization << ", alpha0 " << setting.unobserved_weight << ", nu " << setting.exponent);
    const vr::SystemWeights weights{setting.regularization, setting.unobserved_weight, setting.exponent};
    const double expected = dense_weighted_loss(confidence, x, y, setting.regularization, setting.unobserved_weight,
                                                setting.exponent);
    CHECK(vr::training_loss(confidence, x, y, weights, 1) == Approx(expected).epsilon(1e-5));
    CHECK(vr::training_loss(confidence, x, y, weights, 2) == vr::training_loss(confidence, x, y, weights, 1));
  }
}

TEST_CASE("iALS weights: with the Cholesky solver the loss never increases between iterations") {
  // Each half-iteration minimises the loss exactly over one side only if the loss and the
  // solved systems agree term for term.
  const auto ratings = random_ratings(120, 80, 9);
  vr::TrainConfig config;
  config.factors = 10;
  config.iterations = 12;
  config.solver = vr::Solver::Cholesky;
  config.regularization = 0.01f;
  config.unobserved_weight = 0.2f;
  config.reg_exponent = 0.7f;
  std::vector<double> losses;
  vr::train_als(ratings, config, [&](const vr::IterationReport& report) { losses.push_back(report.loss); });
  REQUIRE(losses.size() == 12);
  for (std::size_t i = 1; i < losses.size(); ++i) {
    INFO("iteration " << i + 1);
    CHECK(losses[i] <= losses[i - 1] * (1 + 1e-6));
  }
  CHECK(losses.back() < losses.front());
}

TEST_CASE("iALS weights: fold-in with the row's terms reproduces a trained user's factor") {
  const auto ratings = random_ratings(60, 40, 11);
  vr::TrainConfig config;
  config.factors = 5;
  config.iterations = 200;
  config.solver = vr::Solver::Cholesky;
  config.compute_loss = false;
  config.regularization = 0.01f;
  config.unobserved_weight = 0.3f;
  config.reg_exponent = 0.5f;
  const auto model = vr::train_als(ratings, config);
  const vr::SystemWeights weights = vr::system_weights(config);
  const Eigen::MatrixXf gram = vr::shared_gram(model.item_factors, weights);
  for (std::uint32_t u = 0; u < 60; u += 7) {
    std::vector<std::pair<std::uint32_t, float>> history;
    for (std::uint64_t k = ratings.row_offsets[u]; k < ratings.row_offsets[u + 1]; ++k) {
      history.emplace_back(ratings.col_indices[k], vr::confidence_of(ratings.values[k], config));
    }
    const Eigen::VectorXf folded =
        vr::solve_row_exact(gram, model.item_factors, history, vr::row_terms(weights, history.size(), 40));
    INFO("user " << u);
    // lambda 0.01 converges slowly: 200 iterations leave the trained factor ~2e-3 from the fixed point.
    CHECK(relative_difference(folded.cast<double>(), model.user_factors.row(u).transpose().cast<double>()) < 5e-3);
    // Implicit's system (the default terms) is another one: it must not match.
    const Eigen::VectorXf implicit_fold =
        vr::solve_row_exact(vr::regularized_gram(model.item_factors, config.regularization), model.item_factors, history);
    CHECK(relative_difference(implicit_fold.cast<double>(), model.user_factors.row(u).transpose().cast<double>()) > 5e-2);
  }
}

TEST_CASE("iALS weights: the default terms are implicit's constant lambda and Gram matrix exactly") {
  const vr::SystemWeights defaults = vr::system_weights(vr::TrainConfig{});
  CHECK(vr::is_implicit(defaults));
  CHECK(vr::row_regularization(defaults, 17, 1000) == vr::TrainConfig{}.regularization);
  const vr::RowTerms terms = vr::row_terms(defaults, 17, 1000);
  CHECK(terms.unobserved_weight == 1.0f);
  CHECK(terms.extra_regularization == 0.0f);
  const vr::FactorMatrix fixed = vr::initial_factors(50, 8, 3) * 30.0f;
  CHECK(vr::shared_gram(fixed, defaults) == vr::regularized_gram(fixed, defaults.regularization));
  // nu = 1: lambda (n + alpha0 N), the Gram matrix without lambda.
  const vr::SystemWeights scaled{0.5f, 0.25f, 1.0f};
  CHECK(vr::row_regularization(scaled, 6, 40) == Approx(0.5 * (6 + 0.25 * 40)));
  CHECK(vr::row_terms(scaled, 6, 40).extra_regularization == Approx(8.0));
  CHECK(vr::shared_gram(fixed, scaled).isApprox(0.25f * vr::regularized_gram(fixed, 0.0f)));
}

TEST_CASE("iALS weights: out-of-range values are refused") {
  vr::TrainConfig config;
  config.unobserved_weight = 0.0f;
  CHECK_THROWS_WITH(vr::validate(config), Catch::Contains("unobserved-weight"));
  config.unobserved_weight = std::nanf("");
  CHECK_THROWS_AS(vr::validate(config), vr::InvalidInput);
  config.unobserved_weight = 1.0f;
  config.reg_exponent = -0.5f;
  CHECK_THROWS_WITH(vr::validate(config), Catch::Contains("reg-exponent"));
  config.reg_exponent = 2.5f;
  CHECK_THROWS_AS(vr::validate(config), vr::InvalidInput);
  config.reg_exponent = 2.0f;
  CHECK_NOTHROW(vr::validate(config));
}

TEST_CASE("iALS weights: a model records them as format 3, a default model stays format 2") {
  const auto ratings = random_ratings(20, 15, 3);
  vr::TrainConfig config;
  config.factors = 4;
  config.iterations = 2;
  const auto format_of = [](const std::string& bytes) {
    return static_cast<unsigned>(static_cast<unsigned char>(bytes[8]));
  };
  std::ostringstream plain(std::ios::binary);
  vr::write_model(plain, vr::train_model(ratings, vr::ModelKind::Als, config, {}));
  CHECK(format_of(plain.str()) == 2);
  std::istringstream plain_in(plain.str(), std::ios::binary);
  const auto plain_back = vr::read_model(plain_in, "plain");
  CHECK(plain_back.info.config.unobserved_weight == 1.0f);
  CHECK(plain_back.info.config.reg_exponent == 0.0f);

  config.unobserved_weight = 0.125f;
  config.reg_exponent = 0.75f;
  const auto model = vr::train_model(ratings, vr::ModelKind::Als, config, {});
  std::ostringstream ials(std::ios::binary);
  vr::write_model(ials, model);
  CHECK(format_of(ials.str()) == 3);
  std::istringstream ials_in(ials.str(), std::ios::binary);
  const auto back = vr::read_model(ials_in, "ials");
  CHECK(back.info.config.unobserved_weight == 0.125f);
  CHECK(back.info.config.reg_exponent == 0.75f);
  CHECK(back.factors.user_factors == model.factors.user_factors);
  CHECK_THAT(vr::describe(back.info), Catch::Contains("alpha0:          0.125"));

  // The streamed writer (distributed training's) writes the same bytes.
  std::ostringstream streamed(std::ios::binary);
  vr::write_als_model_streamed(
      streamed, model.info,
      [&](const vr::FactorRowEmitter& emit) { emit(model.factors.user_factors.data(), 20); },
      [&](const vr::FactorRowEmitter& emit) { emit(model.factors.item_factors.data(), 15); });
  CHECK(streamed.str() == ials.str());

  // A format 3 file with the default weights is not one vr writes: refused, not misread.
  std::string forged = ials.str();
  const std::string weights = std::string(reinterpret_cast<const char*>(&config.unobserved_weight), sizeof(float)) +
                              std::string(reinterpret_cast<const char*>(&config.reg_exponent), sizeof(float));
  const auto at = forged.find(weights);
  REQUIRE(at != std::string::npos);
  const float one = 1.0f, zero = 0.0f;
  forged.replace(at, sizeof(float), std::string(reinterpret_cast<const char*>(&one), sizeof(float)));
  forged.replace(at + sizeof(float), sizeof(float), std::string(reinterpret_cast<const char*>(&zero), sizeof(float)));
  std::ostringstream reframed(std::ios::binary);  // header 20 bytes, checksum 8
  vr::write_framed(reframed, std::string_view("VRMODEL\0", 8), 3, forged.substr(20, forged.size() - 28));
  std::istringstream forged_in(reframed.str(), std::ios::binary);
  CHECK_THROWS_WITH(vr::read_model(forged_in, "forged.bin"), Catch::Contains("forged.bin") && Catch::Contains("format 3"));
}

TEST_CASE("iALS weights: hyperparameter files carry them only when set") {
  vr::HyperparameterFile file;
  std::ostringstream plain;
  vr::write_hyperparameters(plain, file);
  CHECK(plain.str().find("unobserved_weight") == std::string::npos);
  CHECK(plain.str().find("reg_exponent") == std::string::npos);
  file.config.unobserved_weight = 0.1f;
  file.config.reg_exponent = 1.0f;
  std::ostringstream written;
  vr::write_hyperparameters(written, file);
  std::istringstream input(written.str());
  const auto back = vr::read_hyperparameters(input, "best.conf");
  CHECK(back.config.unobserved_weight == 0.1f);
  CHECK(back.config.reg_exponent == 1.0f);
  std::istringstream bad("reg_exponent = 3\n");
  CHECK_THROWS_WITH(vr::read_hyperparameters(bad, "bad.conf"), Catch::Contains("bad.conf") && Catch::Contains("reg-exponent"));
}
