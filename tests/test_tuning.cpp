// Tuning: the hyperparameter file vr-evaluate --tune writes and vr-train --config reads, the
// search itself (deterministic, budgeted, never worse than the base on validation), and the
// goal on MovieLens 100K: the tuned model reaches nDCG@10 >= 0.48 on the test split.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/test_support.h"
#include "vr/errors.h"
#include "vr/evaluate.h"
#include "vr/generate.h"
#include "vr/interactions.h"
#include "vr/model.h"
#include "vr/training.h"
#include "vr/tuning.h"

using vr::test::generated_ratings;
using vr::test::run_command;
using vr::test::tool;

namespace {

// Two searches proposed the same settings in the same order and scored them identically.
void check_same_trials(const vr::TuningResult& a, const vr::TuningResult& b) {
  REQUIRE(a.trials.size() == b.trials.size());
  for (std::size_t i = 0; i < a.trials.size(); ++i) {
    INFO("trial " << a.trials[i].number);
    CHECK(a.trials[i].config.factors == b.trials[i].config.factors);
    CHECK(a.trials[i].config.regularization == b.trials[i].config.regularization);
    CHECK(a.trials[i].config.alpha == b.trials[i].config.alpha);
    CHECK(a.trials[i].config.scaling == b.trials[i].config.scaling);
    CHECK(a.trials[i].config.unobserved_weight == b.trials[i].config.unobserved_weight);
    CHECK(a.trials[i].validation_ndcg == b.trials[i].validation_ndcg);
  }
}

}  // namespace

TEST_CASE("hyperparameter files round-trip and name the line of a mistake") {
  vr::HyperparameterFile file;
  file.config.factors = 24;
  file.config.regularization = 29.6f;
  file.config.alpha = 0.908f;
  file.config.iterations = 30;
  file.config.scaling = vr::ConfidenceScaling::Log;
  file.config.eps = 2.5f;
  file.config.seed = 7;
  std::ostringstream out;
  vr::write_hyperparameters(out, file, "tuned by a test\nsecond line");
  CHECK_THAT(out.str(), Catch::StartsWith("# tuned by a test\n# second line\nmodel = als\n"));
  std::istringstream in(out.str());
  const auto back = vr::read_hyperparameters(in, "best.conf");
  CHECK(back.kind == vr::ModelKind::Als);
  CHECK(back.config.factors == 24);
  CHECK(back.config.regularization == 29.6f);
  CHECK(back.config.alpha == 0.908f);
  CHECK(back.config.iterations == 30);
  CHECK(back.config.scaling == vr::ConfidenceScaling::Log);
  CHECK(back.config.eps == 2.5f);
  CHECK(back.config.seed == 7);
  CHECK(back.keys.count("factors") == 1);

  std::istringstream item("model = item-knn  # neighbours\nneighbours = 12\nsimilarity = bm25\n");
  const auto knn = vr::read_hyperparameters(item, "knn.conf");
  CHECK(knn.kind == vr::ModelKind::ItemKnn);
  CHECK(knn.item_config.neighbours == 12);
  CHECK(knn.item_config.similarity == vr::Similarity::Bm25);
  CHECK(knn.config.factors == 20);  // untouched keys keep their defaults

  std::istringstream unknown("factors = 8\n\nfactorz = 9\n");
  CHECK_THROWS_WITH(vr::read_hyperparameters(unknown, "bad.conf"),
                    Catch::Contains("bad.conf:3") && Catch::Contains("factorz"));
  std::istringstream not_number("regularization = lots\n");
  CHECK_THROWS_WITH(vr::read_hyperparameters(not_number, "bad.conf"),
                    Catch::Contains("bad.conf:1") && Catch::Contains("regularization"));
  std::istringstream out_of_range("factors = 0\n");
  CHECK_THROWS_AS(vr::read_hyperparameters(out_of_range, "bad.conf"), vr::InvalidInput);
  std::istringstream no_equals("factors 8\n");
  CHECK_THROWS_WITH(vr::read_hyperparameters(no_equals, "bad.conf"), Catch::Contains("key = value"));
}

