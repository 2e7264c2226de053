#include "vr/als.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>

#include "vr/errors.h"
#include "vr/parallel.h"

namespace vr {
namespace {

// Rows handed to a thread at a time: small enough to balance, large enough that the atomic
// counter is not contended. Results never depend on it.
constexpr std::size_t kRowsPerBlock = 128;

using VectorMap = Eigen::Map<Eigen::VectorXf>;
using ConstVectorMap = Eigen::Map<const Eigen::VectorXf>;

// splitmix64: a tiny, well-mixed generator whose output is the same on every platform
// (std::uniform_real_distribution is not specified bit for bit).
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  // Jumps over `count` outputs (the state advances by a constant per output).
  void skip(std::uint64_t count) { state_ += count * 0x9e3779b97f4a7c15ULL; }
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 24 bits, exactly representable as float.
  float next_unit_float() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }

 private:
  std::uint64_t state_;
};

// The implicit library's convention: a positive confidence means preference 1, a negative
// one preference 0 with confidence |c|.
inline float preference_weight(float confidence) { return confidence > 0 ? confidence : 0.0f; }

// Brings the next rows' factors towards L1 while the current one is processed: the rows are
// scattered across a matrix that does not fit in L2, and the loop is latency-bound otherwise.
inline void prefetch_row(const float* row, Eigen::Index factors) {
  const char* bytes = reinterpret_cast<const char*>(row);
  const std::size_t length = static_cast<std::size_t>(factors) * sizeof(float);
  for (std::size_t offset = 0; offset < length; offset += 64) __builtin_prefetch(bytes + offset);
}

// One row's conjugate-gradient solve (implicit's _solve_cg): A x = b with
// A = gram + sum (|c|-1) y yT, b = sum p c y, warm-started from x. Factors is a compile-time
// size for the common factor counts, so the vectors live in registers; Eigen::Dynamic
// handles the rest. Returns CgRowOutcome::Stopped when the step guard ended it (see below).
template <int Factors>
CgRowOutcome solve_row_cg(const Eigen::MatrixXf& gram_dynamic, const FactorMatrix& fixed, const SparseMatrix& confidence,
                  std::uint32_t row, int cg_steps, float* x_data, const RowTerms& terms) {
  using Vector = Eigen::Matrix<float, Factors, 1>;
  using Matrix = Eigen::Matrix<float, Factors, Factors>;
  const Eigen::Index factors = fixed.cols();
  const Eigen::Map<const Matrix> gram(gram_dynamic.data(), factors, factors);
  Eigen::Map<Vector> x(x_data, factors);
  const std::uint64_t begin = confidence.row_offsets[row];
  const std::uint64_t end = confidence.row_offsets[row + 1];
  const std::uint32_t* indices = confidence.col_indices.data();
  const float* values = confidence.values.data();
  const float* fixed_data = fixed.data();
  auto fixed_row = [&](std::uint64_t k) { return fixed_data + static_cast<std::size_t>(indices[k]) * static_cast<std::size_t>(factors); };

  // The row's own lambda, when the Gram matrix holds none (frequency-scaled regularisation);
  // skipped at 0 so that implicit's system is computed exactly as before.
  const float extra_regularization = terms.extra_regularization;
  const float unobserved_weight = terms.unobserved_weight;
  // residual = b - A x, with A x computed without forming A.
  Vector residual = -(gram * x);
  if (extra_regularization != 0.0f) residual -= extra_regularization * x;
  for (std::uint64_t k = begin; k < end; ++k) {
    if (k + 2 < end) prefetch_row(fixed_row(k + 2), factors);
    const float c = values[k];
    const Eigen::Map<const Vector> y(fixed_row(k), factors);
    residual += (preference_weight(c) - (std::fabs(c) - unobserved_weight) * y.dot(x)) * y;
  }
  Vector direction = residual;
  float residual_squared = residual.squaredNorm();
  if (residual_squared < 1e-20f) return CgRowOutcome::Completed;

  Vector product(factors);
  for (int step = 0; step < cg_steps; ++step) {
    product.noalias() = gram * direction;
    if (extra_regularization != 0.0f) product += extra_regularization * direction;
    for (std::uint64_t k = begin; k < end; ++k) {
      if (k + 2 < end) prefetch_row(fixed_row(k + 2), factors);
      const float c = std::fabs(values[k]);
      const Eigen::Map<const Vector> y(fixed_row(k), factors);
      product += ((c - unobserved_weight) * y.dot(direction)) * y;
    }
    // CG assumes A positive definite. With lambda = 0, or confidences below 1 (alpha < 1, log
    // scaling of small counts, dislikes), A can be indefinite: p^T A p <= 0 would step along
    // a direction of non-positive curvature, and a NaN or infinity would spread to every row
    // solved against this one. The row keeps the last finite x instead.
    const float curvature = direction.dot(product);
    if (!(curvature > 0.0f) || !std::isfinite(curvature) || !std::isfinite(residual_squared)) {
      return CgRowOutcome::Stopped;
    }
    const float step_size = residual_squared / curvature;
    if (!std::isfinite(step_size)) return CgRowOutcome::Stopped;
    x += step_size * direction;
    residual -= step_size * product;
    const float new_residual_squared = residual.squaredNorm();
    if (!std::isfinite(new_residual_squared)) return CgRowOutcome::Stopped;
    if (new_residual_squared < 1e-20f) break;
    direction = residual + (new_residual_squared / residual_squared) * direction;
    residual_squared = new_residual_squared;
  }
  return CgRowOutcome::Completed;
}

