// The popularity penalty (score - beta ln(1 + n_i)) and the tuner's coverage constraint: a
// hand-computed re-ranking, beta 0 changing nothing, the pruned scan equal to the full one with
// the penalty on, the tuner keeping to a minimum coverage, and the tools' flags.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/test_support.h"
#include "vr/errors.h"
#include "vr/evaluate.h"
#include "vr/model_top_k.h"
#include "vr/popularity_penalty.h"
#include "vr/recommender.h"
#include "vr/training.h"
#include "vr/tuning.h"
#include "vr/tuning_constraint.h"
#include "vr/video_panels.h"

using vr::test::generated_ratings;
using vr::test::run_command;
using vr::test::TempDir;
using vr::test::tool;

namespace {

// Same videos, same order, bit-identical scores.
void require_identical(const std::vector<vr::ScoredVideo>& expected, const std::vector<vr::ScoredVideo>& actual) {
  REQUIRE(expected.size() == actual.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("rank " << i);
    REQUIRE(expected[i].video == actual[i].video);
    REQUIRE(std::memcmp(&expected[i].score, &actual[i].score, sizeof(float)) == 0);
  }
}

// 9 users x 3 videos: users 0-6 rated video 0, user 7 rated video 1, nobody video 2, user 8
// nothing (n = 7, 1, 0).
vr::SparseMatrix three_video_ratings() {
  std::vector<vr::Rating> ratings;
  for (std::uint32_t user = 0; user < 7; ++user) ratings.push_back(vr::Rating{user, 0, 1.0f});
  ratings.push_back(vr::Rating{7, 1, 2.0f});
  return vr::build_sparse_matrix(ratings, 9, 3);
}

vr::Model trained_als(const vr::SparseMatrix& ratings, int factors) {
  vr::Model model;
  model.info.config.factors = factors;
  model.info.config.iterations = 8;
  model.info.config.threads = 2;
  model.info.n_users = ratings.rows;
  model.info.n_videos = ratings.cols;
  model.info.n_ratings = ratings.nnz();
  model.factors = vr::train_als(ratings, model.info.config);
  return model;
}

// Ids "u0".. and "v0".. for every row and column of `ratings`.
vr::Mappings mappings_for(const vr::SparseMatrix& ratings) {
  vr::Mappings mappings;
  for (std::uint32_t user = 0; user < ratings.rows; ++user) mappings.users.intern("u" + std::to_string(user));
  for (std::uint32_t video = 0; video < ratings.cols; ++video) mappings.videos.intern("v" + std::to_string(video));
  return mappings;
}

// A model folder written by the real tools on generated events.
void make_artifacts(const TempDir& dir) {
  REQUIRE(run_command({tool("vr-generate"), "--users", "300", "--videos", "400", "--events", "9000", "-o",
                       dir.file("events.csv")})
              .exit_code == 0);
  REQUIRE(run_command({tool("vr-features"), dir.file("events.csv"), "--dir", dir.path()}).exit_code == 0);
  REQUIRE(run_command({tool("vr-train"), "--dir", dir.path(), "--factors", "16", "--iterations", "6", "--quiet"})
              .exit_code == 0);
}

}  // namespace

