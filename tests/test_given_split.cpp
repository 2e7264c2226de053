// vr-evaluate on a given train/test pair (vr/given_split.h): reading both files with one
// numbering, what is left out, metrics computed by hand on a small case, and MovieLens 100K's
// published splits through the built tool.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/test_support.h"
#include "vr/errors.h"
#include "vr/evaluate.h"
#include "vr/given_split.h"

namespace {

// Users a b c d and videos v1..v4 (indices by sorted id: a=0.., v1=0..). d is only in the
// test file; b's v2 is in both files; v4 is in no one's training videos.
const char* const kTrain =
    "user_id,video_id,value\n"
    "a,v1,1\na,v2,1\n"
    "b,v2,1\nb,v3,1\n"
    "c,v1,1\nc,v3,1\n";
const char* const kTest =
    "user_id,video_id,value\n"
    "a,v3,1\na,v4,1\n"
    "b,v2,1\nb,v1,1\n"
    "d,v1,1\n";
// The same split as ratings files numbered as above.
const char* const kTrainRatings =
    "user_idx,video_idx,rating\n0,0,1\n0,1,1\n1,1,1\n1,2,1\n2,0,1\n2,2,1\n";
const char* const kTestRatings = "user_idx,video_idx,rating\n0,2,1\n0,3,1\n1,1,1\n1,0,1\n3,0,1\n";

vr::GivenSplit read_small_case() {
  std::istringstream train(kTrain), test(kTest);
  return vr::read_given_split(train, "train.csv", test, "test.csv", vr::FeaturesConfig{});
}

}  // namespace

TEST_CASE("a given split reads both files with one numbering and counts what it leaves out") {
  const auto given = read_small_case();
  const auto& split = given.split;
  REQUIRE(split.train.rows == 4);  // a b c d
  REQUIRE(split.train.cols == 4);  // v1..v4
  CHECK(split.train.nnz() == 6);
  CHECK(split.train.row_size(3) == 0);
  // a: v3 and v4 (v4 kept: a miss for every model); b: v1 (v2 is b's training video); d: skipped.
  REQUIRE(split.test.nnz() == 3);
  CHECK(split.test.row_size(0) == 2);
  REQUIRE(split.test.row_size(1) == 1);
  CHECK(split.test.col_indices[split.test.row_offsets[1]] == 0);
  CHECK(split.test.row_size(3) == 0);
  CHECK(given.summary.test_only_users == 1);
  CHECK(given.summary.test_only_user_ratings == 1);
  CHECK(given.summary.test_ratings_in_train == 1);
  CHECK(given.summary.test_ratings_on_new_videos == 1);

  // Ratings files from one vr-features run give the same split.
  const auto ratings = [](const char* text) {
    std::istringstream input(text);
    return vr::read_ratings_csv(input, "ratings.csv");
  };
  const auto from_ratings = vr::make_given_split(ratings(kTrainRatings), ratings(kTestRatings), 4, 4);
  CHECK(from_ratings.split.train.col_indices == split.train.col_indices);
  CHECK(from_ratings.split.train.row_offsets == split.train.row_offsets);
  CHECK(from_ratings.split.test.col_indices == split.test.col_indices);
  CHECK(from_ratings.split.test.row_offsets == split.test.row_offsets);
  CHECK(from_ratings.summary.test_only_users == 1);
  CHECK(from_ratings.summary.test_ratings_in_train == 1);
}

