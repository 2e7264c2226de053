// One batch of the tuner's trials, for both searches (random and halving): the trials run in
// parallel, each is reported as it ends, and the finished ones join the result in the order
// they were proposed, so the result does not depend on which thread finished first.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <vector>

#include "vr/tuning.h"

namespace vr {

// Runs run_one(index) for every index in [0, count) on up to `threads` threads; run_one returns
// the finished trial, or nothing when the time budget skipped or stopped it. Calls on_trial
// (when set) with each finished trial as it ends, one call at a time. Then appends the
// finished trials to result.trials in index order, each weighed by consider_trial under
// `min_coverage` (ties keep the earlier trial), and returns them in that order.
std::vector<TrialResult> run_trial_batch(std::size_t count, int threads,
                                         const std::function<std::optional<TrialResult>(std::size_t index)>& run_one,
                                         const std::function<void(const TrialResult&)>& on_trial,
                                         TuningResult& result, double min_coverage);

}  // namespace vr