using CgRowSolver = CgRowOutcome (*)(const Eigen::MatrixXf&, const FactorMatrix&, const SparseMatrix&, std::uint32_t, int,
                                     float*, const RowTerms&);

CgRowSolver cg_solver_for(Eigen::Index factors) {
  switch (factors) {
    case 8: return &solve_row_cg<8>;
    case 16: return &solve_row_cg<16>;
    case 20: return &solve_row_cg<20>;
    case 32: return &solve_row_cg<32>;
    case 48: return &solve_row_cg<48>;
    case 64: return &solve_row_cg<64>;
    case 100: return &solve_row_cg<100>;
    case 128: return &solve_row_cg<128>;
    default: return &solve_row_cg<Eigen::Dynamic>;
  }
}

void accumulate_row_system(const Eigen::MatrixXf& gram, const FactorMatrix& fixed,
                           const std::uint32_t* indices, const float* confidences, std::size_t count,
                           const RowTerms& terms, Eigen::MatrixXf& system, Eigen::VectorXf& rhs) {
  const Eigen::Index factors = fixed.cols();
  system = gram;
  if (terms.extra_regularization != 0.0f) system.diagonal().array() += terms.extra_regularization;
  rhs.setZero(factors);
  for (std::size_t k = 0; k < count; ++k) {
    const float c = confidences[k];
    const ConstVectorMap y(fixed.row(indices[k]).data(), factors);
    rhs += preference_weight(c) * y;
    system.selfadjointView<Eigen::Lower>().rankUpdate(y, std::fabs(c) - terms.unobserved_weight);
  }
  system.triangularView<Eigen::StrictlyUpper>() = system.transpose();
}

Eigen::VectorXf solve_exact(const Eigen::MatrixXf& system, const Eigen::VectorXf& rhs) {
  Eigen::LLT<Eigen::MatrixXf> cholesky(system);
  if (cholesky.info() != Eigen::Success) {
    throw NumericalError(
        "the least-squares system is not positive definite (confidences below 1 or negative "
        "ratings outweigh the regularisation); use a larger --regularization");
  }
  return cholesky.solve(rhs);
}

}  // namespace

std::string to_string(Solver solver) {
  return solver == Solver::Cholesky ? "cholesky" : "cg";
}

std::string to_string(ConfidenceScaling scaling) {
  switch (scaling) {
    case ConfidenceScaling::Log: return "log";
    case ConfidenceScaling::Binary: return "binary";
    case ConfidenceScaling::Raw: break;
  }
  return "raw";
}

Solver parse_solver(const std::string& text) {
  if (text == "cg") return Solver::ConjugateGradient;
  if (text == "cholesky") return Solver::Cholesky;
  throw InvalidInput("unknown solver '" + text + "' (expected cg or cholesky)");
}

ConfidenceScaling parse_scaling(const std::string& text) {
  if (text == "raw") return ConfidenceScaling::Raw;
  if (text == "log") return ConfidenceScaling::Log;
  if (text == "binary") return ConfidenceScaling::Binary;
  throw InvalidInput("unknown scaling '" + text + "' (expected raw, log or binary)");
}