TEST_CASE("given-split metrics match a hand computation of the popularity baseline") {
  vr::EvaluateConfig config;
  config.cutoffs = {1, 2};
  config.train.threads = 1;
  config.train.compute_loss = false;
  const auto report = vr::evaluate(read_small_case(), config);
  CHECK(report.split.config.method == vr::SplitMethod::Given);
  CHECK(report.split.users_evaluated == 2);
  CHECK(report.split.test_ratings == 3);
  REQUIRE(report.split.given);
  CHECK(report.split.given->test_only_users == 1);
  // Training popularity: v1, v2, v3 two users each, v4 none; ties go to the lower index.
  // Top 2 minus the user's training videos: a -> v3 v4 (test v3 v4), b -> v1 v4 (test v1),
  // c -> v2 v4, d -> v1 v2 (no test videos: only coverage counts them).
  const auto& at_1 = report.popularity.at_k[0];
  const auto& at_2 = report.popularity.at_k[1];
  CHECK(at_1.users == 2);
  CHECK(at_1.precision == Approx(1.0));     // a v3, b v1
  CHECK(at_1.recall == Approx(0.75));       // a 1/2, b 1/1
  CHECK(at_1.ndcg == Approx(1.0));
  CHECK(at_1.coverage == Approx(0.75));     // v3 v1 v2 of 4
  CHECK(at_2.precision == Approx(0.75));    // a 2/2, b 1/2
  CHECK(at_2.recall == Approx(1.0));
  CHECK(at_2.ndcg == Approx(1.0));          // every hit ranked ahead of every miss
  CHECK(at_2.map == Approx(1.0));
  CHECK(at_2.hit_rate == Approx(1.0));
  CHECK(at_2.coverage == Approx(1.0));

  std::ostringstream table;
  vr::write_report_table(table, report);
  CHECK_THAT(table.str(), Catch::Contains("split: given train and test files") &&
                              Catch::Contains("1 users only in the test file (1 test ratings)"));
}

TEST_CASE("vr-evaluate --train --test reads both formats with any --k, --models and --report, and names bad input") {
  vr::test::TempDir dir;
  vr::test::write_file(dir.file("train.csv"), kTrain);
  vr::test::write_file(dir.file("test.csv"), kTest);
  vr::test::write_file(dir.file("train_ratings.csv"), kTrainRatings);
  vr::test::write_file(dir.file("test_ratings.csv"), kTestRatings);
  const auto run = [&](const std::string& train, const std::string& test, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{vr::test::tool("vr-evaluate"), "--dir", dir.path(), "--train", dir.file(train),
                                  "--test", dir.file(test), "--quiet"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return vr::test::run_command(argv);
  };
  for (const auto& [train, test] : std::map<std::string, std::string>{{"train.csv", "test.csv"},
                                                                      {"train_ratings.csv", "test_ratings.csv"}}) {
    const auto result = run(train, test, {"--format", "json", "--k", "1,2", "--models", "als,item-knn",
                                          "--factors", "2", "--report", dir.file("report")});
    INFO(train << ": " << result.err);
    REQUIRE(result.exit_code == 0);
    const auto report = nlohmann::json::parse(result.out);
    CHECK(report["split"]["method"] == "given");
    CHECK(report["split"]["users_evaluated"] == 2);
    CHECK(report["split"]["test_only_users"] == 1);
    CHECK(report["split"]["test_ratings_in_train"] == 1);
    CHECK(report["split"]["test_ratings_on_new_videos"] == 1);
    CHECK(report["popularity"]["precision@2"].get<double>() == Approx(0.75));
    CHECK(report["popularity"]["recall@1"].get<double>() == Approx(0.75));
    CHECK(report["models"].contains("item-knn"));
    CHECK(report["models"]["als"].contains("ndcg@2"));
    CHECK(vr::test::file_exists(dir.file("report/report.html")));
  }

  const auto mixed = run("train.csv", "test_ratings.csv");
  CHECK(mixed.exit_code == 1);
  CHECK_THAT(mixed.err, Catch::Contains("not of one format"));
  vr::test::write_file(dir.file("bad_test.csv"), "user_id,video_id,value\na,v3,1\nb,,1\n");
  const auto bad = run("train.csv", "bad_test.csv");
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("bad_test.csv:3") && Catch::Contains("video_id"));
  const auto alone = vr::test::run_command({vr::test::tool("vr-evaluate"), "--train", dir.file("train.csv")});
  CHECK(alone.exit_code != 0);
  CHECK_THAT(alone.err, Catch::Contains("--test"));
  const auto with_split = run("train.csv", "test.csv", {"--split", "leave-last-out"});
  CHECK(with_split.exit_code != 0);
}

