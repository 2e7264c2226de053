// Implicit-feedback alternating least squares, as docs/als.md
// specifies (the `implicit` 0.7 library's semantics: Hu, Koren & Volinsky 2008 with the
// conjugate-gradient solver of Takacs, Pilaszy & Tikk 2011).
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "vr/factor_matrix.h"
#include "vr/ratings.h"

namespace vr {

// How each half-iteration solves its least-squares systems.
enum class Solver {
  ConjugateGradient,  // cg_steps CG steps warm-started from the current factor (default)
  Cholesky,           // exact solve of every system
};

// How a rating r becomes a confidence c = alpha * scale(r).
enum class ConfidenceScaling {
  Raw,  // scale(r) = r
  Log,  // scale(r) = sign(r) * log(1 + |r| / eps), for heavy-tailed counts
  Binary,  // scale(r) = sign(r): every positive pair alike, however large r
};

std::string to_string(Solver solver);
std::string to_string(ConfidenceScaling scaling);
// Parse "cg"/"cholesky" and "raw"/"log"/"binary"; throw InvalidInput otherwise.
Solver parse_solver(const std::string& text);
ConfidenceScaling parse_scaling(const std::string& text);

// Hyperparameters of one training run. Defaults are the original design's.
struct TrainConfig {
  int factors = 20;                  // latent dimensions, >= 1
  float regularization = 0.1f;       // lambda, >= 0; scaled per row only when reg_exponent > 0
  float alpha = 1.0f;                // confidence c_ui = alpha * scale(r_ui), > 0
  int iterations = 20;               // full (users then videos) iterations, >= 0
  Solver solver = Solver::ConjugateGradient;
  int cg_steps = 3;                  // CG steps per row and half-iteration, >= 1
  ConfidenceScaling scaling = ConfidenceScaling::Raw;
  float eps = 1.0f;                  // the log scaling's eps, > 0
  std::uint64_t seed = 42;           // seeds the uniform [0, 0.01) initialisation
  int threads = 0;                   // worker threads, 0 = all cores; never changes the result
  bool compute_loss = true;          // compute the training loss after each iteration
  float unobserved_weight = 1.0f;    // alpha_0: weight of every unobserved cell, > 0 (1 = implicit's)
  float reg_exponent = 0.0f;         // nu: a row's lambda is lambda * (n + alpha_0 * N)^nu, in [0, 2]
                                     // (0 = implicit's constant lambda)
};

// The weights that shape every row's least-squares system (docs/als.md, "Unobserved weight and
// frequency-scaled regularisation", after Rendle et al. 2021). For a row with n ratings, N
// rows on the other side and the other side's factors Y:
//   A = unobserved_weight * YtY + lambda_row I + sum (|c| - unobserved_weight) y yT
//   lambda_row = regularization * (n + unobserved_weight * N)^reg_exponent
// The defaults (1, 0) are implicit's system, bit for bit.
struct SystemWeights {
  float regularization = 0.1f;     // lambda, >= 0
  float unobserved_weight = 1.0f;  // alpha_0, > 0
  float reg_exponent = 0.0f;       // nu, >= 0
};

// The config's weights.
SystemWeights system_weights(const TrainConfig& config);

// True when the weights are implicit's (unobserved weight 1, constant lambda).
bool is_implicit(const SystemWeights& weights);

// What one row's system adds to the shared Gram matrix (shared_gram):
//   A = gram + extra_regularization I + sum (|c| - unobserved_weight) y yT.
struct RowTerms {
  float unobserved_weight = 1.0f;     // subtracted from each observed |c|
  float extra_regularization = 0.0f;  // the row's lambda when the shared Gram matrix has none
};

// A row's terms: with reg_exponent 0 lambda is in the shared Gram matrix and
// extra_regularization is 0; otherwise it is lambda_row for `ratings` ratings in the row and
// `other_side_rows` rows on the other side (N).
RowTerms row_terms(const SystemWeights& weights, std::uint64_t ratings, std::uint64_t other_side_rows);

// lambda_row = regularization * (ratings + unobserved_weight * other_side_rows)^reg_exponent,
// exactly `regularization` when reg_exponent is 0.
float row_regularization(const SystemWeights& weights, std::uint64_t ratings, std::uint64_t other_side_rows);

// Throws InvalidInput naming the first out-of-range field.
void validate(const TrainConfig& config);

struct AlsFactors;

// Progress of one iteration, reported to the caller.
struct IterationReport {
  int iteration = 0;     // 1-based
  double loss = 0;       // training loss (NaN when compute_loss is off)
  double seconds = 0;    // wall time of this iteration (excluding the loss)
  std::uint64_t cg_stopped_rows = 0;  // user and video rows whose CG the step guard stopped
                                      // (p^T A p <= 0 or a value not finite); 0 for Cholesky
  const AlsFactors* factors = nullptr;  // train_als: the factors after this iteration, valid during
                                        // the call (the tuner scores several iteration counts in one run)
};

using IterationCallback = std::function<void(const IterationReport&)>;

// The two factor matrices ALS learns.
struct AlsFactors {
  FactorMatrix user_factors;  // n_users x factors
  FactorMatrix item_factors;  // n_videos x factors
};

// The confidence of one rating: alpha * scale(r), sign kept.
float confidence_of(float rating, const TrainConfig& config);

// The confidence matrix C = alpha * scale(R), users x videos (signs kept: negative = dislike).
SparseMatrix confidence_matrix(const SparseMatrix& ratings, const TrainConfig& config);

// Uniform [0, 0.01) float32 initial factors from `seed` (rows x factors).
FactorMatrix initial_factors(std::uint32_t rows, int factors, std::uint64_t seed);
// Rows [first_row, first_row + rows) of initial_factors(n, factors, seed) for any n beyond
// them, without generating the rows before (each process of a distributed run draws its own).
FactorMatrix initial_factor_rows(std::uint64_t first_row, std::uint32_t rows, int factors, std::uint64_t seed);

// Trains ALS on a users x videos ratings matrix (taken by value: move it in to save a copy;
// it becomes the confidence matrix in place). Calls on_iteration after every iteration.
// Throws NumericalError if a factor ends up NaN or infinite, or (Cholesky) a system is not
// positive definite.
AlsFactors train_als(SparseMatrix ratings, const TrainConfig& config,
                     const IterationCallback& on_iteration = {});

// One half-iteration: recomputes every row of `solved` (e.g. user factors) from the
// confidence matrix `confidence` (rows of `solved` x rows of `fixed`) and the fixed factors.
// Rows with no entries become zero. Returns the number of rows whose CG the step guard
// stopped (see solve_row_conjugate_gradient); always 0 for Cholesky.
std::uint64_t solve_half_iteration(const SparseMatrix& confidence, const FactorMatrix& fixed,
                                   float regularization, Solver solver, int cg_steps, int threads,
                                   FactorMatrix& solved);
// The same with iALS's weights (SystemWeights); N is confidence.cols.
std::uint64_t solve_half_iteration(const SparseMatrix& confidence, const FactorMatrix& fixed,
                                   const SystemWeights& weights, Solver solver, int cg_steps, int threads,
                                   FactorMatrix& solved);

// solve_half_iteration with the shared Gram matrix given (shared_gram over every row of the
// fixed side, for `weights`), so `fixed` needs to hold only the rows `confidence` refers to.
// `other_side_rows` is N in each row's lambda_row: the fixed side's rows in the whole model,
// which `confidence.cols` (the default, 0) is not when its columns index a subset of them.
// Returns the rows whose CG was stopped, as solve_half_iteration does.
std::uint64_t solve_half_iteration_with_gram(const SparseMatrix& confidence, const FactorMatrix& fixed,
                                             const Eigen::MatrixXf& gram, Solver solver, int cg_steps, int threads,
                                             FactorMatrix& solved, const SystemWeights& weights = {},
                                             std::uint64_t other_side_rows = 0);

// How one row's conjugate-gradient solve ended.
enum class CgRowOutcome {
  Completed,  // cg_steps steps, or the residual fell below 1e-20
  Stopped,    // the step guard ended it: p^T A p <= 0 (A not positive definite) or a value
              // was not finite; x keeps its last finite value
};

// Which compiled CG kernel solves a row.
enum class CgKernel {
  BySize,   // a kernel compiled for the factor count when there is one (8, 16, 20, 32, 48,
            // 64, 100, 128), else the generic one; what training uses
  Generic,  // the run-time-sized kernel, whatever the factor count
};

// One row's CG solve of A x = b, as solve_half_iteration runs it:
// A = gram + terms.extra_regularization I + sum (|c| - terms.unobserved_weight) y yT and
// b = sum_{c>0} c y over the row's entries of `confidence`, warm-started from x (factors
// floats, updated in place), cg_steps steps.
CgRowOutcome solve_row_conjugate_gradient(const Eigen::MatrixXf& gram, const FactorMatrix& fixed,
                                          const SparseMatrix& confidence, std::uint32_t row, int cg_steps,
                                          float* x, CgKernel kernel = CgKernel::BySize, const RowTerms& terms = {});

// The implicit library's training loss (implicit's calculate_loss, docs/als.md), from a
// confidence matrix, on `threads` threads (0 = all cores; the result does not depend on it).
double training_loss(const SparseMatrix& confidence, const FactorMatrix& user_factors,
                     const FactorMatrix& item_factors, float regularization, int threads = 0);
// The same with iALS's weights: unobserved cells weigh unobserved_weight (in the sum and in
// the denominator) and each row's factor norm its lambda_row (docs/als.md, "Loss").
double training_loss(const SparseMatrix& confidence, const FactorMatrix& user_factors,
                     const FactorMatrix& item_factors, const SystemWeights& weights, int threads = 0);

// YtY + lambda I, the Gram matrix shared by every row's system in a half-iteration.
Eigen::MatrixXf regularized_gram(const FactorMatrix& fixed, float regularization);
// unobserved_weight * YtY, plus lambda I when reg_exponent is 0 (then regularized_gram's bit
// for bit at the default weights): the part of every row's system that the rows share.
Eigen::MatrixXf shared_gram(const FactorMatrix& fixed, const SystemWeights& weights);
// Turns YtY (however it was summed) into shared_gram's matrix in place: the same operations in
// the same order, so a YtY equal bit for bit gives the same systems bit for bit.
void add_shared_terms(Eigen::MatrixXf& gram, const SystemWeights& weights);

// Solves one row's system exactly: A = gram + terms.extra_regularization I +
// sum (|c| - terms.unobserved_weight) y yT, b = sum_{c>0} c y, over the (index, confidence)
// entries. Throws NumericalError if A is not positive definite.
Eigen::VectorXf solve_row_exact(const Eigen::MatrixXf& gram, const FactorMatrix& fixed,
                                const std::vector<std::pair<std::uint32_t, float>>& entries,
                                const RowTerms& terms = {});

// The matrix A_u of solve_row_exact, for explanations (W_u = A_u^-1).
Eigen::MatrixXf row_system_matrix(const Eigen::MatrixXf& gram, const FactorMatrix& fixed,
                                  const std::vector<std::pair<std::uint32_t, float>>& entries,
                                  const RowTerms& terms = {});

// Throws NumericalError if any factor is NaN or infinite.
void check_finite(const FactorMatrix& factors, const std::string& what);

}  // namespace vr