void validate(const TrainConfig& config) {
  if (config.factors < 1 || config.factors > 4096) throw InvalidInput("factors must be between 1 and 4096");
  if (!(config.regularization >= 0) || !std::isfinite(config.regularization)) {
    throw InvalidInput("regularization must be a finite number >= 0");
  }
  if (!(config.alpha > 0) || !std::isfinite(config.alpha)) throw InvalidInput("alpha must be a finite number > 0");
  if (config.iterations < 0) throw InvalidInput("iterations must be >= 0");
  if (config.cg_steps < 1) throw InvalidInput("cg-steps must be >= 1");
  if (!(config.eps > 0) || !std::isfinite(config.eps)) throw InvalidInput("eps must be a finite number > 0");
  if (config.threads < 0) throw InvalidInput("threads must be >= 0 (0 = all cores)");
  if (!(config.unobserved_weight > 0) || !std::isfinite(config.unobserved_weight)) {
    throw InvalidInput("unobserved-weight must be a finite number > 0");
  }
  if (!(config.reg_exponent >= 0 && config.reg_exponent <= 2)) {
    throw InvalidInput("reg-exponent must be between 0 and 2");
  }
}

SystemWeights system_weights(const TrainConfig& config) {
  return SystemWeights{config.regularization, config.unobserved_weight, config.reg_exponent};
}

bool is_implicit(const SystemWeights& weights) {
  return weights.unobserved_weight == 1.0f && weights.reg_exponent == 0.0f;
}

float row_regularization(const SystemWeights& weights, std::uint64_t ratings, std::uint64_t other_side_rows) {
  // x^0 is 1 for every x, but the exact constant lambda must not depend on pow's rounding.
  if (weights.reg_exponent == 0.0f) return weights.regularization;
  const double frequency =
      static_cast<double>(ratings) + static_cast<double>(weights.unobserved_weight) * static_cast<double>(other_side_rows);
  return static_cast<float>(static_cast<double>(weights.regularization) *
                            std::pow(frequency, static_cast<double>(weights.reg_exponent)));
}

RowTerms row_terms(const SystemWeights& weights, std::uint64_t ratings, std::uint64_t other_side_rows) {
  RowTerms terms;
  terms.unobserved_weight = weights.unobserved_weight;
  if (weights.reg_exponent != 0.0f) terms.extra_regularization = row_regularization(weights, ratings, other_side_rows);
  return terms;
}

float confidence_of(float rating, const TrainConfig& config) {
  float scaled = rating;
  if (config.scaling == ConfidenceScaling::Log) {
    scaled = std::copysign(std::log1p(std::fabs(rating) / config.eps), rating);
  } else if (config.scaling == ConfidenceScaling::Binary) {
    scaled = std::copysign(1.0f, rating);
  }
  return config.alpha * scaled;
}

SparseMatrix confidence_matrix(const SparseMatrix& ratings, const TrainConfig& config) {
  SparseMatrix confidence = ratings;
  for (float& value : confidence.values) value = confidence_of(value, config);
  return confidence;
}

FactorMatrix initial_factors(std::uint32_t rows, int factors, std::uint64_t seed) {
  SplitMix64 generator(seed);
  FactorMatrix result(rows, factors);
  float* data = result.data();
  for (Eigen::Index i = 0; i < result.size(); ++i) data[i] = generator.next_unit_float() * 0.01f;
  return result;
}

FactorMatrix initial_factor_rows(std::uint64_t first_row, std::uint32_t rows, int factors, std::uint64_t seed) {
  SplitMix64 generator(seed);
  generator.skip(first_row * static_cast<std::uint64_t>(factors));
  FactorMatrix result(rows, factors);
  float* data = result.data();
  for (Eigen::Index i = 0; i < result.size(); ++i) data[i] = generator.next_unit_float() * 0.01f;
  return result;
}

Eigen::MatrixXf regularized_gram(const FactorMatrix& fixed, float regularization) {
  return shared_gram(fixed, SystemWeights{regularization, 1.0f, 0.0f});
}

Eigen::MatrixXf shared_gram(const FactorMatrix& fixed, const SystemWeights& weights) {
  const Eigen::Index factors = fixed.cols();
  Eigen::MatrixXf gram = Eigen::MatrixXf::Zero(factors, factors);
  gram.selfadjointView<Eigen::Lower>().rankUpdate(fixed.transpose());
  gram.triangularView<Eigen::StrictlyUpper>() = gram.transpose();
  add_shared_terms(gram, weights);
  return gram;
}