TEST_CASE("the popularity penalty re-ranks a hand-computed case") {
  const vr::SparseMatrix train = three_video_ratings();
  CHECK(vr::video_rating_counts(train) == std::vector<std::uint32_t>{7, 1, 0});
  const std::vector<float> penalties = vr::popularity_penalties(train, 0.5);
  REQUIRE(penalties.size() == 3);
  // 0.5 ln 8 = 1.0397208, 0.5 ln 2 = 0.3465736, 0.5 ln 1 = 0.
  CHECK(penalties[0] == Approx(1.0397208).epsilon(1e-6));
  CHECK(penalties[1] == Approx(0.3465736).epsilon(1e-6));
  CHECK(penalties[2] == 0.0f);

  // One factor: raw scores 3, 2.5, 1 rank 0, 1, 2; penalised 1.9602792, 2.1534264, 1 rank 1, 0, 2.
  vr::FactorMatrix items(3, 1);
  items << 3.0f, 2.5f, 1.0f;
  const float user[] = {1.0f};
  for (const vr::ScanMode mode : {vr::ScanMode::Full, vr::ScanMode::Pruned}) {
    INFO(vr::scan_mode_name(mode));
    const auto plain = vr::VideoPanels(items, mode).top_k(user, 3, {});
    REQUIRE(plain.size() == 3);
    CHECK((plain[0].video == 0 && plain[1].video == 1 && plain[2].video == 2));
    const auto penalised = vr::VideoPanels(items, mode, penalties).top_k(user, 3, {});
    REQUIRE(penalised.size() == 3);
    CHECK(penalised[0].video == 1);
    CHECK(penalised[0].score == Approx(2.1534264).epsilon(1e-6));
    CHECK(penalised[1].video == 0);
    CHECK(penalised[1].score == Approx(1.9602792).epsilon(1e-6));
    CHECK(penalised[2].video == 2);
    CHECK(penalised[2].score == 1.0f);
  }

  // Videos 1 and 2 are the long tail (outside the most popular 20 %): the penalty's top 1
  // reaches one of them, the plain top 1 none.
  CHECK(vr::long_tail_videos(train) == std::vector<char>{0, 1, 1});
  vr::Model model;
  model.info.n_users = 9;
  model.info.n_videos = 3;
  model.factors.item_factors = items;
  model.factors.user_factors = vr::FactorMatrix::Ones(9, 1);
  const vr::SparseMatrix nothing_watched = vr::build_sparse_matrix({}, 9, 3);
  for (const vr::ScanMode mode : {vr::ScanMode::Full, vr::ScanMode::Pruned}) {
    const auto plain = vr::top_k_for_model(model, nothing_watched, 1, 1, mode);
    const auto penalised = vr::top_k_for_model(model, nothing_watched, 1, 1, mode, nullptr, nullptr, &penalties);
    CHECK(plain[8][0].video == 0);
    CHECK(penalised[8][0].video == 1);
    CHECK(vr::long_tail_coverage_at(plain, vr::long_tail_videos(train), 1) == 0.0);
    CHECK(vr::long_tail_coverage_at(penalised, vr::long_tail_videos(train), 1) == 0.5);
  }
}

TEST_CASE("a popularity penalty of 0 is off and bad betas are refused") {
  const vr::SparseMatrix train = three_video_ratings();
  CHECK(vr::popularity_penalties(train, 0.0).empty());
  CHECK_THROWS_AS(vr::popularity_penalties(train, -0.1), vr::InvalidInput);
  CHECK_THROWS_AS(vr::popularity_penalties(train, std::nan("")), vr::InvalidInput);
  CHECK(vr::parse_popularity_penalty("0.25") == 0.25);
  for (const char* bad : {"", "abc", "-1", "1x", "inf", "nan"}) {
    INFO(bad);
    CHECK_THROWS_WITH(vr::parse_popularity_penalty(bad, "--popularity-penalty"), Catch::Contains("--popularity-penalty"));
  }
  // Text that is no number is quoted; a number out of range is refused as
  // validate_popularity_penalty refuses it.
  CHECK_THROWS_WITH(vr::parse_popularity_penalty("1x"), "--popularity-penalty: '1x' is not a number >= 0 (the penalty's beta; 0 = off)");
  CHECK_THROWS_WITH(vr::parse_popularity_penalty("-1"), "--popularity-penalty must be a finite number >= 0 (got -1)");
  CHECK_THROWS_WITH(vr::parse_popularity_penalty("inf"), "--popularity-penalty must be a finite number >= 0 (got inf)");
  CHECK_THROWS_WITH(vr::validate_popularity_penalty(-1e-9), "popularity penalty must be a finite number >= 0 (got -1e-09)");
  const vr::SparseMatrix ratings = generated_ratings(200, 120, 5000, 4);
  const vr::Model model = trained_als(ratings, 8);
  const std::vector<float> none;
  for (const vr::ScanMode mode : {vr::ScanMode::Full, vr::ScanMode::Pruned}) {
    const auto plain = vr::top_k_for_model(model, ratings, 10, 2, mode);
    const auto with_empty = vr::top_k_for_model(model, ratings, 10, 2, mode, nullptr, nullptr, &none);
    for (std::uint32_t user = 0; user < ratings.rows; ++user) require_identical(plain[user], with_empty[user]);
  }
  const vr::Mappings mappings = mappings_for(ratings);
  const vr::Recommender plain_recommender(model, mappings, ratings, vr::ScanMode::Pruned);
  const vr::Recommender off(model, mappings, ratings, vr::ScanMode::Pruned, 0.0);
  CHECK(off.popularity_penalty() == 0.0);
  vr::RecommendOptions options;
  options.k = 10;
  for (std::uint32_t user = 0; user < ratings.rows; user += 5) {
    const auto expected = plain_recommender.recommend(mappings.users.id(user), options);
    const auto actual = off.recommend(mappings.users.id(user), options);
    REQUIRE(expected.size() == actual.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      CHECK(expected[i].video_id == actual[i].video_id);
      CHECK(std::memcmp(&expected[i].score, &actual[i].score, sizeof(float)) == 0);
    }
  }
  CHECK_THROWS_AS(vr::Recommender(model, mappings, ratings, vr::ScanMode::Pruned, -1.0), vr::InvalidInput);
  std::vector<float> negative(ratings.cols, 0.0f);
  negative[3] = -0.5f;
  CHECK_THROWS_AS(vr::VideoPanels(model.factors.item_factors, vr::ScanMode::Pruned, negative), vr::InvalidInput);
  CHECK_THROWS_AS(vr::VideoPanels(model.factors.item_factors, vr::ScanMode::Pruned, std::vector<float>(3, 0.1f)),
                  vr::InvalidInput);
}