namespace {

// A MovieLens 100K split as interaction logs: `name`.base and `name`.test from movielens_dir()
// when they are there, else made from u.data as the data set's mku.sh makes them (u1: the
// first 20,000 lines are the test set; ua: each user's first 10 ratings in file order, by
// allbut.pl). Skips the test when u.data is missing too.
std::pair<std::string, std::string> movielens_split(const std::string& name) {
  const auto as_csv = [](std::istream& raw) {
    std::ostringstream csv;
    csv << "user_id,video_id,value,timestamp\n";
    std::string user, item, rating, timestamp;
    while (raw >> user >> item >> rating >> timestamp) csv << user << "," << item << "," << rating << "," << timestamp << "\n";
    return csv.str();
  };
  const std::string base = vr::test::movielens_dir() + "/" + name;
  if (std::filesystem::exists(base + ".base") && std::filesystem::exists(base + ".test")) {
    std::ifstream train(base + ".base"), test(base + ".test");
    return {as_csv(train), as_csv(test)};
  }
  const std::string data = vr::test::movielens_dir() + "/u.data";
  if (!std::filesystem::exists(data)) {
    vr::test::skip_test("MovieLens 100K's " + name + ".base/.test and u.data are not in " + vr::test::movielens_dir() +
                        " (set VR_MOVIELENS_DIR)");
  }
  std::ifstream raw(data);
  std::ostringstream train, test;
  std::map<std::string, int> seen;
  std::string line;
  int number = 0;
  while (std::getline(raw, line)) {
    ++number;
    const std::string user = line.substr(0, line.find('\t'));
    const bool in_test = name == "u1" ? number <= 20000 : ++seen[user] <= 10;
    (in_test ? test : train) << line << "\n";
  }
  std::istringstream train_lines(train.str()), test_lines(test.str());
  return {as_csv(train_lines), as_csv(test_lines)};
}

}  // namespace

TEST_CASE("vr-evaluate --train --test on MovieLens 100K's published splits ua and u1") {
  vr::test::TempDir dir;
  const auto [ua_train, ua_test] = movielens_split("ua");
  vr::test::write_file(dir.file("ua.base.csv"), ua_train);
  vr::test::write_file(dir.file("ua.test.csv"), ua_test);
  const auto ua = vr::test::run_command({vr::test::tool("vr-evaluate"), "--train", dir.file("ua.base.csv"), "--test",
                                         dir.file("ua.test.csv"), "--format", "json", "--quiet", "--k", "10,20"});
  INFO(ua.err);
  REQUIRE(ua.exit_code == 0);
  const auto report = nlohmann::json::parse(ua.out);
  // Exactly 10 test ratings for each of the 943 users, none repeated in train.
  CHECK(report["split"]["users_evaluated"] == 943);
  CHECK(report["split"]["test_ratings"] == 9430);
  CHECK(report["split"]["train_ratings"] == 90570);
  CHECK(report["split"]["test_only_users"] == 0);
  CHECK(report["split"]["test_ratings_in_train"] == 0);
  const double ndcg = report["model"]["ndcg@10"], popularity = report["popularity"]["ndcg@10"];
  INFO("ua: ALS defaults nDCG@10 " << ndcg << ", popularity " << popularity);
  CHECK(ndcg > popularity + 0.05);
  CHECK(report["model"].contains("recall@20"));

  const auto [u1_train, u1_test] = movielens_split("u1");
  vr::test::write_file(dir.file("u1.base.csv"), u1_train);
  vr::test::write_file(dir.file("u1.test.csv"), u1_test);
  const auto u1 = vr::test::run_command({vr::test::tool("vr-evaluate"), "--train", dir.file("u1.base.csv"), "--test",
                                         dir.file("u1.test.csv"), "--format", "json", "--quiet"});
  INFO(u1.err);
  REQUIRE(u1.exit_code == 0);
  const auto u1_report = nlohmann::json::parse(u1.out);
  const auto& u1_split = u1_report["split"];
  // Every one of the 20,000 test ratings is either evaluated or counted as left out.
  CHECK(u1_split["test_ratings"].get<int>() + u1_split["test_only_user_ratings"].get<int>() +
            u1_split["test_ratings_in_train"].get<int>() ==
        20000);
  CHECK(u1_split["train_ratings"] == 80000);
  CHECK(u1_split["users"] == 943);
  CHECK(u1_split["videos"] == 1682);
  CHECK(u1_report["model"]["ndcg@10"].get<double>() > u1_report["popularity"]["ndcg@10"].get<double>());
}