void add_shared_terms(Eigen::MatrixXf& gram, const SystemWeights& weights) {
  if (weights.unobserved_weight != 1.0f) gram *= weights.unobserved_weight;
  if (weights.reg_exponent == 0.0f) gram.diagonal().array() += weights.regularization;
}

CgRowOutcome solve_row_conjugate_gradient(const Eigen::MatrixXf& gram, const FactorMatrix& fixed,
                                          const SparseMatrix& confidence, std::uint32_t row, int cg_steps,
                                          float* x, CgKernel kernel, const RowTerms& terms) {
  const CgRowSolver solve = kernel == CgKernel::Generic ? &solve_row_cg<Eigen::Dynamic> : cg_solver_for(fixed.cols());
  return solve(gram, fixed, confidence, row, cg_steps, x, terms);
}

std::uint64_t solve_half_iteration(const SparseMatrix& confidence, const FactorMatrix& fixed,
                                   float regularization, Solver solver, int cg_steps, int threads,
                                   FactorMatrix& solved) {
  return solve_half_iteration(confidence, fixed, SystemWeights{regularization, 1.0f, 0.0f}, solver, cg_steps,
                              threads, solved);
}

std::uint64_t solve_half_iteration(const SparseMatrix& confidence, const FactorMatrix& fixed,
                                   const SystemWeights& weights, Solver solver, int cg_steps, int threads,
                                   FactorMatrix& solved) {
  return solve_half_iteration_with_gram(confidence, fixed, shared_gram(fixed, weights), solver, cg_steps, threads,
                                        solved, weights);
}

std::uint64_t solve_half_iteration_with_gram(const SparseMatrix& confidence, const FactorMatrix& fixed,
                                             const Eigen::MatrixXf& gram, Solver solver, int cg_steps, int threads,
                                             FactorMatrix& solved, const SystemWeights& weights,
                                             std::uint64_t other_side_rows) {
  const Eigen::Index factors = fixed.cols();
  const std::uint64_t whole_other_side = other_side_rows > 0 ? other_side_rows : confidence.cols;
  const CgRowSolver solve_cg = cg_solver_for(factors);
  std::atomic<std::uint64_t> stopped_rows{0};
  parallel_for_blocks(confidence.rows, kRowsPerBlock, threads, [&](std::size_t begin, std::size_t end) {
    Eigen::VectorXf rhs(factors);
    Eigen::MatrixXf system(factors, factors);
    std::uint64_t stopped_in_block = 0;
    for (std::size_t row = begin; row < end; ++row) {
      VectorMap x(solved.row(static_cast<Eigen::Index>(row)).data(), factors);
      const std::uint64_t count = confidence.row_size(static_cast<std::uint32_t>(row));
      if (count == 0) {
        x.setZero();
        continue;
      }
      const RowTerms terms = row_terms(weights, count, whole_other_side);
      if (solver == Solver::ConjugateGradient) {
        if (solve_cg(gram, fixed, confidence, static_cast<std::uint32_t>(row), cg_steps, x.data(), terms) ==
            CgRowOutcome::Stopped) {
          ++stopped_in_block;
        }
      } else {
        const std::uint64_t offset = confidence.row_offsets[row];
        accumulate_row_system(gram, fixed, confidence.col_indices.data() + offset,
                              confidence.values.data() + offset, count, terms, system, rhs);
        x = solve_exact(system, rhs);
      }
    }
    if (stopped_in_block > 0) stopped_rows += stopped_in_block;
  });
  return stopped_rows.load();
}

