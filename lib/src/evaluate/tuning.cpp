#include "vr/tuning.h"
#include "vr/tuning_batch.h"
#include "vr/tuning_budget.h"
#include "vr/tuning_constraint.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>

#include "vr/errors.h"
#include "vr/catalog_evaluation.h"
#include "vr/evaluate.h"
#include "vr/model_top_k.h"
#include "vr/ranking_metrics.h"
#include "vr/topk.h"

namespace vr {
namespace {

// The search space's bounds.
constexpr int kMinFactors = 8, kMaxFactors = 64;
constexpr double kMinRegularization = 0.1, kMaxRegularization = 100.0;
constexpr double kMinAlpha = 0.5, kMaxAlpha = 4.0;
constexpr double kMinEps = 0.1, kMaxEps = 10.0;
constexpr int kIterationChoices[] = {10, 15, 20, 30};

// Refinement proposes this many settings around the best at a time: fixed (not the number of
// parallel trials), so the search is the same on any machine.
constexpr int kRefinementBatch = 4;

double log_uniform(std::mt19937_64& random, double low, double high) {
  std::uniform_real_distribution<double> unit(std::log(low), std::log(high));
  return std::exp(unit(random));
}

// A float rounded to 3 significant digits, so configs print and read back as typed.
float rounded(double value) {
  const double scale = std::pow(10.0, 2 - static_cast<int>(std::floor(std::log10(std::abs(value)))));
  return static_cast<float>(std::round(value * scale) / scale);
}

TrainConfig random_config(std::mt19937_64& random, const TrainConfig& base) {
  TrainConfig config = base;
  config.factors = static_cast<int>(std::lround(log_uniform(random, kMinFactors, kMaxFactors)));
  config.regularization = rounded(log_uniform(random, kMinRegularization, kMaxRegularization));
  config.alpha = rounded(log_uniform(random, kMinAlpha, kMaxAlpha));
  std::uniform_int_distribution<std::size_t> pick(0, std::size(kIterationChoices) - 1);
  config.iterations = kIterationChoices[pick(random)];
  std::bernoulli_distribution use_log(0.25);
  config.scaling = use_log(random) ? ConfidenceScaling::Log : ConfidenceScaling::Raw;
  config.eps = config.scaling == ConfidenceScaling::Log ? rounded(log_uniform(random, kMinEps, kMaxEps)) : base.eps;
  return config;
}

// A setting near `best`: multiplicative log-normal steps, clamped to the space.
TrainConfig refined_config(std::mt19937_64& random, const TrainConfig& best) {
  std::normal_distribution<double> step(0.0, 1.0);
  TrainConfig config = best;
  config.factors = std::clamp(static_cast<int>(std::lround(best.factors * std::exp(0.3 * step(random)))), kMinFactors,
                              kMaxFactors);
  const double regularization = std::max<double>(best.regularization, kMinRegularization);
  config.regularization =
      rounded(std::clamp(regularization * std::exp(0.6 * step(random)), kMinRegularization, kMaxRegularization));
  config.alpha = rounded(std::clamp(best.alpha * std::exp(0.3 * step(random)), kMinAlpha, kMaxAlpha));
  if (config.scaling == ConfidenceScaling::Log) {
    config.eps = rounded(std::clamp(best.eps * std::exp(0.5 * step(random)), kMinEps, kMaxEps));
  }
  return config;
}

}  // namespace

std::string to_string(TuneSearch search) { return search == TuneSearch::Random ? "random" : "halving"; }

TuneSearch parse_tune_search(const std::string& text) {
  if (text == "halving") return TuneSearch::Halving;
  if (text == "random") return TuneSearch::Random;
  throw InvalidInput("unknown tune search '" + text + "' (expected halving or random)");
}

void validate(const TuneConfig& config) {
  if (config.trials < 1) throw InvalidInput("tune trials must be >= 1");
  if (config.halving_rounds < 1) throw InvalidInput("halving rounds must be >= 1");
  for (const TuneRange* range : {&config.box.factors, &config.box.regularization, &config.box.alpha, &config.box.eps,
                                 &config.box.unobserved_weight}) {
    if (!(range->low > 0 && range->low <= range->high && range->limit_low <= range->low && range->high <= range->limit_high)) {
      throw InvalidInput("a tuning range must satisfy 0 < limit_low <= low <= high <= limit_high");
    }
  }
  if (!(config.seconds >= 0)) throw InvalidInput("tune seconds must be >= 0");
  if (!(config.validation_ratio > 0 && config.validation_ratio < 1)) {
    throw InvalidInput("validation ratio must be between 0 and 1");
  }
  if (config.k < 1) throw InvalidInput("tune K must be >= 1");
  if (config.parallel_trials < 1) throw InvalidInput("parallel trials must be >= 1");
  if (config.folds < 1) throw InvalidInput("validation folds must be >= 1");
  if (config.refinement_rounds < 0) throw InvalidInput("refinement rounds must be >= 0");
  if (config.refinement_trials < 1) throw InvalidInput("refinement trials must be >= 1");
  if (config.carve != ValidationCarve::Random && !config.timestamps) {
    throw InvalidInput("a validation carve by time needs the training ratings' timestamps");
  }
  validate_min_coverage(config.min_coverage);
  if (config.search_ials && config.search != TuneSearch::Halving) {
    throw InvalidInput("the iALS search (--tune-ials) is part of the halving search (--tune-search halving)");
  }
}

std::vector<Split> validation_folds(const SparseMatrix& train, const TuneConfig& config) {
  std::vector<Split> validation;
  // A carve by time is the same for every seed: one fold.
  const int folds = config.carve == ValidationCarve::Random ? config.folds : 1;
  for (int fold = 0; fold < folds; ++fold) {
    if (config.carve == ValidationCarve::Random) {
      validation.push_back(split_per_user_random(train, config.validation_ratio,
                                                 config.seed ^ (0x7e57ab1eULL + static_cast<std::uint64_t>(fold))));
    } else {
      // The test split's own rule (split_per_user_by_time), applied to the training part.
      if (!config.timestamps) throw InvalidInput("a validation carve by time needs the training ratings' timestamps");
      const TimedRatings timed{train, *config.timestamps, {}};
      validation.push_back(split_per_user_by_time(
          timed, config.carve == ValidationCarve::LatestOne ? SplitMethod::LeaveLastOut : SplitMethod::LastFraction,
          config.validation_ratio));
    }
    if (config.eligible) {
      std::uint64_t dropped = 0;
      validation.back().test = without_ineligible_videos(validation.back().test, *config.eligible, dropped);
    }
  }
  return validation;
}

TuningResult tune_als(const SparseMatrix& train, const TrainConfig& base, const TuneConfig& config,
                      const std::function<void(const TrialResult&)>& on_trial) {
  validate(config);
  validate(base);
  if (config.search == TuneSearch::Halving) return tune_als_halving(train, base, config, on_trial);
  TuningBudget budget(config.seconds, config.clock);
  // Each trial is scored on every fold and averaged: one fold's noise (about 0.01 nDCG on
  // MovieLens 100K) is as large as the differences between good settings.
  const std::vector<Split> validation = validation_folds(train, config);

  TuningResult result;
  result.k = config.k;
  result.validation_ratings = validation.front().test.nnz();
  std::mt19937_64 random(config.seed);

  // Runs `proposals` (numbered from `first_number`) on parallel_trials threads; those the time
  // budget skips or stops are left out.
  const auto run_batch = [&](const std::vector<TrainConfig>& proposals, int first_number, bool refinement) {
    const auto run_one = [&](std::size_t index) -> std::optional<TrialResult> {
      TrialResult trial;
      trial.number = first_number + static_cast<int>(index);
      trial.config = proposals[index];
      trial.config.threads = 1;
      trial.config.compute_loss = false;
      trial.refinement = refinement;
      const double work = trial_work(validation.front().train, trial.config, 1, static_cast<int>(validation.size()));
      const double final_work = final_training_work(train, trial.config);
      // The first trial (the base config) always runs, so there is always a result.
      const auto seconds = budget.run_trial(work, final_work, trial.number == 1, [&](const std::function<void()>& check) {
        for (const Split& fold : validation) {
          const AlsFactors factors = train_als(fold.train, trial.config, [&](const IterationReport&) { check(); });
          const auto top = top_k_all_users_eligible(factors.user_factors, factors.item_factors, config.k, fold.train,
                                                      1, config.eligible.get());
          const RankingMetrics metrics = ranking_metrics(top, fold.test, config.k);
          trial.validation_ndcg += metrics.ndcg / static_cast<double>(validation.size());
          trial.validation_coverage += metrics.coverage / static_cast<double>(validation.size());
        }
      });
      if (!seconds) return std::nullopt;
      trial.seconds = *seconds;
      return trial;
    };
    run_trial_batch(proposals.size(), config.parallel_trials, run_one, on_trial, result, config.min_coverage);
    // The budget keeps time to train the best setting on the whole training part afterwards.
    if (!result.trials.empty()) budget.reserve(final_training_work(train, result.best));
  };

  const int random_trials = std::max(1, (config.trials + 1) / 2);
  std::vector<TrainConfig> proposals{base};
  while (static_cast<int>(proposals.size()) < random_trials) proposals.push_back(random_config(random, base));
  run_batch(proposals, 1, false);
  int proposed = random_trials;
  // Refinement goes on while the budget lasts: a batch whose settings did not fit may be
  // followed by smaller ones that do.
  while (!budget.spent() && proposed < config.trials && !result.trials.empty()) {
    proposals.clear();
    const int batch = std::min(kRefinementBatch, config.trials - proposed);
    for (int i = 0; i < batch; ++i) proposals.push_back(refined_config(random, result.best));
    run_batch(proposals, proposed + 1, true);
    proposed += batch;
  }
  result.best.threads = base.threads;
  result.best.compute_loss = base.compute_loss;
  result.skipped_trials = budget.skipped();
  result.stopped_trials = budget.stopped();
  result.seconds = budget.elapsed();
  return result;
}

}  // namespace vr