TEST_CASE("vr-train --config reads the file and explicit flags override it") {
  vr::test::TempDir dir;
  std::ostringstream csv;
  csv << "user_idx,video_idx,rating\n";
  for (int user = 0; user < 30; ++user) {
    for (int video = 0; video < 20; ++video) {
      if ((user * 7 + video * 3) % 5 < 2) csv << user << "," << video << "," << 1 + (user + video) % 3 << "\n";
    }
  }
  vr::test::write_file(dir.file("ratings.csv"), csv.str());
  vr::test::write_file(dir.file("best.conf"),
                       "# from vr-evaluate --tune\nmodel = als\nfactors = 6\nregularization = 12.5\nalpha = 2\n"
                       "iterations = 4\nscaling = log\neps = 0.5\n");
  const auto from_file = run_command({tool("vr-train"), "--dir", dir.path(), "--config", dir.file("best.conf"),
                                      "--model", dir.file("a.bin"), "--quiet"});
  INFO(from_file.err);
  REQUIRE(from_file.exit_code == 0);
  const auto a = vr::load_model(dir.file("a.bin")).info.config;
  CHECK(a.factors == 6);
  CHECK(a.regularization == 12.5f);
  CHECK(a.alpha == 2.0f);
  CHECK(a.iterations == 4);
  CHECK(a.scaling == vr::ConfidenceScaling::Log);
  CHECK(a.eps == 0.5f);

  const auto overridden = run_command({tool("vr-train"), "--dir", dir.path(), "--config", dir.file("best.conf"),
                                       "--factors", "3", "--model", dir.file("b.bin"), "--quiet"});
  REQUIRE(overridden.exit_code == 0);
  const auto b = vr::load_model(dir.file("b.bin")).info.config;
  CHECK(b.factors == 3);               // the flag wins
  CHECK(b.regularization == 12.5f);   // the file's value stays

  // The config file may choose the kind, and --model KIND overrides it.
  vr::test::write_file(dir.file("ease.conf"), "model = ease\nease_regularization = 40\n");
  REQUIRE(run_command({tool("vr-train"), "--dir", dir.path(), "--config", dir.file("ease.conf"), "--model",
                       dir.file("c.bin"), "--quiet"}).exit_code == 0);
  const auto c = vr::load_model(dir.file("c.bin"));
  CHECK(c.info.kind == "ease");
  CHECK(c.info.item_config.ease_regularization == 40.0f);
  REQUIRE(run_command({tool("vr-train"), "--dir", dir.path(), "--config", dir.file("ease.conf"), "--model",
                       "item-knn", "--model", dir.file("d.bin"), "--quiet"}).exit_code == 0);
  CHECK(vr::load_model(dir.file("d.bin")).info.kind == "item-knn");

  vr::test::write_file(dir.file("bad.conf"), "factors = 6\nspeed = 11\n");
  const auto bad = run_command({tool("vr-train"), "--dir", dir.path(), "--config", dir.file("bad.conf"), "--quiet"});
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("bad.conf:2") && Catch::Contains("speed"));
}

TEST_CASE("the search is deterministic, budgeted and starts from the base config") {
  const auto ratings = generated_ratings(300, 150, 9000, 3);
  vr::TrainConfig base;
  base.factors = 8;
  base.iterations = 5;
  vr::TuneConfig config;
  config.search = vr::TuneSearch::Random;
  config.trials = 7;
  config.parallel_trials = 2;
  std::vector<int> seen;
  const auto result = vr::tune_als(ratings, base, config, [&](const vr::TrialResult& trial) { seen.push_back(trial.number); });
  REQUIRE(result.trials.size() == 7);
  CHECK(seen.size() == 7);
  CHECK(result.trials[0].config.factors == 8);  // the base config is trial 1
  CHECK(result.trials[0].config.iterations == 5);
  CHECK_FALSE(result.trials[0].refinement);
  CHECK(result.trials.back().refinement);
  double best = 0;
  for (const auto& trial : result.trials) {
    best = std::max(best, trial.validation_ndcg);
    CHECK(trial.config.factors >= 8);
    CHECK(trial.config.factors <= 64);
    CHECK(trial.config.regularization >= 0.1f);
    CHECK(trial.config.regularization <= 100.0f);
  }
  CHECK(result.best_validation_ndcg == best);
  CHECK(result.best_validation_ndcg >= result.trials[0].validation_ndcg);
  // Validation is carved from the matrix given (the training part): about a quarter of it.
  CHECK(result.validation_ratings > ratings.nnz() / 5);
  CHECK(result.validation_ratings < ratings.nnz() / 3);

  // The same seed gives the same search whatever the parallelism.
  config.parallel_trials = 1;
  const auto serial = vr::tune_als(ratings, base, config);
  check_same_trials(serial, result);
  CHECK(serial.best.factors == result.best.factors);

  // A spent time budget still runs the base config, and nothing else.
  config.seconds = 1e-9;
  config.trials = 50;
  const auto hurried = vr::tune_als(ratings, base, config);
  REQUIRE(hurried.trials.size() == 1);
  CHECK(hurried.trials[0].number == 1);

  config = vr::TuneConfig{};
  config.search = vr::TuneSearch::Random;
  config.trials = 0;
  CHECK_THROWS_AS(vr::tune_als(ratings, base, config), vr::InvalidInput);
}

