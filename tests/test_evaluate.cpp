// vr-evaluate's library: timestamps, time-based splits, the report, and the MovieLens 100K
// reference figures through the built vr-evaluate.
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/test_support.h"
#include "vr/errors.h"
#include "vr/evaluate.h"

TEST_CASE("timestamps: epoch seconds and ISO 8601") {
  CHECK(vr::parse_timestamp("881250949") == Approx(881250949.0));
  CHECK(vr::parse_timestamp("1970-01-01T00:00:00Z") == Approx(0.0));
  CHECK(vr::parse_timestamp("2026-01-05T09:12:00Z") == Approx(1767604320.0));
  CHECK(vr::parse_timestamp("2026-01-05 09:12:00") == Approx(1767604320.0));
  CHECK(vr::parse_timestamp("2026-01-05T10:12:00+01:00") == Approx(1767604320.0));
  CHECK(vr::parse_timestamp("2026-01-05T09:12:00.5Z") == Approx(1767604320.5));
  CHECK(vr::parse_timestamp("2026-01-05") == Approx(1767571200.0));
  CHECK_FALSE(vr::parse_timestamp("yesterday"));
  CHECK_FALSE(vr::parse_timestamp("2026-13-05"));
  CHECK_FALSE(vr::parse_timestamp("2026-01-05T09:12:00Q"));
  CHECK_FALSE(vr::parse_timestamp(""));
}

TEST_CASE("time-based splits hold out each user's newest videos") {
  std::istringstream csv(
      "user_id,video_id,event,timestamp\n"
      "a,v1,watch,2026-01-01T00:00:00Z\n"
      "a,v2,watch,2026-01-03T00:00:00Z\n"
      "a,v3,watch,2026-01-02T00:00:00Z\n"
      "a,v1,like,2026-01-04T00:00:00Z\n"  // v1's latest event is now the newest of a's
      "b,v2,watch,2026-01-01T00:00:00Z\n"
      "b,v3,watch,2026-01-01T00:00:00Z\n"  // a tie: the higher video index counts as newer
      "c,v1,watch,2026-01-01T00:00:00Z\n");  // one video: stays in train
  const auto data = vr::read_timed_interactions(csv, "test.csv", vr::FeaturesConfig{});
  REQUIRE(data.ratings.rows == 3);
  REQUIRE(data.ratings.nnz() == 6);
  CHECK(data.ratings.values[0] == 3.0f);  // a, v1: watch 1 + like 2

  const auto last = vr::split_per_user_by_time(data, vr::SplitMethod::LeaveLastOut, 0.25);
  CHECK(last.train.nnz() + last.test.nnz() == 6);
  REQUIRE(last.test.row_size(0) == 1);
  CHECK(last.test.col_indices[last.test.row_offsets[0]] == 0);  // a's newest is v1
  REQUIRE(last.test.row_size(1) == 1);
  CHECK(last.test.col_indices[last.test.row_offsets[1]] == 2);  // b: v3 wins the tie
  CHECK(last.test.row_size(2) == 0);

  const auto fraction = vr::split_per_user_by_time(data, vr::SplitMethod::LastFraction, 0.67);
  CHECK(fraction.test.row_size(0) == 2);  // round(3 * 0.67) = 2: v1 and v2
  CHECK(fraction.train.col_indices[fraction.train.row_offsets[0]] == 2);  // v3 (the oldest) trains
  CHECK(fraction.test.row_size(1) == 1);  // round(1.34) = 1
}

TEST_CASE("a time split without timestamps is refused") {
  std::istringstream csv("user_id,video_id,value\na,v1,1\na,v2,1\nb,v1,2\n");
  const auto data = vr::read_timed_interactions(csv, "test.csv", vr::FeaturesConfig{});
  CHECK(data.timestamps.empty());
  CHECK_THROWS_AS(vr::split_per_user_by_time(data, vr::SplitMethod::LeaveLastOut, 0.25), vr::InvalidInput);
  vr::EvaluateConfig config;
  config.split.method = vr::SplitMethod::LastFraction;
  CHECK_THROWS_AS(vr::evaluate(data.ratings, config), vr::InvalidInput);
  std::istringstream bad_time("user_id,video_id,value,timestamp\na,v1,1,tomorrow\n");
  CHECK_THROWS_WITH(vr::read_timed_interactions(bad_time, "bad.csv", vr::FeaturesConfig{}),
                    Catch::Contains("bad.csv:2") && Catch::Contains("timestamp"));
}

