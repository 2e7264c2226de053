// The tuner's wall-clock budget (vr-evaluate --tune-seconds): which trials may start and when a
// running one must stop, so a search ends within its budget rather than at its last trial's end.
//
//   - A trial starts only when its predicted time fits in what is left. The prediction is the
//     trial's work (trial_work: floating-point operations of its training and scoring) times
//     the seconds per unit of work the trials finished so far took; before any has finished
//     every trial may start.
//   - A running trial stops after the iteration during which the budget ran out (the check
//     run_trial gives it throws TrialStopped from the training's iteration callback); its
//     partial scores are dropped.
//   - The budget counts the trials it skipped and stopped, for the search's result.
//   - It keeps time for the training that follows the search (vr-evaluate trains the best
//     setting on the whole training part): the search sets that run's work as the reserve
//     whenever its best changes, a trial starts only when the trial and then the larger of the
//     reserve and the trial's own final training fit, and the search counts as spent the
//     reserve's predicted time before the end. The prediction uses the trials' one-thread
//     speed, so with more threads the final training ends sooner than reserved.
//
// A budget of 0 is none: every trial starts and none stops, and the search is deterministic.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>

#include "vr/als.h"
#include "vr/ratings.h"

namespace vr {

// Thrown by a trial's budget check (TuningBudget::run_trial, stop_if_spent); run_trial catches it.
struct TrialStopped {};

class TuningBudget {
 public:
  // Seconds since any fixed moment; the default is std::chrono::steady_clock's.
  using Clock = std::function<double()>;

  // `seconds` 0 = no budget; the clock starts now. `clock` (tests): time as the budget sees it.
  explicit TuningBudget(double seconds, Clock clock = {});

  double elapsed() const;
  // The budget is set and spent: what is left is the reserve's predicted time or less.
  bool spent() const;
  // A trial of `work` units, whose setting would take `final_work` units to train after the
  // search, may start: no budget, no trial finished yet to predict from, or the trial followed
  // by the larger of the reserve and `final_work` is predicted to end within the budget.
  bool fits(double work, double final_work = 0) const;
  // The work of the training that follows the search (final_training_work of the best setting
  // so far; thread-safe).
  void reserve(double final_work);
  // Throws TrialStopped when the budget is spent.
  void stop_if_spent() const;
  // A finished trial's work and wall seconds, for the predictions (thread-safe).
  void record(double work, double seconds);

  // Runs one trial of `work` units (`final_work` as for fits) under the budget (thread-safe) and
  // returns its seconds, or nothing when the budget skipped it (fits said no; `trial` is not
  // called) or stopped it (the check `trial` is given threw TrialStopped; `trial` must call it
  // after each training iteration and let it propagate). A `must_run` trial starts whatever
  // the prediction, and its check never throws. A finished trial is recorded for the
  // predictions.
  std::optional<double> run_trial(double work, double final_work, bool must_run,
                                  const std::function<void(const std::function<void()>& check)>& trial);
  // Trials run_trial skipped and stopped so far.
  int skipped() const { return skipped_; }
  int stopped() const { return stopped_; }

 private:
  double seconds_;
  Clock clock_;
  double start_;
  mutable std::mutex mutex_;
  double recorded_work_ = 0, recorded_seconds_ = 0, reserved_work_ = 0;
  // Seconds per unit of work of the trials finished so far, 0 before any; mutex_ held.
  double rate() const { return recorded_work_ > 0 ? recorded_seconds_ / recorded_work_ : 0.0; }
  std::atomic<int> skipped_{0}, stopped_{0};
};

// The work of one trial: training `config` on `train` for config.iterations iterations and
// scoring every user against every video `scorings` times, on each of `folds` validation folds,
// in floating-point operations (an estimate: Gram matrices, the CG steps or Cholesky solves,
// the dense scoring). Only its ratio between settings matters.
double trial_work(const SparseMatrix& train, const TrainConfig& config, int scorings, int folds);

// The work of the training that follows the search, as trial_work counts it: `config` trained
// once on the whole training part `train` and scored once. What a trial's `final_work` and the
// reserve (TuningBudget::reserve) are.
double final_training_work(const SparseMatrix& train, const TrainConfig& config);

}  // namespace vr