TEST_CASE("with the popularity penalty the pruned scan answers exactly as the full scan and as its definition") {
  const vr::SparseMatrix ratings = generated_ratings(300, 700, 12000, 5);
  const vr::Model model = trained_als(ratings, 16);
  for (const double beta : {0.05, 0.3, 2.0}) {
    INFO("beta " << beta);
    const std::vector<float> penalties = vr::popularity_penalties(ratings, beta);
    const vr::VideoPanels full(model.factors.item_factors, vr::ScanMode::Full, penalties);
    const vr::VideoPanels pruned(model.factors.item_factors, vr::ScanMode::Pruned, penalties);
    const vr::VideoPanels unpenalised(model.factors.item_factors, vr::ScanMode::Full);
    const auto videos = static_cast<int>(ratings.cols);
    for (Eigen::Index user = 0; user < model.factors.user_factors.rows(); ++user) {
      INFO("user " << user);
      const float* factor = model.factors.user_factors.row(user).data();
      const std::vector<std::uint32_t> excluded(
          ratings.col_indices.begin() + static_cast<std::ptrdiff_t>(ratings.row_offsets[user]),
          ratings.col_indices.begin() + static_cast<std::ptrdiff_t>(ratings.row_offsets[user + 1]));
      for (const int k : {1, 10, 50}) {
        const auto expected = full.top_k(factor, k, excluded);
        require_identical(expected, pruned.top_k(factor, k, excluded));
        // The definition: every score minus its penalty (one float subtraction), best first,
        // ties to the lower index.
        if (k == 10) {
          std::vector<vr::ScoredVideo> all = unpenalised.top_k(factor, videos, excluded);
          for (auto& scored : all) scored.score -= penalties[scored.video];
          std::stable_sort(all.begin(), all.end(), [](const vr::ScoredVideo& a, const vr::ScoredVideo& b) {
            return a.score > b.score || (a.score == b.score && a.video < b.video);
          });
          all.resize(static_cast<std::size_t>(k));
          require_identical(all, expected);
        }
      }
    }
    // Every user at once, both scans, and through the recommender.
    const auto all_full = vr::top_k_for_model(model, ratings, 10, 2, vr::ScanMode::Full, nullptr, nullptr, &penalties);
    const auto all_pruned = vr::top_k_for_model(model, ratings, 10, 2, vr::ScanMode::Pruned, nullptr, nullptr, &penalties);
    const vr::Mappings mappings = mappings_for(ratings);
    const vr::Recommender full_recommender(model, mappings, ratings, vr::ScanMode::Full, beta);
    const vr::Recommender pruned_recommender(model, mappings, ratings, vr::ScanMode::Pruned, beta);
    vr::RecommendOptions options;
    options.k = 10;
    for (std::uint32_t user = 0; user < ratings.rows; ++user) {
      INFO("user " << user);
      require_identical(all_full[user], all_pruned[user]);
      for (const vr::Recommender* recommender : {&full_recommender, &pruned_recommender}) {
        const auto answer = recommender->recommend(mappings.users.id(user), options);
        std::vector<vr::ScoredVideo> scored;
        for (const auto& r : answer) scored.push_back(vr::ScoredVideo{*mappings.videos.find(r.video_id), r.score});
        require_identical(all_full[user], scored);
      }
    }
  }
}