TEST_CASE("evaluate with tuning reports the tuned model beside the defaults and the baseline") {
  const auto ratings = generated_ratings(300, 150, 9000, 9);
  vr::EvaluateConfig config;
  config.train.factors = 8;
  config.train.iterations = 5;
  config.tune = vr::TuneConfig{};
  config.tune->search = vr::TuneSearch::Random;
  config.tune->trials = 4;
  const auto report = vr::evaluate(ratings, config);
  REQUIRE(report.tuning);
  REQUIRE(report.defaults);
  CHECK(report.train.factors == report.tuning->best.factors);
  // The validation ratings come out of the training part only.
  CHECK(report.tuning->validation_ratings < report.split.train_ratings);
  std::ostringstream json_text;
  vr::write_report_json(json_text, report);
  const auto json = nlohmann::json::parse(json_text.str());
  CHECK(json.at("defaults").at("ndcg@10").is_number());
  CHECK(json.at("best_config").at("factors") == report.tuning->best.factors);
  CHECK(json.at("best_config").contains("validation_ndcg@10"));
  CHECK(json.at("tuning").at("trials").size() == 4);
  CHECK(json.at("model") == json.at("models").at("als"));
  std::ostringstream table;
  vr::write_report_table(table, report);
  CHECK_THAT(table.str(), Catch::Contains("als-tuned") && Catch::Contains("als-defaults") &&
                              Catch::Contains("popularity") && Catch::Contains("tuning: 4 trials"));

  config.models = {vr::ModelKind::Ease, vr::ModelKind::Als};
  CHECK_THROWS_WITH(vr::evaluate(ratings, config), Catch::Contains("first of --models must be als"));
}

TEST_CASE("vr-evaluate --tune-search random on MovieLens 100K reaches nDCG@10 0.48 on the test split") {
  const auto movielens = vr::test::require_movielens_interactions_csv();
  vr::test::TempDir dir;
  vr::test::write_file(dir.file("ml.csv"), movielens);
  // The reference protocol (per-user random 75/25 split, top 10 over all films minus the
  // user's training films) with a fixed budget of 16 trials (about 2 x 16 x 0.1 s of training).
  const auto result = run_command({tool("vr-evaluate"), "--interactions", dir.file("ml.csv"), "--tune",
                                   "--tune-search", "random", "--tune-trials", "16", "--best-config", dir.file("best.conf"), "--format", "json",
                                   "--quiet"});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.err, Catch::Contains("trial   1 random") && Catch::Contains("trial  16"));
  const auto report = nlohmann::json::parse(result.out);
  const double tuned = report["model"]["ndcg@10"];
  const double defaults = report["defaults"]["ndcg@10"];
  const double popularity = report["popularity"]["ndcg@10"];
  INFO("tuned " << tuned << ", defaults " << defaults << ", popularity " << popularity << "; best "
                << report["best_config"].dump());
  CHECK(tuned >= 0.48);
  CHECK(defaults == Approx(0.46).margin(0.02));
  CHECK(popularity == Approx(0.25).margin(0.02));
  CHECK(report["tuning"]["trials"].size() == 16);

  // The best config trains the same model with vr-train --config.
  const auto best = vr::load_hyperparameters(dir.file("best.conf"));
  CHECK(best.config.factors == report["best_config"]["factors"].get<int>());
  CHECK(best.config.regularization == Approx(report["best_config"]["regularization"].get<double>()));
  CHECK(best.config.iterations == report["best_config"]["iterations"].get<int>());
}