namespace {

// The loss for implicit's weights (kIals false: compiled exactly as it always was, so its
// figures round as they always have) or for any weights (kIals true).
template <bool kIals>
double weighted_training_loss(const SparseMatrix& confidence, const FactorMatrix& user_factors,
                              const FactorMatrix& item_factors, const SystemWeights& weights, int threads) {
  const float regularization = weights.regularization;
  const bool row_lambdas = kIals && weights.reg_exponent != 0.0f;
  const Eigen::MatrixXf item_gram = regularized_gram(item_factors, 0.0f);
  const Eigen::Index factors = item_factors.cols();
  // Fixed blocks, each summed on its own and then added in block order: the same result
  // whatever the thread count.
  constexpr std::size_t kBlock = 1024;
  const std::size_t blocks = (confidence.rows + kBlock - 1) / kBlock;
  struct Partial {
    double weighted_error = 0, observed_squared = 0, all_squared = 0, confidence_sum = 0, user_norm = 0;
    double user_penalty = 0;  // sum of lambda_row |x_u|^2, with frequency-scaled regularisation
  };
  std::vector<Partial> partials(blocks);
  parallel_for_blocks(confidence.rows, kBlock, resolve_thread_count(threads), [&](std::size_t begin, std::size_t end) {
    Partial& partial = partials[begin / kBlock];
    Eigen::VectorXf projected(factors);
    for (std::size_t row = begin; row < end; ++row) {
      const ConstVectorMap x(user_factors.row(static_cast<Eigen::Index>(row)).data(), factors);
      projected.noalias() = item_gram * x;
      partial.all_squared += static_cast<double>(x.dot(projected));
      partial.user_norm += static_cast<double>(x.squaredNorm());
      if constexpr (kIals) {
        if (row_lambdas) {
          partial.user_penalty += static_cast<double>(row_regularization(
                                    weights, confidence.row_size(static_cast<std::uint32_t>(row)), confidence.cols)) *
                                static_cast<double>(x.squaredNorm());
        }
      }
      for (std::uint64_t k = confidence.row_offsets[row]; k < confidence.row_offsets[row + 1]; ++k) {
        const float c = confidence.values[k];
        const ConstVectorMap y(item_factors.row(confidence.col_indices[k]).data(), factors);
        const double score = static_cast<double>(x.dot(y));
        const double preference = c > 0 ? 1.0 : 0.0;
        const double weight = std::fabs(static_cast<double>(c));
        partial.weighted_error += weight * (preference - score) * (preference - score);
        partial.observed_squared += score * score;
        partial.confidence_sum += weight;
      }
    }
  });
  Partial total;
  for (const auto& partial : partials) {
    total.weighted_error += partial.weighted_error;
    total.observed_squared += partial.observed_squared;
    total.all_squared += partial.all_squared;
    total.confidence_sum += partial.confidence_sum;
    total.user_norm += partial.user_norm;
    if constexpr (kIals) total.user_penalty += partial.user_penalty;
  }
  const double item_norm = static_cast<double>(item_factors.squaredNorm());
  // implicit's calculate_loss adds |c| for every observed entry, the constant term of
  // c (1 - s)^2, also for a dislike, whose preference is 0: a dislike's term is |c| (s^2 + 1),
  // not |c| s^2. Kept so that figures compare with implicit's (docs/als.md, "Loss").
  double loss = 0;
  double denominator = 0;
  const double observed_sum = total.confidence_sum;
  const double all_cells = static_cast<double>(confidence.rows) * static_cast<double>(confidence.cols);
  const double observed_cells = static_cast<double>(confidence.nnz());
  if constexpr (!kIals) {
    loss = total.weighted_error + (total.all_squared - total.observed_squared) +
           regularization * (total.user_norm + item_norm);
    denominator = observed_sum + all_cells - observed_cells;
  } else {
    // Every unobserved cell weighs unobserved_weight, and each row's |x|^2 its own lambda.
    const double unobserved_weight = weights.unobserved_weight;
    double penalty = regularization * (total.user_norm + item_norm);
    if (row_lambdas) {
      std::vector<std::uint64_t> item_ratings(confidence.cols, 0);
      for (const std::uint32_t column : confidence.col_indices) ++item_ratings[column];
      double item_penalty = 0;
      for (std::uint32_t item = 0; item < confidence.cols; ++item) {
        item_penalty += static_cast<double>(row_regularization(weights, item_ratings[item], confidence.rows)) *
                        static_cast<double>(item_factors.row(item).squaredNorm());
      }
      penalty = total.user_penalty + item_penalty;
    }
    loss = total.weighted_error + unobserved_weight * (total.all_squared - total.observed_squared) + penalty;
    denominator = observed_sum + unobserved_weight * (all_cells - observed_cells);
  }
  double dislike_confidence = 0;
  for (const float c : confidence.values) {
    if (c < 0) dislike_confidence -= static_cast<double>(c);
  }
  if (dislike_confidence > 0) loss += dislike_confidence;
  return denominator > 0 ? loss / denominator : 0.0;
}

}  // namespace

double training_loss(const SparseMatrix& confidence, const FactorMatrix& user_factors,
                     const FactorMatrix& item_factors, float regularization, int threads) {
  return weighted_training_loss<false>(confidence, user_factors, item_factors, SystemWeights{regularization, 1.0f, 0.0f},
                                       threads);
}

