// How the tuner compares trials when a minimum validation coverage is asked for
// (vr-evaluate --tune-min-coverage): nDCG subject to coverage@k >= the minimum.
//
//   - a trial that reaches the minimum beats one that does not;
//   - between two that reach it, the higher validation nDCG wins;
//   - between two that do not, the higher validation coverage wins (so when no trial reaches
//     the minimum, the search returns the one that came closest, and says so).
// With a minimum of 0 every trial reaches it and the comparison is the plain nDCG one, so the
// search is exactly what it was without the option. Equal trials keep the earlier one.
#pragma once

#include <cstddef>
#include <vector>

#include "vr/tuning.h"

namespace vr {

// True when a trial scoring (ndcg, coverage) ranks strictly above one scoring
// (other_ndcg, other_coverage) under `min_coverage` (in [0, 1]).
bool ranks_above(double ndcg, double coverage, double other_ndcg, double other_coverage, double min_coverage);

// ranks_above for two trials.
bool trial_ranks_above(const TrialResult& trial, const TrialResult& other, double min_coverage);

// Makes `trial`, just appended to result.trials, the result's best when it is the first trial
// or ranks above the best so far; keeps coverage_met and min_coverage up to date.
void consider_trial(TuningResult& result, const TrialResult& trial, double min_coverage);

// The index of the best of checkpoint scores `ndcg` / `coverage` (same length, non-empty):
// the first maximum of nDCG when min_coverage is 0.
std::size_t best_checkpoint(const std::vector<double>& ndcg, const std::vector<double>& coverage, double min_coverage);

// Throws InvalidInput unless 0 <= min_coverage <= 1.
void validate_min_coverage(double min_coverage);

}  // namespace vr
