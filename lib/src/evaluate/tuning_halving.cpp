// vr-evaluate --tune's default search: successive halving over a wide log-scaled box, with
// the number of ALS iterations as the fidelity, and a box that widens when the best setting
// sits at its edge. See docs/vr-evaluate.md ("How the search works").
#include <algorithm>
#include <cmath>
#include <optional>
#include <random>

#include "vr/errors.h"
#include "vr/model_top_k.h"
#include "vr/ranking_metrics.h"
#include "vr/topk.h"
#include "vr/tuning.h"
#include "vr/tuning_batch.h"
#include "vr/tuning_budget.h"
#include "vr/tuning_constraint.h"

namespace vr {
namespace {

// A float rounded to 3 significant digits, so configs print and read back as typed.
float rounded(double value) {
  const double scale = std::pow(10.0, 2 - static_cast<int>(std::floor(std::log10(std::abs(value)))));
  return static_cast<float>(std::round(value * scale) / scale);
}

double log_uniform(std::mt19937_64& random, const TuneRange& range);

// `ials_random` (null: implicit's weights from `base`) draws iALS's weights: a generator of
// their own, so the other dimensions are drawn exactly as in the search without them.
TrainConfig sample_config(std::mt19937_64& random, const TuneBox& box, const TrainConfig& base,
                          std::mt19937_64* ials_random, const SparseMatrix& train) {
  TrainConfig config = base;
  config.factors = static_cast<int>(std::lround(log_uniform(random, box.factors)));
  config.regularization = rounded(log_uniform(random, box.regularization));
  config.alpha = rounded(log_uniform(random, box.alpha));
  std::uniform_int_distribution<int> scaling(0, 2);
  const int pick = scaling(random);
  config.scaling = pick == 0 ? ConfidenceScaling::Raw : pick == 1 ? ConfidenceScaling::Log : ConfidenceScaling::Binary;
  config.eps = config.scaling == ConfidenceScaling::Log ? rounded(log_uniform(random, box.eps)) : base.eps;
  if (ials_random != nullptr) {
    config.unobserved_weight = rounded(log_uniform(*ials_random, box.unobserved_weight));
    std::uniform_real_distribution<double> exponent(0.0, 1.0);
    config.reg_exponent = static_cast<float>(std::round(exponent(*ials_random) * 100.0) / 100.0);
    config.regularization = rounded(config.regularization /
                                    regularization_scale(train, config.unobserved_weight, config.reg_exponent));
  }
  return config;
}

// The iteration counts a run to `iterations` is scored at: the checkpoints up to it, and it.
std::vector<int> checkpoints_up_to(int iterations) {
  std::vector<int> points;
  for (const int point : kHalvingCheckpoints) {
    if (point < iterations) points.push_back(point);
  }
  points.push_back(iterations);
  return points;
}

double log_uniform(std::mt19937_64& random, const TuneRange& range) {
  std::uniform_real_distribution<double> unit(std::log(range.low), std::log(range.high));
  return std::exp(unit(random));
}

// A setting near `best`: log-normal steps (standard deviation 0.3, about 30 %), clamped to the
// ranges' limits; alpha0 moves only for an iALS setting (nu > 0), whose lambda keeps its meaning
// through regularization_scale when alpha0 moves.
TrainConfig refined_config(std::mt19937_64& random, const TuneBox& box, const TrainConfig& best,
                           const SparseMatrix& train) {
  std::normal_distribution<double> step(0.0, 1.0);
  const auto move = [&](const TuneRange& range, double value, double spread) {
    return std::clamp(value * std::exp(spread * step(random)), range.limit_low, range.limit_high);
  };
  TrainConfig config = best;
  config.factors = static_cast<int>(std::lround(move(box.factors, best.factors, 0.3)));
  config.regularization = rounded(move(box.regularization, std::max<double>(best.regularization, 1e-9), 0.3));
  config.alpha = rounded(move(box.alpha, best.alpha, 0.3));
  if (config.scaling == ConfidenceScaling::Log) config.eps = rounded(move(box.eps, best.eps, 0.3));
  if (config.reg_exponent > 0.0f) {
    config.unobserved_weight = rounded(move(box.unobserved_weight, best.unobserved_weight, 0.3));
    config.regularization = rounded(config.regularization *
                                    regularization_scale(train, best.unobserved_weight, best.reg_exponent) /
                                    regularization_scale(train, config.unobserved_weight, config.reg_exponent));
  }
  config.iterations = kHalvingIterations[std::size(kHalvingIterations) - 1];
  return config;
}

// `best` with Rendle et al.'s (2021) iALS recipe: nu 1 and a small unobserved weight alpha0;
// lambda divided by the typical row's (n + alpha0 N), so a typical row keeps best's
// regularisation, and half of it (the unobserved weight takes on part of its role).
std::vector<TrainConfig> ials_versions(const TrainConfig& best, const SparseMatrix& train) {
  std::vector<TrainConfig> versions;
  for (const float unobserved_weight : {0.1f, 0.3f, 1.0f}) {
    for (const double share : {1.0, 0.5}) {
      TrainConfig config = best;
      config.unobserved_weight = unobserved_weight;
      config.reg_exponent = 1.0f;
      config.regularization =
          rounded(std::max<double>(best.regularization, 1e-9) * share / regularization_scale(train, unobserved_weight, 1.0f));
      config.iterations = kHalvingIterations[std::size(kHalvingIterations) - 1];
      versions.push_back(config);
    }
  }
  return versions;
}

}  // namespace

int TuneRange::edge(double value) const {
  const double position = (std::log(value) - std::log(low)) / (std::log(high) - std::log(low));
  if (position <= 0.1 && low > limit_low) return -1;
  if (position >= 0.9 && high < limit_high) return 1;
  return 0;
}

void TuneRange::widen(int side) {
  // Half the range, and at least a factor of 4, so a narrow range grows quickly too.
  const double half_width = std::max(0.5 * (std::log(high) - std::log(low)), std::log(4.0));
  if (side < 0) low = std::max(limit_low, std::exp(std::log(low) - half_width));
  if (side > 0) high = std::min(limit_high, std::exp(std::log(high) + half_width));
}

double regularization_scale(const SparseMatrix& train, float unobserved_weight, float reg_exponent) {
  if (reg_exponent == 0.0f || train.rows == 0 || train.cols == 0) return 1.0;
  const double ratings = static_cast<double>(train.nnz());
  const double users = train.rows, videos = train.cols;
  const double user_side = ratings / users + unobserved_weight * videos;
  const double video_side = ratings / videos + unobserved_weight * users;
  return std::pow(user_side * video_side, 0.5 * reg_exponent);
}

bool widen_at_edges(TuneBox& box, const TrainConfig& best, bool ials, double regularization_scale) {
  bool widened = false;
  const auto check = [&](TuneRange& range, double value) {
    const int side = range.edge(value);
    if (side != 0) {
      range.widen(side);
      widened = true;
    }
  };
  check(box.factors, best.factors);
  check(box.regularization, std::max<double>(best.regularization * regularization_scale, box.regularization.limit_low));
  check(box.alpha, best.alpha);
  if (best.scaling == ConfidenceScaling::Log) check(box.eps, best.eps);
  if (ials) check(box.unobserved_weight, best.unobserved_weight);
  return widened;
}

TuningResult tune_als_halving(const SparseMatrix& train, const TrainConfig& base, const TuneConfig& config,
                              const std::function<void(const TrialResult&)>& on_trial) {
  TuningBudget budget(config.seconds, config.clock);
  const std::vector<Split> validation = validation_folds(train, config);
  TuningResult result;
  result.k = config.k;
  result.validation_ratings = validation.front().test.nnz();
  std::mt19937_64 random(config.seed);
  std::mt19937_64 ials_random(config.seed ^ 0x1a15a15a15ULL);
  int next_number = 1;

  // Trains each proposal to its iterations once per fold, scoring nDCG@k at every checkpoint
  // on the way; the trial keeps the best checkpoint as its iterations (that checkpoint's model
  // is exactly the config's with those iterations). Returns the trials in proposal order;
  // proposals the time budget skipped or stopped (TuningBudget) are left out.
  const auto run_rung = [&](const std::vector<TrainConfig>& proposals, int rung, bool always_first) {
    const int first_number = next_number;
    next_number += static_cast<int>(proposals.size());
    const auto run_one = [&](std::size_t index) -> std::optional<TrialResult> {
      TrainConfig trial_config = proposals[index];
      trial_config.threads = 1;
      trial_config.compute_loss = false;
      const std::vector<int> points = rung < 0 ? std::vector<int>{trial_config.iterations}
                                               : checkpoints_up_to(trial_config.iterations);
      const double work = trial_work(validation.front().train, trial_config, static_cast<int>(points.size()),
                                     static_cast<int>(validation.size()));
      const double final_work = final_training_work(train, trial_config);
      std::vector<double> scores(points.size(), 0.0);
      std::vector<double> coverages(points.size(), 0.0);
      const bool must_run = always_first && index == 0;
      const auto trial_seconds = budget.run_trial(work, final_work, must_run, [&](const std::function<void()>& check) {
        for (const Split& fold : validation) {
          std::size_t next_point = 0;
          const auto score = [&](int iteration, const FactorMatrix& users, const FactorMatrix& items) {
            while (next_point < points.size() && points[next_point] == iteration) {
              // A diverged model (not finite) scores 0 rather than ending the search.
              if (users.allFinite() && items.allFinite()) {
                const auto top = top_k_all_users_eligible(users, items, config.k, fold.train, 1, config.eligible.get());
                const RankingMetrics metrics = ranking_metrics(top, fold.test, config.k);
                scores[next_point] += metrics.ndcg / static_cast<double>(validation.size());
                coverages[next_point] += metrics.coverage / static_cast<double>(validation.size());
              }
              ++next_point;
            }
          };
          try {
            const AlsFactors factors = train_als(fold.train, trial_config, [&](const IterationReport& report) {
              check();
              if (report.factors != nullptr) score(report.iteration, report.factors->user_factors, report.factors->item_factors);
            });
            if (trial_config.iterations == 0) score(0, factors.user_factors, factors.item_factors);
          } catch (const NumericalError&) {
            // Scores stay at what the checkpoints before the failure reached (0 for later ones).
          }
        }
      });
      if (!trial_seconds) return std::nullopt;
      const std::size_t best_point = best_checkpoint(scores, coverages, config.min_coverage);
      TrialResult trial;
      trial.number = first_number + static_cast<int>(index);
      trial.config = trial_config;
      trial.config.iterations = points[best_point];
      trial.validation_ndcg = scores[best_point];
      trial.validation_coverage = coverages[best_point];
      trial.refinement = rung > 0;
      trial.rung = rung;
      trial.seconds = *trial_seconds;
      return trial;
    };
    std::vector<TrialResult> kept =
        run_trial_batch(proposals.size(), config.parallel_trials, run_one, on_trial, result, config.min_coverage);
    // The budget keeps time to train the best setting on the whole training part afterwards.
    if (!result.trials.empty()) budget.reserve(final_training_work(train, result.best));
    return kept;
  };

  // Trial 1: the base config as given (its own iterations), so the result is never worse on
  // validation. Then rounds of successive halving: `trials` settings at the first rung's
  // iterations, the best third carried to the next rung with three times the iterations.
  run_rung({base}, -1, true);
  TuneBox box = config.box;
  for (int round = 0; round < config.halving_rounds && !budget.spent(); ++round) {
    std::vector<TrainConfig> proposals;
    for (int i = 0; i < config.trials; ++i) {
      TrainConfig proposal = sample_config(random, box, base, config.search_ials ? &ials_random : nullptr, train);
      proposal.iterations = kHalvingIterations[0];
      proposals.push_back(proposal);
    }
    for (std::size_t rung = 0; rung < std::size(kHalvingIterations) && !proposals.empty(); ++rung) {
      if (rung > 0) {
        for (TrainConfig& proposal : proposals) proposal.iterations = kHalvingIterations[rung];
      }
      std::vector<TrialResult> rung_results = run_rung(proposals, static_cast<int>(rung), false);
      if (budget.spent() || rung + 1 == std::size(kHalvingIterations)) break;
      std::stable_sort(rung_results.begin(), rung_results.end(), [&](const TrialResult& a, const TrialResult& b) {
        return trial_ranks_above(a, b, config.min_coverage);
      });
      const std::size_t keep = std::max<std::size_t>(1, (rung_results.size() + 2) / 3);
      proposals.clear();
      for (std::size_t i = 0; i < keep && i < rung_results.size(); ++i) proposals.push_back(rung_results[i].config);
    }
    const double scale =
        config.search_ials ? regularization_scale(train, result.best.unobserved_weight, result.best.reg_exponent) : 1.0;
    if (!widen_at_edges(box, result.best, config.search_ials, scale)) break;
  }
  // Local refinement: the box's random samples land a factor of 2 or more from any optimum,
  // and good settings lie in narrow valleys (lambda +-15 % can cost 0.02 nDCG), so settings
  // close to the best, trained to the last rung, are the cheapest gain left.
  std::mt19937_64 refine_random(config.seed ^ 0x4ef14e5ULL);
  for (int round = 0; round < config.refinement_rounds && !budget.spent(); ++round) {
    std::vector<TrainConfig> proposals;
    if (round == 0 && result.best.reg_exponent == 0.0f) proposals = ials_versions(result.best, train);
    for (int i = 0; i < config.refinement_trials; ++i) proposals.push_back(refined_config(refine_random, box, result.best, train));
    run_rung(proposals, kRefinementRung, false);
  }
  result.best.threads = base.threads;
  result.best.compute_loss = base.compute_loss;
  result.skipped_trials = budget.skipped();
  result.stopped_trials = budget.stopped();
  result.seconds = budget.elapsed();
  return result;
}

}  // namespace vr
