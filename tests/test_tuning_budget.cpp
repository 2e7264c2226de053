// The tuner's time budget (vr/tuning_budget.h): trials whose predicted time does not fit are
// skipped, running ones stop when it is spent, the search says how many, and no budget changes
// nothing.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "vr/tuning.h"
#include "vr/tuning_budget.h"

using vr::test::generated_ratings;
using vr::test::run_command;
using vr::test::tool;

TEST_CASE("a tuning budget predicts a trial's time from the trials finished so far") {
  const vr::TuningBudget none(0);
  CHECK_FALSE(none.spent());
  CHECK(none.fits(1e30));
  CHECK_NOTHROW(none.stop_if_spent());

  vr::TuningBudget hour(3600);
  // Nothing finished yet: nothing to predict from, every trial may start.
  CHECK(hour.fits(1e30));
  hour.record(1e9, 1.0);  // 1 s per 1e9 units
  CHECK(hour.fits(1e12));  // about 1,000 s
  CHECK_FALSE(hour.fits(1e13));  // about 10,000 s
  hour.record(1e9, 9.0);  // now 5 s per 1e9 units
  CHECK_FALSE(hour.fits(1e12));  // about 5,000 s
  CHECK(hour.fits(5e11));
  CHECK_FALSE(hour.spent());
  CHECK_NOTHROW(hour.stop_if_spent());

  const vr::TuningBudget spent(1e-9);
  CHECK(spent.spent());
  CHECK_FALSE(spent.fits(0));
  CHECK_THROWS_AS(spent.stop_if_spent(), vr::TrialStopped);
}

TEST_CASE("a tuning budget keeps time for the training that follows the search") {
  double now = 0;
  vr::TuningBudget budget(100, [&now] { return now; });
  budget.record(10, 10);  // 1 s per unit
  now = 50;
  CHECK(budget.fits(40));      // 50 + 40 = 90 s
  CHECK(budget.fits(40, 10));  // and its own final training: 100 s
  CHECK_FALSE(budget.fits(40, 11));
  budget.reserve(20);  // the best setting so far would take 20 s after the search
  CHECK_FALSE(budget.fits(40));      // 50 + 40 + 20 = 110 s
  CHECK(budget.fits(30));            // 100 s
  CHECK(budget.fits(30, 5));         // the larger of the two final trainings counts
  CHECK_FALSE(budget.fits(30, 21));
  // Spent once only the reserve's time is left.
  now = 79.9;
  CHECK_FALSE(budget.spent());
  CHECK_NOTHROW(budget.stop_if_spent());
  now = 80;
  CHECK(budget.spent());
  CHECK_THROWS_AS(budget.stop_if_spent(), vr::TrialStopped);
  budget.reserve(0);
  CHECK_FALSE(budget.spent());

  // A budget of 0 is none, whatever the reserve.
  vr::TuningBudget none(0, [&now] { return now; });
  none.record(1, 1);
  none.reserve(1e30);
  CHECK_FALSE(none.spent());
  CHECK(none.fits(1e30, 1e30));
}

TEST_CASE("the search keeps time to train its best setting after it") {
  const auto ratings = generated_ratings(300, 150, 9000, 3);
  // The base (trial 1) trains 40 iterations and, by the clock below, takes 1,000 s; training it
  // once more on the whole training part (the training after the search) is predicted at about
  // two thirds of that: its trial trained twice, on validation folds of three quarters of the
  // ratings. The round's settings train 5 iterations of 8 or 9 factors, about 125 s each by the
  // same prediction, and then take no time.
  vr::TrainConfig base;
  base.factors = 8;
  base.iterations = 40;
  vr::TuneConfig config;
  config.parallel_trials = 1;
  config.trials = 4;
  config.halving_rounds = 1;
  config.box.factors = vr::TuneRange{8, 9, 8, 9};
  const auto search_with_budget = [&](double seconds) {
    int readings = 0;
    // Reading 1 starts the budget, 2 and 3 are the base's start and end; later ones advance
    // a thousandth of a second each.
    config.clock = [&readings] {
      ++readings;
      return readings <= 2 ? 0.0 : 1000.0 + 0.001 * readings;
    };
    config.seconds = seconds;
    return vr::tune_als(ratings, base, config);
  };
  // 400 s left after the base: the round's settings would fit, the base's final training not
  // with them, so the search ends after the base.
  const auto tight = search_with_budget(1400);
  CHECK(tight.trials.size() == 1);
  CHECK(tight.best.iterations == 40);
  // 1,100 s left: the base's final training fits with the round's settings, which run.
  const auto roomy = search_with_budget(2100);
  CHECK(roomy.trials.size() == 1 + 4 + 2 + 1);
  CHECK(roomy.skipped_trials == 0);
  CHECK(roomy.stopped_trials == 0);
}

TEST_CASE("a trial's work grows with its factors, iterations, scorings and folds") {
  const auto ratings = generated_ratings(300, 150, 9000, 3);
  vr::TrainConfig config;
  config.factors = 32;
  config.iterations = 10;
  const double work = vr::trial_work(ratings, config, 3, 2);
  CHECK(work > 0);
  CHECK(vr::trial_work(ratings, config, 3, 4) == Approx(2 * work));
  CHECK(vr::trial_work(ratings, config, 6, 2) > work);
  vr::TrainConfig more = config;
  more.iterations = 20;
  CHECK(vr::trial_work(ratings, more, 3, 2) > work);
  more = config;
  more.factors = 128;
  CHECK(vr::trial_work(ratings, more, 3, 2) > 4 * work);
  more = config;
  more.solver = vr::Solver::Cholesky;
  CHECK(vr::trial_work(ratings, more, 3, 2) > work);
}

