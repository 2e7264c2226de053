// Hyperparameter search for ALS (vr-evaluate --tune): a seeded random search followed by a
// local refinement around the best trial, scored by nDCG@k on a validation split carved from
// the training data only (the test split is never seen).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "vr/als.h"
#include "vr/ratings.h"

namespace vr {

struct TuneConfig {
  int trials = 16;                 // trials in all (the first is the base config), >= 1
  double seconds = 0;              // wall-clock budget, 0 = none; trials not started by then are
                                   // skipped (the first always runs)
  std::uint64_t seed = 42;         // seeds the search and the validation split
  double validation_ratio = 0.25;  // share of each user's training videos held out, in (0, 1)
  int folds = 2;                   // validation splits (different seeds) each trial is averaged over, >= 1
  int k = 10;                      // trials are ranked by nDCG@k, >= 1
  int parallel_trials = 2;         // trials run at once, each on one thread, >= 1
};

// One evaluated setting.
struct TrialResult {
  int number = 0;              // 1-based, in the order the search proposed them
  TrainConfig config;          // the setting (threads 1)
  double validation_ndcg = 0;  // nDCG@k on the validation splits (mean over folds)
  double seconds = 0;          // wall time of training and scoring
  bool refinement = false;     // proposed around the best so far, not at random
};

struct TuningResult {
  std::vector<TrialResult> trials;  // every finished trial, in proposal order
  TrainConfig best;                 // the best trial's config (threads as in the base config)
  double best_validation_ndcg = 0;
  int k = 10;
  std::uint64_t validation_ratings = 0;  // ratings held out for validation (first fold)
  double seconds = 0;                    // wall time of the whole search
};

// Throws InvalidInput naming the first out-of-range field.
void validate(const TuneConfig& config);

// Searches factors (8-64), regularization (0.1-100, log scale), alpha (0.5-4), iterations
// (10-30) and the confidence scaling (raw, or log with eps 0.1-10) for the users x videos
// `train` matrix. The first trial is `base` (so the result is never worse than it on
// validation); about half the budget samples at random, the rest refines around the best in
// batches. Deterministic for a given seed and budget of trials (a --seconds budget may cut
// it short). `on_trial` is called once per finished trial, from one thread at a time.
TuningResult tune_als(const SparseMatrix& train, const TrainConfig& base, const TuneConfig& config,
                      const std::function<void(const TrialResult&)>& on_trial = {});

}  // namespace vr