TEST_CASE("the report lists every metric at every K for model and baseline") {
  std::ostringstream csv;
  csv << "user_id,video_id,value\n";
  for (int user = 0; user < 60; ++user) {
    for (int video = 0; video < 12; ++video) {
      if ((user + video) % 3 == 0 || video < 2) csv << "u" << user << ",v" << video + (user % 2) * 12 << ",1\n";
    }
  }
  std::istringstream input(csv.str());
  const auto data = vr::read_timed_interactions(input, "grid.csv", vr::FeaturesConfig{});
  vr::EvaluateConfig config;
  config.cutoffs = {1, 5};
  config.train.factors = 4;
  config.train.iterations = 5;
  const auto report = vr::evaluate(data, config);
  REQUIRE(report.model.at_k.size() == 2);
  CHECK(report.model.at_k[1].k == 5);
  CHECK(report.split.train_ratings + report.split.test_ratings == data.ratings.nnz());
  std::ostringstream json_text;
  vr::write_report_json(json_text, report);
  const auto json = nlohmann::json::parse(json_text.str());
  for (const char* side : {"model", "popularity"}) {
    for (const char* metric : {"precision", "recall", "ndcg", "map", "hit_rate", "coverage"}) {
      for (const char* at : {"@1", "@5"}) {
        INFO(side << " " << metric << at);
        CHECK(json.at(side).at(std::string(metric) + at).is_number());
      }
    }
  }
  CHECK(json.at("split").at("method") == "random");
  CHECK(json.at("config").at("factors") == 4);
  std::ostringstream table;
  vr::write_report_table(table, report);
  CHECK_THAT(table.str(), Catch::Contains("ndcg@5") && Catch::Contains("popularity"));

  config.cutoffs = {0};
  CHECK_THROWS_AS(vr::evaluate(data, config), vr::InvalidInput);
}

TEST_CASE("vr-evaluate on MovieLens 100K reproduces the reference figures") {
  const auto movielens = vr::test::require_movielens_interactions_csv();
  vr::test::TempDir dir;
  vr::test::write_file(dir.file("ml.csv"), movielens);
  // The reference protocol with the original defaults (factors 20, regularization 0.1,
  // alpha 1, 20 iterations): per-user random 75/25 split, top 10.
  const auto result = vr::test::run_command(
      {vr::test::tool("vr-evaluate"), "--interactions", dir.file("ml.csv"), "--format", "json", "--quiet", "--k", "5,10"});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  const auto report = nlohmann::json::parse(result.out);
  const double ndcg = report["model"]["ndcg@10"], precision = report["model"]["precision@10"];
  const double popularity_ndcg = report["popularity"]["ndcg@10"];
  const double popularity_precision = report["popularity"]["precision@10"];
  INFO("nDCG@10 " << ndcg << ", precision@10 " << precision << "; popularity " << popularity_ndcg << " / "
                  << popularity_precision);
  CHECK(ndcg >= 0.44);
  CHECK(ndcg <= 0.48);
  CHECK(precision >= 0.38);
  CHECK(precision <= 0.42);
  CHECK(popularity_ndcg == Approx(0.245).margin(0.02));
  CHECK(popularity_precision == Approx(0.225).margin(0.02));
  CHECK(report["model"].contains("map@5"));
  CHECK(report["split"]["users_evaluated"] == 943);
  CHECK(report["split"]["train_ratings"].get<int>() + report["split"]["test_ratings"].get<int>() == 100000);

  // Leave-last-out by timestamp runs on the same file: one test film per user.
  const auto last = vr::test::run_command({vr::test::tool("vr-evaluate"), "--interactions", dir.file("ml.csv"),
                                           "--split", "leave-last-out", "--format", "json", "--quiet"});
  REQUIRE(last.exit_code == 0);
  CHECK(nlohmann::json::parse(last.out)["split"]["test_ratings"] == 943);
}

TEST_CASE("vr-evaluate --interactions goes through vr-features' parser: range checks, delimiters, letter case") {
  const auto read = [](const std::string& csv) {
    std::istringstream input(csv);
    return vr::read_timed_interactions(input, "events.csv", vr::FeaturesConfig{});
  };
  // 1e39 is beyond float: a clear error naming file, line and field, never inf.
  CHECK_THROWS_WITH(read("user_id,video_id,value,timestamp\nu1,v1,1,5\nu1,v2,1e39,6\n"),
                    Catch::Contains("events.csv:3") && Catch::Contains("'value'") && Catch::Contains("1e39"));
  CHECK_THROWS_WITH(read("user_id,video_id,value\nu1,v1,3e38\nu1,v1,3e38\n"), Catch::Contains("overflows a float"));
  const auto data = read("User_Id;Video_Id;Event;Timestamp\nu1;v1;Watch;2026-01-05\nu1;v2;like;100\n");
  REQUIRE(data.ratings.nnz() == 2);
  CHECK(data.ratings.values == std::vector<float>{1, 2});
  CHECK(data.timestamps == std::vector<double>{1767571200.0, 100.0});
  CHECK_THROWS_WITH(read("user_id,video_id,event,timestamp\nu1,v1,watch,yesterday\n"),
                    Catch::Contains("events.csv:2") && Catch::Contains("timestamp"));
}