TEST_CASE("a spent budget runs the base config alone and counts the proposals it skipped") {
  const auto ratings = generated_ratings(300, 150, 9000, 3);
  vr::TrainConfig base;
  base.factors = 8;
  base.iterations = 5;
  vr::TuneConfig config;
  config.trials = 16;
  config.seconds = 1e-9;
  const auto halving = vr::tune_als(ratings, base, config);
  REQUIRE(halving.trials.size() == 1);
  CHECK(halving.trials[0].number == 1);
  CHECK(halving.skipped_trials == 0);  // spent before the first round: it proposes nothing
  CHECK(halving.stopped_trials == 0);

  config.search = vr::TuneSearch::Random;
  config.trials = 50;
  const auto random = vr::tune_als(ratings, base, config);
  REQUIRE(random.trials.size() == 1);
  CHECK(random.skipped_trials == 24);  // the first batch: 25 with the base
  CHECK(random.stopped_trials == 0);

  // No budget: nothing skipped or stopped, every proposal runs.
  config = vr::TuneConfig{};
  config.trials = 4;
  config.halving_rounds = 1;
  const auto unlimited = vr::tune_als(ratings, base, config);
  CHECK(unlimited.skipped_trials == 0);
  CHECK(unlimited.stopped_trials == 0);
  CHECK(unlimited.trials.size() == 1 + 4 + 2 + 1);  // base, rung 0, its best third, theirs
}

TEST_CASE("a budget spent during a trial stops it, drops its scores and skips the rest") {
  const auto ratings = generated_ratings(300, 150, 9000, 3);
  // The base is the heaviest setting, so every later proposal is predicted to fit; the clock
  // advances one second at each reading, and every training iteration reads it, so the budget
  // runs out in the middle of the first proposal after the base.
  vr::TrainConfig base;
  base.factors = 64;
  base.iterations = 30;
  vr::TuneConfig config;
  config.seconds = 10;
  config.parallel_trials = 1;
  config.trials = 8;
  config.box.factors = vr::TuneRange{8, 16, 2, 4096};
  for (const auto search : {vr::TuneSearch::Random, vr::TuneSearch::Halving}) {
    SECTION(vr::to_string(search)) {
      config.search = search;
      double now = 0;
      config.clock = [&now] { return now++; };
      int reported = 0;
      const auto result = vr::tune_als(ratings, base, config, [&](const vr::TrialResult&) { ++reported; });
      REQUIRE(result.trials.size() == 1);
      CHECK(result.trials[0].number == 1);
      CHECK(reported == 1);
      CHECK(result.stopped_trials == 1);
      // Random: the rest of its first batch (4 with the base); halving: the rest of the first
      // rung (8 settings).
      CHECK(result.skipped_trials == (search == vr::TuneSearch::Random ? 2 : 7));
      CHECK(result.best.factors == 64);
    }
  }
}

TEST_CASE("the random search goes on to the refinements that fit after skipping larger settings") {
  const auto ratings = generated_ratings(300, 150, 9000, 3);
  // The base trains one iteration; the clock advances one second at each reading until the
  // base has finished (2 s after the budget's start, 1 s for the base itself), then a
  // thousandth. Every random setting (10 or more iterations) is predicted to take more than
  // the 4 s left of the 6 s budget and is skipped; the refinements around the base keep its
  // one iteration and fit.
  vr::TrainConfig base;
  base.factors = 8;
  base.iterations = 1;
  vr::TuneConfig config;
  config.search = vr::TuneSearch::Random;
  config.seconds = 6;
  config.parallel_trials = 1;
  config.trials = 16;
  double now = 0, step = 1;
  config.clock = [&] { return now += step; };
  const auto result = vr::tune_als(ratings, base, config, [&](const vr::TrialResult&) { step = 0.001; });
  CHECK(result.skipped_trials == 7);  // the first batch but the base
  CHECK(result.stopped_trials == 0);
  int refinements = 0;
  for (const auto& trial : result.trials) refinements += trial.refinement ? 1 : 0;
  CHECK(refinements == 8);
  CHECK(result.trials.size() == 9);
}

TEST_CASE("vr-evaluate reports the trials its time budget skipped") {
  vr::test::TempDir dir;
  const auto generated = run_command({tool("vr-generate"), "--users", "300", "--videos", "150", "--events", "9000",
                                      "--seed", "3", "-o", dir.file("events.csv")});
  REQUIRE(generated.exit_code == 0);
  // --best-config in the temporary folder: the default writes tuned.conf where the test runs.
  const auto evaluate = [&](std::vector<std::string> flags) {
    std::vector<std::string> argv{tool("vr-evaluate"), "--interactions", dir.file("events.csv"), "--tune",
                                  "--best-config", dir.file("best.conf"), "--quiet"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return run_command(argv);
  };
  // The random search proposes its first half (8 of the default 16) at once, then skips all but
  // the base.
  const auto json = evaluate({"--tune-search", "random", "--tune-seconds", "0.000001", "--format", "json"});
  INFO(json.err);
  REQUIRE(json.exit_code == 0);
  const auto report = nlohmann::json::parse(json.out);
  CHECK(report["tuning"]["trials"].size() == 1);
  CHECK(report["tuning"]["skipped_trials"] == 7);
  CHECK(report["tuning"]["stopped_trials"] == 0);

  const auto text = evaluate({"--tune-search", "random", "--tune-seconds", "0.000001"});
  REQUIRE(text.exit_code == 0);
  CHECK_THAT(text.out, Catch::Contains("the time budget (--tune-seconds) skipped 7 trials"));
  const auto unlimited = evaluate({"--tune-trials", "2", "--tune-seconds", "0"});
  REQUIRE(unlimited.exit_code == 0);
  CHECK_THAT(unlimited.out, !Catch::Contains("the time budget"));
}