TEST_CASE("successive halving starts from the base, keeps a third per rung, is deterministic and never worse on validation") {
  const auto ratings = generated_ratings(300, 150, 9000, 3);
  vr::TrainConfig base;
  base.factors = 8;
  base.iterations = 7;
  vr::TuneConfig config;  // Halving is the default search
  REQUIRE(config.search == vr::TuneSearch::Halving);
  config.trials = 9;
  config.halving_rounds = 1;
  config.refinement_rounds = 0;
  config.parallel_trials = 2;
  const auto result = vr::tune_als(ratings, base, config);
  // Base, then 9 settings at 5 iterations, the best 3 at 15, the best 1 at 30.
  REQUIRE(result.trials.size() == 1 + 9 + 3 + 1);
  CHECK(result.trials[0].rung == -1);
  CHECK(result.trials[0].config.factors == 8);
  CHECK(result.trials[0].config.iterations == 7);  // the base keeps its own iterations
  std::map<int, int> per_rung;
  double best = 0;
  for (const auto& trial : result.trials) {
    ++per_rung[trial.rung];
    best = std::max(best, trial.validation_ndcg);
    if (trial.rung >= 0) CHECK(trial.config.iterations <= vr::kHalvingIterations[trial.rung]);
    // No trial is scored, so none is kept, below the first checkpoint (5 iterations).
    if (trial.rung >= 0) CHECK(trial.config.iterations >= vr::kHalvingCheckpoints[0]);
    CHECK(trial.config.factors >= 8);
    CHECK(trial.config.factors <= 512);
  }
  CHECK(per_rung[0] == 9);
  CHECK(per_rung[1] == 3);
  CHECK(per_rung[2] == 1);
  CHECK(result.best_validation_ndcg == best);
  CHECK(result.best_validation_ndcg >= result.trials[0].validation_ndcg);

  // A trial's score is the exact validation nDCG of its config: retraining the best config
  // alone (its iterations included) as the random search's base gives the same figure.
  vr::TuneConfig check = config;
  check.search = vr::TuneSearch::Random;
  check.trials = 1;
  const auto again = vr::tune_als(ratings, result.best, check);
  CHECK(again.trials[0].validation_ndcg == Approx(result.best_validation_ndcg).epsilon(1e-12));

  config.parallel_trials = 1;
  const auto serial = vr::tune_als(ratings, base, config);
  check_same_trials(serial, result);
  config.seed = 7;
  const auto other_seed = vr::tune_als(ratings, base, config);
  CHECK(other_seed.trials[1].config.regularization != result.trials[1].config.regularization);

  // A spent time budget still runs the base config, and nothing else.
  config.seconds = 1e-9;
  CHECK(vr::tune_als(ratings, base, config).trials.size() == 1);
}

TEST_CASE("the halving box widens when the best setting sits at its edge") {
  vr::TuneBox box;
  vr::TrainConfig middle;
  middle.factors = 64;
  middle.regularization = 3.0f;
  middle.alpha = 1.0f;
  CHECK_FALSE(vr::widen_at_edges(box, middle));
  vr::TrainConfig edge = middle;
  edge.alpha = 1.5e-3f;  // in the lowest tenth of 1e-3..1e3
  edge.regularization = 8000.0f;  // in the highest tenth of 1e-3..1e4
  REQUIRE(vr::widen_at_edges(box, edge));
  CHECK(box.alpha.low == Approx(1e-6));  // half of six decades further down
  CHECK(box.alpha.high == Approx(1e3));
  CHECK(box.regularization.high == Approx(1e7));  // 10^7.5, capped at its limit
  CHECK(box.factors.high == 512);

  // End to end: planted data with 5 tastes in a first box of 1-2 factors. The best of the
  // first round sits at the top edge, so the second round searches more factors, and wins.
  const auto ratings = generated_ratings(300, 150, 9000, 3);
  vr::TuneConfig config;
  config.box.factors = {1, 2, 1, 4096};
  config.box.regularization = {0.5, 5, 1e-6, 1e7};
  config.box.alpha = {0.5, 5, 1e-6, 1e6};
  config.trials = 6;
  config.halving_rounds = 3;
  vr::TrainConfig base;
  base.factors = 1;
  base.iterations = 10;
  const auto result = vr::tune_als(ratings, base, config);
  int most_factors = 0;
  for (const auto& trial : result.trials) most_factors = std::max(most_factors, trial.config.factors);
  INFO("best factors " << result.best.factors << ", most factors tried " << most_factors);
  CHECK(most_factors > 2);
  CHECK(result.best.factors > 2);
}

