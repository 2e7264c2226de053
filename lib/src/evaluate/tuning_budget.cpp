#include "vr/tuning_budget.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace vr {
namespace {

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

TuningBudget::TuningBudget(double seconds, Clock clock)
    : seconds_(seconds), clock_(clock ? std::move(clock) : Clock(steady_seconds)), start_(clock_()) {}

double TuningBudget::elapsed() const { return clock_() - start_; }

bool TuningBudget::spent() const {
  if (seconds_ <= 0) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  return elapsed() >= seconds_ - reserved_work_ * rate();
}

bool TuningBudget::fits(double work, double final_work) const {
  if (seconds_ <= 0) return true;
  const double now = elapsed();
  if (now >= seconds_) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  if (recorded_work_ <= 0) return true;
  return now + (work + std::max(reserved_work_, final_work)) * rate() <= seconds_;
}

void TuningBudget::reserve(double final_work) {
  std::lock_guard<std::mutex> lock(mutex_);
  reserved_work_ = final_work;
}

void TuningBudget::stop_if_spent() const {
  if (spent()) throw TrialStopped{};
}

void TuningBudget::record(double work, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  recorded_work_ += work;
  recorded_seconds_ += seconds;
}

std::optional<double> TuningBudget::run_trial(double work, double final_work, bool must_run,
                                              const std::function<void(const std::function<void()>& check)>& trial) {
  if (!must_run && !fits(work, final_work)) {
    ++skipped_;
    return std::nullopt;
  }
  const double start = clock_();
  try {
    trial([&] {
      if (!must_run) stop_if_spent();
    });
  } catch (const TrialStopped&) {
    ++stopped_;
    return std::nullopt;
  }
  const double seconds = clock_() - start;
  record(work, seconds);
  return seconds;
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

double final_training_work(const SparseMatrix& train, const TrainConfig& config) {
  return trial_work(train, config, 1, 1);
}

}  // namespace vr
