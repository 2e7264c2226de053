// Hyperparameter search for ALS (vr-evaluate --tune), scored by nDCG@k on a validation split
// carved from the training data only (the test split is never seen): successive halving over
// a wide box that widens at its edges (the default), or a seeded random search followed by a
// local refinement around the best trial.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vr/als.h"
#include "vr/ranking_metrics.h"
#include "vr/ratings.h"

namespace vr {

class EligibleVideos;

// How the search proposes settings.
enum class TuneSearch {
  Halving,  // tune_als_halving: successive halving, iterations as the fidelity (default)
  Random,   // random then refined settings in a narrow box (factors 8-64, alpha 0.5-4)
};
std::string to_string(TuneSearch search);
// Parses "halving" or "random"; throws InvalidInput otherwise.
TuneSearch parse_tune_search(const std::string& text);

// How validation_folds holds ratings out of the training matrix.
enum class ValidationCarve {
  Random,          // TuneConfig::validation_ratio of each user's ratings at random, a seed per fold
  LatestOne,       // each user's latest rating (as a leave-last-out test split); one fold
  LatestFraction,  // the latest validation_ratio of each user's ratings (as a last-fraction test
                   // split, the same rounding); one fold
};

// Successive halving's rungs: a round trains its settings to kHalvingIterations[0] iterations,
// the best third of them again to [1], the best third of those to [2].
inline constexpr int kHalvingIterations[] = {5, 15, 30};
// The iteration counts a halving trial's training run is scored at on its way to its own
// count (scored too); the trial keeps the best. None below 5: a setting that peaks at 3
// iterations from the random start wins on validation and loses on the test split (on a
// generated 200k-event set, +0.003 on validation and -0.0005 to -0.0037 against the starting
// settings on five test splits; docs/performance.md).
inline constexpr int kHalvingCheckpoints[] = {5, 10, 15, 20};
// TrialResult::rung of the settings a refinement round proposes.
inline constexpr int kRefinementRung = 3;

// One dimension of the halving search's box, sampled on a log scale within [low, high].
// Widening moves a bound out by half the range's log width (at least a factor of 4), never
// past [limit_low, limit_high].
struct TuneRange {
  double low = 1, high = 1;
  double limit_low = 1, limit_high = 1;
  // -1 when `value` lies in the lowest tenth of the range (log scale) and the low bound can
  // still move, +1 likewise for the highest tenth, else 0.
  int edge(double value) const;
  void widen(int side);
};

// The halving search's box.
struct TuneBox {
  TuneRange factors{8, 512, 2, 4096};
  TuneRange regularization{1e-3, 1e4, 1e-6, 1e7};
  TuneRange alpha{1e-3, 1e3, 1e-6, 1e6};
  TuneRange eps{0.1, 10, 1e-3, 1e3};  // of the log scaling
  TuneRange unobserved_weight{1e-3, 1, 1e-5, 10};  // iALS's alpha0, with TuneConfig::search_ials
};

// Widens every range of `box` whose edge `best` sits at (the unobserved weight's only with
// `ials`); true when one moved. The regularization range is of lambda times
// `regularization_scale` (see regularization_scale).
bool widen_at_edges(TuneBox& box, const TrainConfig& best, bool ials = false, double regularization_scale = 1.0);

// The factor frequency-scaled regularisation multiplies lambda by at a typical row of
// `train`: the geometric mean over the two sides of (n + alpha0 N)^nu, n the side's mean
// ratings per row and N the other side's rows; exactly 1 for nu = 0. The iALS search samples
// lambda times this factor from the regularization range, so that range means the same
// whatever nu (with nu = 1 a good lambda is hundreds of times smaller).
double regularization_scale(const SparseMatrix& train, float unobserved_weight, float reg_exponent);

struct TuneConfig {
  TuneBox box;  // Halving: the first round's box
  TuneSearch search = TuneSearch::Halving;
  int trials = 16;                 // Random: trials in all (the first is the base config);
                                   // Halving: settings sampled per round (besides the base), >= 1
  int halving_rounds = 3;          // Halving: rounds at most; a round after the first runs only
                                   // when the best setting sat at an edge of the box, >= 1
  double seconds = 0;              // wall-clock budget, 0 = none: a trial starts only when its
                                   // predicted time fits in what is left, and a running one stops
                                   // when it is spent (vr/tuning_budget.h; the first always runs)
  std::uint64_t seed = 42;         // seeds the search and the validation split
  double validation_ratio = 0.25;  // share of each user's training videos held out, in (0, 1)
  bool carve_like_test = false;    // evaluate(): set validation_ratio to the test split's share
                                   // (a random split's test ratio; a given split's test ratings
                                   // over all ratings); time splits keep validation_ratio
  int folds = 2;                   // validation splits (different seeds) each trial is averaged over, >= 1
  int k = 10;                      // trials are ranked by nDCG@k, >= 1
  int parallel_trials = 2;         // trials run at once, each on one thread, >= 1
  bool search_ials = false;        // Halving: also sample iALS's unobserved weight (log scale, in
                                   // box.unobserved_weight) and regularisation exponent (uniform
                                   // 0-1); off, the search is exactly what it was without them
  ValidationCarve carve = ValidationCarve::Random;  // evaluate() with carve_like_test: the time
                                   // split's rule when the test split is by time
  std::shared_ptr<const std::vector<double>> timestamps;  // the Latest carves: each rating's time
                                   // (seconds), aligned with the training matrix's values
  int refinement_rounds = 0;       // Halving: rounds of local refinement after the halving rounds
                                   // (tune_als_halving), >= 0; 0 = none
  int refinement_trials = 6;       // Halving: settings each refinement round proposes around the
                                   // best so far, >= 1
  double min_coverage = 0;         // > 0: the best trial is the best nDCG among those whose validation
                                   // coverage@k reaches it (vr/tuning_constraint.h); 0 = off
  std::shared_ptr<const EligibleVideos> eligible;  // vr-evaluate --catalog: the videos that may be
                                   // ranked (vr/catalog_evaluation.h); null = every video
  std::function<double()> clock;   // tests: the time budget's clock in seconds (TuningBudget::Clock);
                                   // empty = std::chrono::steady_clock
};

// One evaluated setting.
struct TrialResult {
  int number = 0;              // 1-based, in the order the search proposed them
  TrainConfig config;          // the setting (threads 1)
  double validation_ndcg = 0;  // nDCG@k on the validation splits (mean over folds)
  double validation_coverage = 0;  // coverage@k on them (mean over folds)
  double seconds = 0;          // wall time of training and scoring
  bool refinement = false;     // proposed around the best so far, not at random (Halving: rung > 0)
  int rung = 0;                // Halving: the rung (0, 1, 2), -1 for the base config's own run,
                               // kRefinementRung for a refinement round's settings
};

struct TuningResult {
  std::vector<TrialResult> trials;  // every finished trial, in proposal order
  TrainConfig best;                 // the best trial's config (threads as in the base config)
  double best_validation_ndcg = 0;
  double best_validation_coverage = 0;  // the best trial's validation coverage@k
  double min_coverage = 0;              // TuneConfig::min_coverage
  bool coverage_met = true;             // false: no trial reached min_coverage, the best is the
                                        // trial with the highest coverage
  int k = 10;
  std::uint64_t validation_ratings = 0;  // ratings held out for validation (first fold)
  double seconds = 0;                    // wall time of the whole search
  int skipped_trials = 0;                // proposals not started: their predicted time did not fit
                                         // in the budget left (vr/tuning_budget.h)
  int stopped_trials = 0;                // trials stopped when the budget ran out, scores dropped
};

// Throws InvalidInput naming the first out-of-range field.
void validate(const TuneConfig& config);

// Searches factors (8-64), regularization (0.1-100, log scale), alpha (0.5-4), iterations
// (10-30) and the confidence scaling (raw, or log with eps 0.1-10) for the users x videos
// `train` matrix. The first trial is `base` (so the result is never worse than it on
// validation); about half the budget samples at random, the rest refines around the best in
// batches. Deterministic for a given seed and budget of trials (a --seconds budget may cut
// it short). `on_trial` is called once per finished trial, from one thread at a time.
// With config.search Random: that search. With Halving: tune_als_halving.
TuningResult tune_als(const SparseMatrix& train, const TrainConfig& base, const TuneConfig& config,
                      const std::function<void(const TrialResult&)>& on_trial = {});

// Successive halving. Trial 1 is `base` as given. Each round samples config.trials settings on
// a log scale from a box (factors 8-512, regularization 1e-3-1e4, alpha 1e-3-1e3, scaling raw /
// log with eps 0.1-10 / binary; solver, CG steps and seed from `base`), trains them for
// kHalvingIterations[0] iterations, and carries the best third to each next rung. One training
// run scores nDCG@k at several iteration counts (kHalvingCheckpoints up to its own) and the
// trial keeps the best as its iterations. When the best setting so far lies in the outer tenth
// of a dimension's range, that bound moves out by half the range and another round runs
// (config.halving_rounds at most). Trials are compared on one footing (each score is the
// exact validation nDCG of its config), so the best is never worse than `base` on validation.
// Then config.refinement_rounds rounds of local refinement around the best so far, each of
// config.refinement_trials settings (log-normal steps in factors, lambda, alpha, eps and, for an
// iALS setting, alpha0), trained to kHalvingIterations' last rung and scored at its checkpoints.
// The first refinement round, when the best is not an iALS setting yet, also tries it with
// Rendle et al.'s (2021) recipe: nu 1 and a small alpha0 (0.1, 0.3, 1), lambda divided by
// regularization_scale so that a typical row keeps its regularisation (and half of that).
// Deterministic for a seed; config.seconds skips and stops trials (vr/tuning_budget.h; trial 1
// always runs).
TuningResult tune_als_halving(const SparseMatrix& train, const TrainConfig& base, const TuneConfig& config,
                              const std::function<void(const TrialResult&)>& on_trial = {});

// The validation splits both searches score trials on: config.folds per-user random carves of
// config.validation_ratio, seeded apart from the test split's so validation never mirrors it;
// with a Latest carve, one split holding out each user's latest ratings by config.timestamps
// (throws InvalidInput when they do not match the matrix).
// With config.eligible, the held-out ratings on videos it does not allow are dropped, as the
// test split's are, and the trials rank only the videos it allows.
std::vector<Split> validation_folds(const SparseMatrix& train, const TuneConfig& config);

}  // namespace vr