TEST_CASE("the tuner's minimum coverage: ranks_above and the best trial keep to it") {
  // Both meet: nDCG decides; one meets: it wins; neither: coverage decides; minimum 0 = nDCG.
  CHECK(vr::ranks_above(0.3, 0.5, 0.2, 0.6, 0.4));
  CHECK_FALSE(vr::ranks_above(0.3, 0.3, 0.2, 0.6, 0.4));
  CHECK(vr::ranks_above(0.1, 0.35, 0.2, 0.3, 0.4));
  CHECK(vr::ranks_above(0.3, 0.0, 0.2, 0.9, 0.0));
  CHECK_FALSE(vr::ranks_above(0.2, 0.5, 0.2, 0.5, 0.4));  // equal: the earlier stays
  CHECK(vr::best_checkpoint({0.3, 0.5, 0.5}, {0.1, 0.1, 0.9}, 0.0) == 1);
  CHECK(vr::best_checkpoint({0.3, 0.5, 0.4}, {0.6, 0.1, 0.7}, 0.5) == 2);
  CHECK_THROWS_AS(vr::validate_min_coverage(1.5), vr::InvalidInput);

  const vr::SparseMatrix ratings = generated_ratings(300, 400, 9000, 3);
  vr::TrainConfig base;
  base.factors = 8;
  base.iterations = 5;
  for (const vr::TuneSearch search : {vr::TuneSearch::Random, vr::TuneSearch::Halving}) {
    INFO(vr::to_string(search));
    vr::TuneConfig config;
    config.search = search;
    config.trials = search == vr::TuneSearch::Random ? 8 : 6;
    config.halving_rounds = 1;
    config.k = 5;
    config.folds = 1;
    const vr::TuningResult free = vr::tune_als(ratings, base, config);
    CHECK(free.coverage_met);
    // A minimum between the unconstrained best's coverage and the widest trial's.
    double widest = 0;
    for (const auto& trial : free.trials) widest = std::max(widest, trial.validation_coverage);
    REQUIRE(widest > free.best_validation_coverage);
    config.min_coverage = (widest + free.best_validation_coverage) / 2;
    const vr::TuningResult constrained = vr::tune_als(ratings, base, config);
    CHECK(constrained.coverage_met);
    CHECK(constrained.best_validation_coverage >= config.min_coverage);
    double best_feasible = -1;
    for (const auto& trial : constrained.trials) {
      if (trial.validation_coverage >= config.min_coverage) best_feasible = std::max(best_feasible, trial.validation_ndcg);
    }
    CHECK(constrained.best_validation_ndcg == best_feasible);

    // Out of reach: said so, and the widest trial is picked.
    config.min_coverage = 1.0;
    const vr::TuningResult unreachable = vr::tune_als(ratings, base, config);
    double unreachable_widest = 0;
    for (const auto& trial : unreachable.trials) unreachable_widest = std::max(unreachable_widest, trial.validation_coverage);
    REQUIRE(unreachable_widest < 1.0);
    CHECK_FALSE(unreachable.coverage_met);
    CHECK(unreachable.best_validation_coverage == unreachable_widest);
  }
}

TEST_CASE("evaluate with popularity penalties reports beta 0 as the model and leaves the rest unchanged") {
  const vr::SparseMatrix ratings = generated_ratings(300, 400, 9000, 6);
  vr::EvaluateConfig config;
  config.train.factors = 12;
  config.train.iterations = 6;
  config.cutoffs = {5, 10};
  const auto plain = vr::evaluate(ratings, config);
  config.popularity_penalties = {0.05, 3.0};
  const auto penalised = vr::evaluate(ratings, config);
  const auto& rows = penalised.models.front().penalties;
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].beta == 0.0);
  CHECK(rows[1].beta == 0.05);
  CHECK(rows[2].beta == 3.0);
  for (std::size_t i = 0; i < config.cutoffs.size(); ++i) {
    CHECK(rows[0].metrics.at_k[i].ndcg == plain.model.at_k[i].ndcg);
    CHECK(rows[0].metrics.at_k[i].coverage == plain.model.at_k[i].coverage);
  }
  // A mild penalty spreads the lists into the long tail; a strong one outweighs the scores
  // and sends every user to the same few videos nobody rated (no penalty at all).
  CHECK(rows[1].long_tail_coverage[1] > rows[0].long_tail_coverage[1]);
  CHECK(rows[1].metrics.at_k[1].coverage > rows[0].metrics.at_k[1].coverage);
  CHECK(rows[2].metrics.at_k[1].coverage < rows[0].metrics.at_k[1].coverage);

  std::ostringstream plain_json, penalised_json;
  vr::write_report_json(plain_json, plain);
  vr::write_report_json(penalised_json, penalised);
  auto json = nlohmann::json::parse(penalised_json.str());
  REQUIRE(json.contains("popularity_penalty"));
  const auto& als_rows = json.at("popularity_penalty").at("models").at("als");
  REQUIRE(als_rows.size() == 3);
  CHECK(als_rows[2].at("beta") == 3.0);
  CHECK(als_rows[2].at("long_tail_coverage@10") == rows[2].long_tail_coverage[1]);
  json.erase("popularity_penalty");
  CHECK(json == nlohmann::json::parse(plain_json.str()));
  std::ostringstream table;
  vr::write_report_table(table, penalised);
  CHECK_THAT(table.str(), Catch::Contains("popularity penalty: score - beta * ln(1 + n)") &&
                              Catch::Contains("long_tail@10"));
  std::ostringstream plain_table;
  vr::write_report_table(plain_table, plain);
  CHECK_THAT(plain_table.str(), !Catch::Contains("popularity penalty"));

  config.popularity_penalties = {-1.0};
  CHECK_THROWS_AS(vr::evaluate(ratings, config), vr::InvalidInput);
}

