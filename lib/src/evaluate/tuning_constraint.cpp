#include "vr/tuning_constraint.h"

#include <cmath>
#include <string>

#include "vr/errors.h"

namespace vr {

bool ranks_above(double ndcg, double coverage, double other_ndcg, double other_coverage, double min_coverage) {
  const bool meets = coverage >= min_coverage;
  const bool other_meets = other_coverage >= min_coverage;
  if (meets != other_meets) return meets;
  if (meets) return ndcg > other_ndcg;
  return coverage > other_coverage;
}

bool trial_ranks_above(const TrialResult& trial, const TrialResult& other, double min_coverage) {
  return ranks_above(trial.validation_ndcg, trial.validation_coverage, other.validation_ndcg, other.validation_coverage,
                     min_coverage);
}

void consider_trial(TuningResult& result, const TrialResult& trial, double min_coverage) {
  result.min_coverage = min_coverage;
  if (result.trials.size() == 1 || ranks_above(trial.validation_ndcg, trial.validation_coverage, result.best_validation_ndcg,
                           result.best_validation_coverage, min_coverage)) {
    result.best = trial.config;
    result.best_validation_ndcg = trial.validation_ndcg;
    result.best_validation_coverage = trial.validation_coverage;
  }
  result.coverage_met = result.best_validation_coverage >= min_coverage;
}

std::size_t best_checkpoint(const std::vector<double>& ndcg, const std::vector<double>& coverage, double min_coverage) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < ndcg.size(); ++i) {
    if (ranks_above(ndcg[i], coverage[i], ndcg[best], coverage[best], min_coverage)) best = i;
  }
  return best;
}

void validate_min_coverage(double min_coverage) {
  if (!(min_coverage >= 0 && min_coverage <= 1)) {
    throw InvalidInput("the minimum validation coverage must be between 0 and 1 (got " + std::to_string(min_coverage) + ")");
  }
}

}  // namespace vr
