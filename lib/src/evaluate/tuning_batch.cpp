#include "vr/tuning_batch.h"

#include <mutex>

#include "vr/parallel.h"
#include "vr/tuning_constraint.h"

namespace vr {

std::vector<TrialResult> run_trial_batch(std::size_t count, int threads,
                                         const std::function<std::optional<TrialResult>(std::size_t index)>& run_one,
                                         const std::function<void(const TrialResult&)>& on_trial,
                                         TuningResult& result, double min_coverage) {
  std::vector<std::optional<TrialResult>> finished(count);
  std::mutex mutex;
  parallel_for_blocks(count, 1, threads, [&](std::size_t index, std::size_t) {
    std::optional<TrialResult> trial = run_one(index);
    if (!trial) return;
    std::lock_guard<std::mutex> lock(mutex);
    if (on_trial) on_trial(*trial);
    finished[index] = std::move(trial);
  });
  std::vector<TrialResult> kept;
  for (std::optional<TrialResult>& trial : finished) {
    if (!trial) continue;
    result.trials.push_back(*trial);
    consider_trial(result, *trial, min_coverage);
    kept.push_back(std::move(*trial));
  }
  return kept;
}

}  // namespace vr
