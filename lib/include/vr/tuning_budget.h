// The tuner's wall-clock budget (vr-evaluate --tune-seconds): which trials may start and when a
// running one must stop, so a search ends within its budget rather than at its last trial's end.
//
//   - A trial starts only when its predicted time fits in what is left. The prediction is the
//     trial's work (trial_work: floating-point operations of its training and scoring) times
//     the seconds per unit of work the trials finished so far took; before any has finished
//     every trial may start.
//   - A running trial stops after the iteration during which the budget ran out (stop_if_spent
//     throws TrialStopped from the training's iteration callback); its partial scores are dropped.
//
// A budget of 0 is none: every trial starts and none stops, and the search is deterministic.
#pragma once

#include <chrono>
#include <mutex>

#include "vr/als.h"
#include "vr/ratings.h"

namespace vr {

// Thrown by TuningBudget::stop_if_spent inside a trial; the search catches it.
struct TrialStopped {};

class TuningBudget {
 public:
  // `seconds` 0 = no budget; the clock starts now.
  explicit TuningBudget(double seconds);

  double elapsed() const;
  // The budget is set and spent.
  bool spent() const;
  // A trial of `work` units may start: no budget, no trial finished yet to predict from, or the
  // prediction ends within the budget.
  bool fits(double work) const;
  // Throws TrialStopped when the budget is spent.
  void stop_if_spent() const;
  // A finished trial's work and wall seconds, for the predictions (thread-safe).
  void record(double work, double seconds);

 private:
  double seconds_;
  std::chrono::steady_clock::time_point start_;
  mutable std::mutex mutex_;
  double recorded_work_ = 0, recorded_seconds_ = 0;
};

// The work of one trial: training `config` on `train` for config.iterations iterations and
// scoring every user against every video `scorings` times, on each of `folds` validation folds,
// in floating-point operations (an estimate: Gram matrices, the CG steps or Cholesky solves,
// the dense scoring). Only its ratio between settings matters.
double trial_work(const SparseMatrix& train, const TrainConfig& config, int scorings, int folds);

}  // namespace vr