double training_loss(const SparseMatrix& confidence, const FactorMatrix& user_factors,
                     const FactorMatrix& item_factors, const SystemWeights& weights, int threads) {
  return is_implicit(weights)
             ? weighted_training_loss<false>(confidence, user_factors, item_factors, weights, threads)
             : weighted_training_loss<true>(confidence, user_factors, item_factors, weights, threads);
}

Eigen::MatrixXf row_system_matrix(const Eigen::MatrixXf& gram, const FactorMatrix& fixed,
                                  const std::vector<std::pair<std::uint32_t, float>>& entries,
                                  const RowTerms& terms) {
  std::vector<std::uint32_t> indices;
  std::vector<float> confidences;
  for (const auto& [index, c] : entries) {
    indices.push_back(index);
    confidences.push_back(c);
  }
  Eigen::MatrixXf system;
  Eigen::VectorXf rhs;
  accumulate_row_system(gram, fixed, indices.data(), confidences.data(), indices.size(), terms, system, rhs);
  return system;
}

Eigen::VectorXf solve_row_exact(const Eigen::MatrixXf& gram, const FactorMatrix& fixed,
                                const std::vector<std::pair<std::uint32_t, float>>& entries,
                                const RowTerms& terms) {
  if (entries.empty()) return Eigen::VectorXf::Zero(fixed.cols());
  std::vector<std::uint32_t> indices;
  std::vector<float> confidences;
  for (const auto& [index, c] : entries) {
    if (index >= fixed.rows()) throw InvalidInput("video index out of range in fold-in");
    indices.push_back(index);
    confidences.push_back(c);
  }
  Eigen::MatrixXf system;
  Eigen::VectorXf rhs;
  accumulate_row_system(gram, fixed, indices.data(), confidences.data(), indices.size(), terms, system, rhs);
  return solve_exact(system, rhs);
}

void check_finite(const FactorMatrix& factors, const std::string& what) {
  if (!factors.allFinite()) {
    throw NumericalError(what + " contain NaN or infinite values; the model was not saved "
                         "(try a larger --regularization or a smaller --alpha)");
  }
}

AlsFactors train_als(SparseMatrix ratings, const TrainConfig& config, const IterationCallback& on_iteration) {
  validate(config);
  for (float& value : ratings.values) {
    value = confidence_of(value, config);
    // An overflowing confidence would only stop every CG row it touches (the step guard),
    // leaving a model of starting values: refuse it here.
    if (!std::isfinite(value)) {
      throw NumericalError("confidences alpha * r are NaN or infinite in float (alpha " + std::to_string(config.alpha) +
                           "); the model was not saved (use a smaller --alpha)");
    }
  }
  const SparseMatrix& user_confidence = ratings;
  const SparseMatrix item_confidence = user_confidence.transposed();
  const int threads = resolve_thread_count(config.threads);
  const SystemWeights weights = system_weights(config);

  AlsFactors model;
  // One generator for both matrices, users first, as implicit draws them.
  {
    FactorMatrix both = initial_factors(ratings.rows + ratings.cols, config.factors, config.seed);
    model.user_factors = both.topRows(ratings.rows);
    model.item_factors = both.bottomRows(ratings.cols);
  }
  for (std::uint32_t u = 0; u < ratings.rows; ++u) {
    if (user_confidence.row_size(u) == 0) model.user_factors.row(u).setZero();
  }
  for (std::uint32_t i = 0; i < ratings.cols; ++i) {
    if (item_confidence.row_size(i) == 0) model.item_factors.row(i).setZero();
  }

  for (int iteration = 1; iteration <= config.iterations; ++iteration) {
    const auto start = std::chrono::steady_clock::now();
    IterationReport report;
    report.cg_stopped_rows = solve_half_iteration(user_confidence, model.item_factors, weights, config.solver,
                                                  config.cg_steps, threads, model.user_factors);
    report.cg_stopped_rows += solve_half_iteration(item_confidence, model.user_factors, weights, config.solver,
                                                   config.cg_steps, threads, model.item_factors);
    report.iteration = iteration;
    report.factors = &model;
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    report.loss = config.compute_loss
                      ? training_loss(user_confidence, model.user_factors, model.item_factors, weights, threads)
                      : std::numeric_limits<double>::quiet_NaN();
    if (on_iteration) on_iteration(report);
  }
  check_finite(model.user_factors, "user factors");
  check_finite(model.item_factors, "video factors");
  return model;
}

}  // namespace vr