TEST_CASE("vr-evaluate --tune (successive halving) on MovieLens 100K reaches nDCG@10 0.48, above its starting settings") {
  const auto movielens = vr::test::require_movielens_interactions_csv();
  vr::test::TempDir dir;
  vr::test::write_file(dir.file("ml.csv"), movielens);
  const auto result = run_command({tool("vr-evaluate"), "--interactions", dir.file("ml.csv"), "--tune", "--tune-seconds",
                                   "0", "--best-config", dir.file("best.conf"), "--format", "json", "--quiet"});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.err, Catch::Contains("trial   1 base") && Catch::Contains("rung 2"));
  const auto report = nlohmann::json::parse(result.out);
  const double tuned = report["model"]["ndcg@10"];
  const double defaults = report["defaults"]["ndcg@10"];
  INFO("tuned " << tuned << ", defaults " << defaults << "; best " << report["best_config"].dump());
  CHECK(tuned >= 0.48);
  CHECK(tuned > defaults);
  const auto best = vr::load_hyperparameters(dir.file("best.conf"));
  CHECK(best.config.factors == report["best_config"]["factors"].get<int>());
  CHECK(vr::to_string(best.config.scaling) == report["best_config"]["scaling"].get<std::string>());
}

TEST_CASE("the halving search with search_ials samples iALS's weights in their box deterministically, and none without it") {
  const auto ratings = generated_ratings(300, 150, 9000, 3);
  vr::TrainConfig base;
  base.factors = 8;
  base.iterations = 5;
  vr::TuneConfig config;
  config.trials = 6;
  config.halving_rounds = 1;
  config.refinement_rounds = 0;
  const auto plain = vr::tune_als(ratings, base, config);
  for (const auto& trial : plain.trials) {
    CHECK(trial.config.unobserved_weight == 1.0f);
    CHECK(trial.config.reg_exponent == 0.0f);
  }
  config.search_ials = true;
  const auto ials = vr::tune_als(ratings, base, config);
  REQUIRE(ials.trials.size() == plain.trials.size());
  CHECK(ials.trials[0].config.unobserved_weight == 1.0f);  // the base as given
  std::set<float> exponents;
  for (std::size_t i = 1; i < ials.trials.size(); ++i) {
    const auto& trial = ials.trials[i].config;
    CHECK(trial.unobserved_weight >= 1e-3f * 0.999f);
    CHECK(trial.unobserved_weight <= 1.0f);
    CHECK(trial.reg_exponent >= 0.0f);
    CHECK(trial.reg_exponent <= 1.0f);
    exponents.insert(trial.reg_exponent);
    // The first rung's settings draw the other dimensions as without the iALS ones.
    if (ials.trials[i].rung == 0) {
      CHECK(trial.factors == plain.trials[i].config.factors);
      CHECK(trial.alpha == plain.trials[i].config.alpha);
      // lambda is sampled at a typical row's scale (n + alpha0 N)^nu: lambda times that
      // scale is the sample from the regularization range.
      const double typical = vr::regularization_scale(ratings, trial.unobserved_weight, trial.reg_exponent);
      CHECK(trial.regularization * typical == Approx(plain.trials[i].config.regularization).epsilon(0.01));
    }
  }
  CHECK(exponents.size() > 2);
  CHECK(vr::regularization_scale(ratings, 0.5f, 0.0f) == 1.0);
  const double users = ratings.rows, videos = ratings.cols, nnz = static_cast<double>(ratings.nnz());
  CHECK(vr::regularization_scale(ratings, 0.5f, 1.0f) ==
        Approx(std::sqrt((nnz / users + 0.5 * videos) * (nnz / videos + 0.5 * users))));
  CHECK(ials.best_validation_ndcg >= ials.trials[0].validation_ndcg);
  check_same_trials(vr::tune_als(ratings, base, config), ials);
  config.search = vr::TuneSearch::Random;
  CHECK_THROWS_AS(vr::validate(config), vr::InvalidInput);
}