TEST_CASE("vr-recommend and vr-evaluate take --popularity-penalty: 0 changes no byte and bad values are refused") {
  TempDir dir;
  make_artifacts(dir);
  const auto all_users = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> argv{tool("vr-recommend"), "--dir", dir.path(), "--all-users", "-k", "10"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const auto result = run_command(argv);
    REQUIRE(result.exit_code == 0);
    return result.out;
  };
  const std::string plain = all_users({});
  CHECK(all_users({"--popularity-penalty", "0"}) == plain);
  CHECK(all_users({"--popularity-penalty", "0", "--scan", "full"}) == plain);
  const std::string penalised = all_users({"--popularity-penalty", "0.5"});
  CHECK(penalised != plain);
  CHECK(all_users({"--popularity-penalty", "0.5", "--scan", "full"}) == penalised);

  const auto negative = run_command({tool("vr-recommend"), "--dir", dir.path(), "--all-users", "--popularity-penalty", "-1"});
  CHECK(negative.exit_code != 0);
  CHECK_THAT(negative.err, Catch::Contains("--popularity-penalty"));
  const auto infinite = run_command({tool("vr-recommend"), "--dir", dir.path(), "--all-users", "--popularity-penalty", "inf"});
  CHECK(infinite.exit_code == 1);
  CHECK_THAT(infinite.err, Catch::Contains("popularity penalty must be a finite number >= 0"));
  const auto help = run_command({tool("vr-recommend"), "--help"});
  CHECK_THAT(help.out, Catch::Contains("--popularity-penalty") && Catch::Contains("ln(1 + n)"));
  CHECK_THAT(run_command({tool("vr-serve"), "--help"}).out, Catch::Contains("--popularity-penalty"));

  const auto evaluate = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> argv{tool("vr-evaluate"), "--dir",        dir.path(), "--factors", "12",
                                  "--iterations",      "5",            "--quiet",  "--format",  "json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_command(argv);
  };
  const auto plain_report = evaluate({});
  REQUIRE(plain_report.exit_code == 0);
  const auto report = evaluate({"--popularity-penalty", "0.2,1"});
  REQUIRE(report.exit_code == 0);
  auto json = nlohmann::json::parse(report.out);
  CHECK(json.at("popularity_penalty").at("models").at("als").size() == 3);
  json.erase("popularity_penalty");
  CHECK(json == nlohmann::json::parse(plain_report.out));
  const auto bad = evaluate({"--popularity-penalty", "0.2,abc"});
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("--popularity-penalty: 'abc'"));
  const auto coverage_without_tune = evaluate({"--tune-min-coverage", "0.5"});
  CHECK(coverage_without_tune.exit_code == 1);
  CHECK_THAT(coverage_without_tune.err, Catch::Contains("--tune"));
  const auto coverage_out_of_range = evaluate({"--tune", "--tune-min-coverage", "1.5"});
  CHECK(coverage_out_of_range.exit_code != 0);
  CHECK_THAT(coverage_out_of_range.err, Catch::Contains("--tune-min-coverage"));
  CHECK_THAT(run_command({tool("vr-evaluate"), "--help"}).out,
             Catch::Contains("--popularity-penalty") && Catch::Contains("--tune-min-coverage"));

  // The HTML report carries the table.
  const auto html = evaluate({"--popularity-penalty", "1", "--report", dir.file("report")});
  REQUIRE(html.exit_code == 0);
  CHECK_THAT(vr::test::read_file(dir.file("report/report.html")), Catch::Contains("id=\"popularity-penalty\""));
}
