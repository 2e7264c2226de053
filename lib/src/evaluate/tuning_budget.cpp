#include "vr/tuning_budget.h"

namespace vr {

TuningBudget::TuningBudget(double seconds) : seconds_(seconds), start_(std::chrono::steady_clock::now()) {}

double TuningBudget::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

bool TuningBudget::spent() const { return seconds_ > 0 && elapsed() >= seconds_; }

bool TuningBudget::fits(double work) const {
  if (seconds_ <= 0) return true;
  const double now = elapsed();
  if (now >= seconds_) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  if (recorded_work_ <= 0) return true;
  return now + work * (recorded_seconds_ / recorded_work_) <= seconds_;
}

void TuningBudget::stop_if_spent() const {
  if (spent()) throw TrialStopped{};
}

void TuningBudget::record(double work, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  recorded_work_ += work;
  recorded_seconds_ += seconds;
}

double trial_work(const SparseMatrix& train, const TrainConfig& config, int scorings, int folds) {
  const double rows = static_cast<double>(train.rows) + static_cast<double>(train.cols);
  const double ratings = static_cast<double>(train.nnz());
  const double f = config.factors;
  // Per iteration, both halves: the shared Gram matrix (2 n f^2 per side), then per row either
  // cg_steps products with Y^T Y plus the row's own ratings, or its own Gram terms and a
  // Cholesky factorisation.
  double iteration = 2.0 * rows * f * f;
  if (config.solver == Solver::ConjugateGradient) {
    iteration += config.cg_steps * (2.0 * rows * f * f + 8.0 * ratings * f);
  } else {
    iteration += 4.0 * ratings * f * f + rows * f * f * f / 3.0;
  }
  const double scoring = 2.0 * static_cast<double>(train.rows) * static_cast<double>(train.cols) * f;
  return folds * (config.iterations * iteration + scorings * scoring);
}

}  // namespace vr