TEST_CASE("the halving search's refinement tries the best with iALS's recipe and steps around it, deterministically") {
  const auto ratings = generated_ratings(300, 150, 9000, 3);
  vr::TrainConfig base;
  base.factors = 8;
  base.iterations = 5;
  vr::TuneConfig config;
  config.box.factors = {4, 16, 2, 64};  // small models keep the test quick under sanitizers
  config.trials = 4;
  config.halving_rounds = 1;
  config.refinement_rounds = 2;
  config.refinement_trials = 3;
  config.parallel_trials = 2;
  const auto result = vr::tune_als(ratings, base, config);
  // Base, 4 + 2 + 1 halving settings, then 6 iALS versions of the best and 3 steps, then 3 steps.
  REQUIRE(result.trials.size() == 1 + 4 + 2 + 1 + 6 + 3 + 3);
  // The best before refinement: the best of the first 8 trials.
  const auto before = std::max_element(result.trials.begin(), result.trials.begin() + 8,
                                       [](const vr::TrialResult& a, const vr::TrialResult& b) {
                                         return a.validation_ndcg < b.validation_ndcg;
                                       });
  std::set<float> unobserved_weights;
  for (std::size_t i = 8; i < result.trials.size(); ++i) {
    const auto& trial = result.trials[i];
    CHECK(trial.rung == vr::kRefinementRung);
    CHECK(trial.refinement);
    CHECK(trial.config.iterations <= vr::kHalvingIterations[2]);
    if (i < 14) {
      // Rendle et al.'s recipe: nu 1, a small alpha0, lambda at the typical row's scale.
      CHECK(trial.config.reg_exponent == 1.0f);
      unobserved_weights.insert(trial.config.unobserved_weight);
      const double share = (i - 8) % 2 == 0 ? 1.0 : 0.5;
      const double typical = vr::regularization_scale(ratings, trial.config.unobserved_weight, 1.0f);
      CHECK(trial.config.regularization * typical == Approx(before->config.regularization * share).epsilon(0.01));
      CHECK(trial.config.factors == before->config.factors);
      CHECK(trial.config.alpha == before->config.alpha);
    }
  }
  CHECK(unobserved_weights == std::set<float>{0.1f, 0.3f, 1.0f});
  double best = 0;
  for (const auto& trial : result.trials) best = std::max(best, trial.validation_ndcg);
  CHECK(result.best_validation_ndcg == best);
  CHECK(result.best_validation_ndcg >= result.trials[0].validation_ndcg);  // never below the base
  CHECK(result.best_validation_ndcg >= before->validation_ndcg);

  // The same seed gives the same search whatever the parallelism.
  config.parallel_trials = 1;
  const auto serial = vr::tune_als(ratings, base, config);
  check_same_trials(serial, result);
  config.refinement_trials = 0;
  CHECK_THROWS_AS(vr::validate(config), vr::InvalidInput);
}

TEST_CASE("a validation carve by time holds out exactly each user's latest training ratings") {
  // user 0: five videos at times 50, 10, 40, 30, 20; user 1: two at 5, 7; user 2: one.
  const std::vector<vr::Rating> ratings{{0, 0, 1}, {0, 1, 1}, {0, 2, 1}, {0, 3, 1}, {0, 4, 1},
                                        {1, 1, 1}, {1, 3, 1}, {2, 2, 1}};
  const auto matrix = vr::build_sparse_matrix(ratings, 3, 5);
  vr::TuneConfig config;
  config.timestamps = std::make_shared<const std::vector<double>>(std::vector<double>{50, 10, 40, 30, 20, 5, 7, 9});
  const auto held_out = [](const vr::SparseMatrix& test, std::uint32_t user) {
    std::set<std::uint32_t> videos;
    for (std::uint64_t k = test.row_offsets[user]; k < test.row_offsets[user + 1]; ++k) videos.insert(test.col_indices[k]);
    return videos;
  };
  config.carve = vr::ValidationCarve::LatestOne;
  auto folds = vr::validation_folds(matrix, config);
  REQUIRE(folds.size() == 1);  // a carve by time is the same for every seed
  CHECK(held_out(folds[0].test, 0) == std::set<std::uint32_t>{0});
  CHECK(held_out(folds[0].test, 1) == std::set<std::uint32_t>{3});
  CHECK(held_out(folds[0].test, 2).empty());  // a single rating stays in training
  CHECK(folds[0].train.nnz() == 6);

  config.carve = vr::ValidationCarve::LatestFraction;
  config.validation_ratio = 0.4;  // round(5 x 0.4) = 2 and round(2 x 0.4) = 1
  folds = vr::validation_folds(matrix, config);
  REQUIRE(folds.size() == 1);
  CHECK(held_out(folds[0].test, 0) == std::set<std::uint32_t>{0, 2});
  CHECK(held_out(folds[0].test, 1) == std::set<std::uint32_t>{3});
  CHECK(folds[0].test.nnz() == 3);

  config.timestamps.reset();
  CHECK_THROWS_AS(vr::validate(config), vr::InvalidInput);
}

TEST_CASE("evaluate on a split by time tunes on the training part's latest ratings") {
  vr::GenerateConfig generate;
  generate.users = 200;
  generate.videos = 100;
  generate.events = 5000;
  generate.tastes = 4;
  generate.seed = 5;
  std::stringstream log;
  vr::generate_interactions(log, generate);
  const auto data = vr::read_timed_interactions(log, "generated", vr::FeaturesConfig{});
  REQUIRE(data.timestamps.size() == data.ratings.nnz());

  // The training part's timestamps line up with its ratings: each user's held-out validation
  // rating is the newest of the user's training ratings.
  std::vector<double> train_times;
  const auto split = vr::split_per_user_by_time(data, vr::SplitMethod::LeaveLastOut, 0, &train_times);
  REQUIRE(train_times.size() == split.train.nnz());
  vr::TuneConfig carve;
  carve.carve = vr::ValidationCarve::LatestOne;
  carve.timestamps = std::make_shared<const std::vector<double>>(train_times);
  const auto folds = vr::validation_folds(split.train, carve);
  REQUIRE(folds.size() == 1);
  std::uint64_t users_with_two = 0;
  for (std::uint32_t user = 0; user < split.train.rows; ++user) {
    const std::uint64_t begin = split.train.row_offsets[user], end = split.train.row_offsets[user + 1];
    if (end - begin < 2) continue;
    ++users_with_two;
    const double newest = *std::max_element(train_times.begin() + static_cast<std::ptrdiff_t>(begin),
                                            train_times.begin() + static_cast<std::ptrdiff_t>(end));
    REQUIRE(folds[0].test.row_size(user) == 1);
    const std::uint32_t video = folds[0].test.col_indices[folds[0].test.row_offsets[user]];
    for (std::uint64_t k = begin; k < end; ++k) {
      if (split.train.col_indices[k] == video) CHECK(train_times[k] == newest);
    }
  }
  CHECK(folds[0].test.nnz() == users_with_two);

  // evaluate() carves validation by the test split's rule when no ratio is imposed.
  vr::EvaluateConfig config;
  config.split.method = vr::SplitMethod::LeaveLastOut;
  config.train.factors = 4;
  config.train.iterations = 3;
  config.tune = vr::TuneConfig{};
  config.tune->trials = 2;
  config.tune->halving_rounds = 1;
  config.tune->refinement_rounds = 0;
  config.tune->carve_like_test = true;
  const auto report = vr::evaluate(data, config);
  REQUIRE(report.tuning);
  CHECK(report.tuning->validation_ratings == users_with_two);
  config.tune->carve_like_test = false;  // a ratio imposed: the random carve of 25 %
  CHECK(vr::evaluate(data, config).tuning->validation_ratings > users_with_two);
}
