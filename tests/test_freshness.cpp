// Fresh recommendations through the built tools: stable ids (vr-features --mappings-from),
// time decay (--half-life, --now), warm start and partial refresh (vr-train --init-from,
// --refresh), checked against the library's exact solutions.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "vr/als.h"
#include "vr/mappings.h"
#include "vr/model.h"
#include "vr/ratings.h"
#include "vr/training.h"

using vr::test::CommandResult;
using vr::test::read_file;
using vr::test::run_command;
using vr::test::TempDir;
using vr::test::tool;
using vr::test::write_file;

namespace {

// A deterministic interactions CSV: users u<1000 + first_user ...>, each with `per_user` picks
// among `videos` videos in two taste groups (even users prefer the first half).
std::string synthetic_events(int first_user, int users, int videos, int per_user, std::uint64_t seed) {
  std::ostringstream csv;
  csv << "user_id,video_id,value\n";
  std::uint64_t state = seed;
  const auto next = [&state]() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(state >> 33);
  };
  const int half = videos / 2;
  for (int user = first_user; user < first_user + users; ++user) {
    for (int pick = 0; pick < per_user; ++pick) {
      const int video = (user % 2 == 0 ? 0 : half) + static_cast<int>(next() % static_cast<std::uint32_t>(half));
      csv << "u" << 1000 + user << ",v" << 100 + video << "," << 1 + next() % 3 << "\n";
    }
  }
  return csv.str();
}

CommandResult run_tool(const std::string& name, std::vector<std::string> arguments) {
  arguments.insert(arguments.begin(), tool(name));
  return run_command(arguments);
}

// Runs a tool and requires success, showing its stderr otherwise.
CommandResult require_ok(const std::string& name, const std::vector<std::string>& arguments) {
  auto result = run_tool(name, arguments);
  INFO(name << ": " << result.err);
  REQUIRE(result.exit_code == 0);
  return result;
}

// Yesterday: users 0..39; today: users 10..49 (0..9 absent, 40..49 new) and 4 more videos.
struct TwoDays {
  TempDir dir;
  std::string yesterday = dir.file("yesterday");
  std::string today = dir.file("today");
  TwoDays() {
    write_file(dir.file("day1.csv"), synthetic_events(0, 40, 24, 6, 1));
    write_file(dir.file("day2.csv"), synthetic_events(10, 40, 28, 6, 2));
    require_ok("vr-features", {dir.file("day1.csv"), "--dir", yesterday});
    require_ok("vr-features", {dir.file("day2.csv"), "--dir", today, "--mappings-from", yesterday + "/mappings.bin"});
  }
};

}  // namespace

TEST_CASE("vr-features --mappings-from keeps known ids at their index, appends new ones, keeps absent ones") {
  TempDir dir;
  write_file(dir.file("day1.csv"), "user_id,video_id,value\nu3,v2,1\nu1,v1,2\nu1,v2,1\n");
  write_file(dir.file("day2.csv"), "user_id,video_id,value\nu4,v3,1\nu2,v2,5\nu3,v3,2\nu3,v1,1\n");
  require_ok("vr-features", {dir.file("day1.csv"), "--dir", dir.file("a")});
  const auto run = require_ok("vr-features", {dir.file("day2.csv"), "--dir", dir.file("b"), "--mappings-from",
                                              dir.file("a/mappings.bin")});
  const vr::Mappings mappings = vr::load_mappings(dir.file("b/mappings.bin"));
  CHECK(mappings.users.ids() == std::vector<std::string>{"u1", "u3", "u2", "u4"});
  CHECK(mappings.videos.ids() == std::vector<std::string>{"v1", "v2", "v3"});
  // u1 (index 0) has no events today: no row, but its index stays taken.
  CHECK(read_file(dir.file("b/ratings.csv")) == "user_idx,video_idx,rating\n1,0,1\n1,2,2\n2,1,5\n3,2,1\n");
  CHECK_THAT(run.err, Catch::Contains("new: 2 users, 1 videos") && Catch::Contains("absent today (kept, no ratings): 1 users"));

  SECTION("the same input and old mappings give byte-identical output") {
    require_ok("vr-features", {dir.file("day2.csv"), "--dir", dir.file("c"), "--mappings-from", dir.file("a/mappings.bin")});
    CHECK(read_file(dir.file("c/mappings.bin")) == read_file(dir.file("b/mappings.bin")));
    CHECK(read_file(dir.file("c/ratings.csv")) == read_file(dir.file("b/ratings.csv")));
  }
  SECTION("a second day on top of the first keeps every index of both") {
    write_file(dir.file("day3.csv"), "user_id,video_id,value\nu0,v0,1\nu2,v1,1\n");
    require_ok("vr-features", {dir.file("day3.csv"), "--dir", dir.file("d"), "--mappings-from", dir.file("b/mappings.bin")});
    const vr::Mappings third = vr::load_mappings(dir.file("d/mappings.bin"));
    CHECK(third.users.ids() == std::vector<std::string>{"u1", "u3", "u2", "u4", "u0"});
    CHECK(third.videos.ids() == std::vector<std::string>{"v1", "v2", "v3", "v0"});
    CHECK(read_file(dir.file("d/ratings.csv")) == "user_idx,video_idx,rating\n2,0,1\n4,3,1\n");
  }
  SECTION("a file that is not a mappings file is an error naming it, and nothing is written") {
    write_file(dir.file("junk.bin"), "not a mappings file at all");
    const auto bad = run_tool("vr-features", {dir.file("day2.csv"), "--dir", dir.file("e"), "--mappings-from", dir.file("junk.bin")});
    CHECK(bad.exit_code == 1);
    CHECK_THAT(bad.err, Catch::StartsWith("error: ") && Catch::Contains("junk.bin"));
    CHECK(vr::test::list_dir(dir.file("e")).empty());
  }
}

TEST_CASE("vr-features --half-life weights each event by 0.5^(age / half-life)") {
  TempDir dir;
  // Ages from the newest event (2024-01-03T00:00Z): 0, 1 day (epoch seconds), 2 days (ISO with
  // an offset), and a DST-free epoch time half a day old.
  write_file(dir.file("events.csv"),
             "user_id,video_id,value,timestamp\n"
             "u1,v1,1,2024-01-03T00:00:00Z\n"
             "u1,v2,1,1704153600\n"
             "u2,v1,2,2024-01-01T01:00:00+01:00\n"
             "u2,v2,4,1704196800\n");
  SECTION("default reference time: the newest timestamp") {
    const auto result = require_ok("vr-features", {dir.file("events.csv"), "--ratings", "-", "--mappings",
                                                   dir.file("m.bin"), "--half-life", "1d"});
    CHECK(result.out == "user_idx,video_idx,rating\n0,0,1\n0,1,0.5\n1,0,0.5\n1,1,2.828427\n");
  }
  SECTION("--now in ISO 8601 or epoch seconds, hours as the unit") {
    for (const char* now : {"2024-01-04T00:00:00Z", "1704326400"}) {
      const auto result = require_ok("vr-features", {dir.file("events.csv"), "--ratings", "-", "--mappings",
                                                     dir.file("m.bin"), "--half-life", "24h", "--now", now});
      CHECK(result.out == "user_idx,video_idx,rating\n0,0,0.5\n0,1,0.25\n1,0,0.25\n1,1,1.4142135\n");
    }
  }
  SECTION("without --half-life the timestamps change nothing (the default output)") {
    const auto result = require_ok("vr-features", {dir.file("events.csv"), "--ratings", "-", "--mappings", dir.file("m.bin")});
    CHECK(result.out == "user_idx,video_idx,rating\n0,0,1\n0,1,1\n1,0,2\n1,1,4\n");
  }
  SECTION("a bad timestamp is an error naming its line; a missing column, a bad duration or --now too") {
    write_file(dir.file("bad.csv"), "user_id,video_id,value,timestamp\nu1,v1,1,2024-01-03\nu1,v2,1,2024-13-01\n");
    const auto bad = run_tool("vr-features", {dir.file("bad.csv"), "--dir", dir.file("out"), "--half-life", "1d"});
    CHECK(bad.exit_code == 1);
    CHECK_THAT(bad.err, Catch::Contains("bad.csv:3") && Catch::Contains("timestamp") && Catch::Contains("2024-13-01"));
    const auto bad_with_now = run_tool("vr-features", {dir.file("bad.csv"), "--dir", dir.file("out"), "--half-life",
                                                       "1d", "--now", "2024-02-01"});
    CHECK(bad_with_now.exit_code == 1);
    CHECK_THAT(bad_with_now.err, Catch::Contains("bad.csv:3"));
    CHECK(vr::test::list_dir(dir.file("out")).empty());
    write_file(dir.file("no_time.csv"), "user_id,video_id,value\nu1,v1,1\n");
    const auto no_time = run_tool("vr-features", {dir.file("no_time.csv"), "--dir", dir.file("out"), "--half-life", "1d"});
    CHECK(no_time.exit_code == 1);
    CHECK_THAT(no_time.err, Catch::Contains("timestamp"));
    const auto bad_duration = run_tool("vr-features", {dir.file("events.csv"), "--dir", dir.file("out"), "--half-life", "30"});
    CHECK(bad_duration.exit_code == 1);
    CHECK_THAT(bad_duration.err, Catch::Contains("--half-life"));
    const auto bad_now = run_tool("vr-features", {dir.file("events.csv"), "--dir", dir.file("out"), "--half-life", "1d",
                                                  "--now", "tomorrow"});
    CHECK(bad_now.exit_code == 1);
    CHECK_THAT(bad_now.err, Catch::Contains("--now"));
    CHECK(vr::test::list_dir(dir.file("out")).empty());
  }
}

TEST_CASE("vr-train --init-from with 0 iterations reproduces the old model's rows for known ids") {
  TwoDays days;
  require_ok("vr-train", {"--dir", days.yesterday, "--quiet"});
  require_ok("vr-train", {"--dir", days.today, "--init-from", days.yesterday + "/als_model.bin", "--iterations", "0",
                          "--quiet"});
  const vr::Model old_model = vr::load_model(days.yesterday + "/als_model.bin");
  const vr::Model warm = vr::load_model(days.today + "/als_model.bin");
  const auto old_users = old_model.factors.user_factors.rows();
  const auto old_videos = old_model.factors.item_factors.rows();
  REQUIRE(warm.factors.user_factors.rows() == old_users + 10);
  REQUIRE(warm.factors.item_factors.rows() == old_videos + 4);
  CHECK(warm.factors.user_factors.topRows(old_users) == old_model.factors.user_factors);
  CHECK(warm.factors.item_factors.topRows(old_videos) == old_model.factors.item_factors);
  // New rows start as a cold start's: the same draw of the same seed.
  const vr::FactorMatrix cold = vr::initial_factors(static_cast<std::uint32_t>(warm.info.n_users + warm.info.n_videos),
                                                    warm.info.config.factors, warm.info.config.seed);
  CHECK(warm.factors.user_factors.bottomRows(10) == cold.middleRows(old_users, 10));
}

TEST_CASE("warm-starting from a converged model of the same data never raises the loss") {
  TempDir dir;
  write_file(dir.file("events.csv"), synthetic_events(0, 60, 30, 8, 7));
  require_ok("vr-features", {dir.file("events.csv"), "--dir", dir.file("a")});
  require_ok("vr-train", {"--dir", dir.file("a"), "--iterations", "60", "--quiet"});
  const vr::Model converged = vr::load_model(dir.file("a/als_model.bin"));
  require_ok("vr-train", {"--dir", dir.file("a"), "--init-from", dir.file("a/als_model.bin"), "--iterations", "3",
                          "--model", dir.file("warm.bin"), "--quiet"});
  const vr::Model warm = vr::load_model(dir.file("warm.bin"));
  REQUIRE(warm.info.loss_history.size() == 3);
  double previous = converged.info.loss_history.back();
  for (double loss : warm.info.loss_history) {
    CHECK(loss <= previous * (1 + 1e-6));
    previous = loss;
  }
}

TEST_CASE("bad input: --init-from with mappings that are not a prefix, or files that do not match") {
  TwoDays days;
  require_ok("vr-train", {"--dir", days.yesterday, "--quiet"});
  const std::string old_model = days.yesterday + "/als_model.bin";
  SECTION("today's mappings renumbered from scratch") {
    require_ok("vr-features", {days.dir.file("day2.csv"), "--dir", days.dir.file("fresh")});
    const auto result = run_tool("vr-train", {"--dir", days.dir.file("fresh"), "--init-from", old_model});
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.err, Catch::Contains("not a prefix") && Catch::Contains("yesterday/mappings.bin") &&
                               Catch::Contains("fresh/mappings.bin"));
    CHECK_FALSE(vr::test::file_exists(days.dir.file("fresh/als_model.bin")));
  }
  SECTION("a model and mappings of other data") {
    write_file(days.dir.file("other.csv"), "user_id,video_id,value\nx,y,1\n");
    require_ok("vr-features", {days.dir.file("other.csv"), "--dir", days.dir.file("other")});
    const auto result = run_tool("vr-train", {"--dir", days.today, "--init-from", old_model, "--init-mappings",
                                              days.dir.file("other/mappings.bin")});
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.err, Catch::Contains("does not match") && Catch::Contains("other/mappings.bin"));
    CHECK_FALSE(vr::test::file_exists(days.today + "/als_model.bin"));
  }
  SECTION("a corrupt or newer-format model, or other factor counts") {
    auto bytes = read_file(old_model);
    bytes[8] = 99;  // format version
    write_file(days.dir.file("yesterday/future.bin"), bytes);
    const auto future = run_tool("vr-train", {"--dir", days.today, "--init-from", days.dir.file("yesterday/future.bin")});
    CHECK(future.exit_code == 1);
    CHECK_THAT(future.err, Catch::Contains("future.bin"));
    const auto factors = run_tool("vr-train", {"--dir", days.today, "--init-from", old_model, "--factors", "8"});
    CHECK(factors.exit_code == 1);
    CHECK_THAT(factors.err, Catch::Contains("--factors 20"));
    CHECK_FALSE(vr::test::file_exists(days.today + "/als_model.bin"));
  }
  SECTION("--refresh without --init-from") {
    const auto result = run_tool("vr-train", {"--dir", days.today, "--refresh", "users"});
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.err, Catch::Contains("--init-from"));
  }
}

TEST_CASE("vr-train --refresh re-solves exactly the changed rows and leaves the others as they were") {
  TwoDays days;
  require_ok("vr-train", {"--dir", days.yesterday, "--quiet"});
  const vr::Model old_model = vr::load_model(days.yesterday + "/als_model.bin");
  const vr::TrainConfig config = old_model.info.config;
  const auto old_users = static_cast<std::uint32_t>(old_model.info.n_users);
  const auto old_videos = static_cast<std::uint32_t>(old_model.info.n_videos);
  const vr::SparseMatrix today = vr::load_ratings_matrix(days.today + "/ratings.csv", days.today + "/mappings.bin");
  const vr::SparseMatrix yesterday =
      vr::load_ratings_matrix(days.yesterday + "/ratings.csv", days.yesterday + "/mappings.bin");
  const auto row_changed = [](const vr::SparseMatrix& now, const vr::SparseMatrix& before, std::uint32_t row) {
    if (row >= before.rows) return true;
    const auto entries = [](const vr::SparseMatrix& matrix, std::uint32_t r) {
      std::vector<std::pair<std::uint32_t, float>> result;
      for (auto k = matrix.row_offsets[r]; k < matrix.row_offsets[r + 1]; ++k) {
        result.emplace_back(matrix.col_indices[k], matrix.values[k]);
      }
      return result;
    };
    return entries(now, row) != entries(before, row);
  };
  // The exact re-solve of one row: A = fixed^T fixed + lambda I + sum (c - 1) y y^T, b = sum c y.
  const auto exact_row = [&](const vr::SparseMatrix& matrix, const vr::FactorMatrix& fixed, std::uint32_t row) {
    std::vector<std::pair<std::uint32_t, float>> entries;
    for (auto k = matrix.row_offsets[row]; k < matrix.row_offsets[row + 1]; ++k) {
      entries.emplace_back(matrix.col_indices[k], vr::confidence_of(matrix.values[k], config));
    }
    return vr::solve_row_exact(vr::regularized_gram(fixed, config.regularization), fixed, entries);
  };

  SECTION("users: changed and new users re-solved against the old video factors, the rest untouched") {
    const auto run = require_ok("vr-train", {"--dir", days.today, "--init-from", days.yesterday + "/als_model.bin",
                                             "--refresh", "users", "--model", days.dir.file("users.bin")});
    const vr::Model refreshed = vr::load_model(days.dir.file("users.bin"));
    vr::FactorMatrix fixed = vr::FactorMatrix::Zero(today.cols, config.factors);
    fixed.topRows(old_videos) = old_model.factors.item_factors;
    CHECK(refreshed.factors.item_factors == fixed);
    std::size_t solved = 0;
    for (std::uint32_t user = 0; user < today.rows; ++user) {
      INFO("user " << user);
      const Eigen::VectorXf row = refreshed.factors.user_factors.row(user).transpose();
      if (row_changed(today, yesterday, user)) {
        ++solved;
        CHECK(row.isApprox(exact_row(today, fixed, user), 1e-5f));
      } else {
        CHECK(row == old_model.factors.user_factors.row(user).transpose());
      }
    }
    CHECK(solved == 50);  // 40 users with today's events (30 changed, 10 new) + 10 absent today
    CHECK_THAT(run.err, Catch::Contains("refreshed 50 users and 0 videos"));
  }
  SECTION("both: users first, then the changed videos against the refreshed users") {
    require_ok("vr-train", {"--dir", days.today, "--init-from", days.yesterday + "/als_model.bin", "--refresh", "both",
                            "--model", days.dir.file("both.bin")});
    const vr::Model refreshed = vr::load_model(days.dir.file("both.bin"));
    const vr::SparseMatrix today_by_video = today.transposed();
    const vr::SparseMatrix yesterday_by_video = yesterday.transposed();
    for (std::uint32_t video = 0; video < today.cols; ++video) {
      INFO("video " << video);
      const Eigen::VectorXf row = refreshed.factors.item_factors.row(video).transpose();
      if (row_changed(today_by_video, yesterday_by_video, video)) {
        CHECK(row.isApprox(exact_row(today_by_video, refreshed.factors.user_factors, video), 1e-5f));
      } else {
        CHECK(row == old_model.factors.item_factors.row(video).transpose());
      }
    }
  }
  SECTION("--changed lists the rows instead") {
    write_file(days.dir.file("changed.csv"), "kind,id\nuser,u1020\nvideo,v101\n");
    require_ok("vr-train", {"--dir", days.today, "--init-from", days.yesterday + "/als_model.bin", "--refresh", "users",
                            "--changed", days.dir.file("changed.csv"), "--model", days.dir.file("listed.bin")});
    const vr::Model refreshed = vr::load_model(days.dir.file("listed.bin"));
    const vr::Mappings mappings = vr::load_mappings(days.today + "/mappings.bin");
    const std::uint32_t listed = *mappings.users.find("u1020");
    vr::FactorMatrix fixed = vr::FactorMatrix::Zero(today.cols, config.factors);
    fixed.topRows(old_videos) = old_model.factors.item_factors;
    for (std::uint32_t user = 0; user < today.rows; ++user) {
      INFO("user " << user);
      const Eigen::VectorXf row = refreshed.factors.user_factors.row(user).transpose();
      if (user == listed || user >= old_users) {
        CHECK(row.isApprox(exact_row(today, fixed, user), 1e-5f));
      } else {
        CHECK(row == old_model.factors.user_factors.row(user).transpose());
      }
    }
    write_file(days.dir.file("unknown.csv"), "kind,id\nuser,nobody\n");
    const auto unknown = run_tool("vr-train", {"--dir", days.today, "--init-from", days.yesterday + "/als_model.bin",
                                               "--refresh", "users", "--changed", days.dir.file("unknown.csv"),
                                               "--model", days.dir.file("unknown.bin")});
    CHECK(unknown.exit_code == 1);
    CHECK_THAT(unknown.err, Catch::Contains("unknown.csv:2") && Catch::Contains("nobody"));
  }
  SECTION("nothing changed: says so and leaves the model as it was") {
    const std::string before = read_file(days.yesterday + "/als_model.bin");
    const auto run = require_ok("vr-train", {"--dir", days.yesterday, "--init-from", days.yesterday + "/als_model.bin",
                                             "--refresh", "both"});
    CHECK_THAT(run.err, Catch::Contains("nothing changed"));
    CHECK(read_file(days.yesterday + "/als_model.bin") == before);
    CHECK(vr::test::list_dir(days.yesterday) == std::vector<std::string>{"als_model.bin", "mappings.bin", "ratings.csv"});
  }
}

namespace {

// nDCG@10 of `top10_csv` (vr-recommend --all-users --format csv -k 10) against the held-out
// (user, video) pairs: binary relevance, averaged over the held-out users the model answered.
double ndcg_at_10(const std::string& top10_csv, const std::set<std::pair<std::string, std::string>>& held_out) {
  std::map<std::string, int> relevant_count;
  for (const auto& [user, video] : held_out) ++relevant_count[user];
  std::map<std::string, double> dcg;
  std::istringstream rows(top10_csv);
  std::string line;
  std::getline(rows, line);  // header
  while (std::getline(rows, line)) {
    std::istringstream fields(line);
    std::string user, rank, video;
    std::getline(fields, user, ',');
    std::getline(fields, rank, ',');
    std::getline(fields, video, ',');
    if (relevant_count.count(user) == 0) continue;
    dcg[user] += held_out.count({user, video}) ? 1.0 / std::log2(std::stod(rank) + 1) : 0.0;
  }
  double total = 0;
  for (const auto& [user, gain] : dcg) {
    double ideal = 0;
    for (int rank = 1; rank <= std::min(10, relevant_count[user]); ++rank) ideal += 1.0 / std::log2(rank + 1.0);
    total += gain / ideal;
  }
  REQUIRE(!dcg.empty());
  return total / static_cast<double>(dcg.size());
}

}  // namespace

TEST_CASE("MovieLens 100K by time: a 3-iteration warm start scores within 1% of a cold 15-iteration training") {
  const std::string movielens = vr::test::require_movielens_interactions_csv();
  // Yesterday: the first 90% of the days; today: the first 95%; held out: the last 5%.
  std::vector<std::string> lines;
  std::istringstream input(movielens);
  std::string header;
  std::getline(input, header);
  double first = 1e300, last = -1e300;
  std::vector<double> times;
  for (std::string line; std::getline(input, line);) {
    times.push_back(std::stod(line.substr(line.rfind(',') + 1)));
    first = std::min(first, times.back());
    last = std::max(last, times.back());
    lines.push_back(line);
  }
  const double yesterday_end = first + 0.90 * (last - first);
  const double today_end = first + 0.95 * (last - first);
  std::string yesterday = header + "\n", today = header + "\n";
  std::set<std::pair<std::string, std::string>> held_out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (times[i] < yesterday_end) yesterday += lines[i] + "\n";
    if (times[i] < today_end) {
      today += lines[i] + "\n";
    } else {
      const auto comma = lines[i].find(',');
      held_out.emplace(lines[i].substr(0, comma), lines[i].substr(comma + 1, lines[i].find(',', comma + 1) - comma - 1));
    }
  }
  TempDir dir;
  write_file(dir.file("yesterday.csv"), yesterday);
  write_file(dir.file("today.csv"), today);
  require_ok("vr-features", {dir.file("yesterday.csv"), "--dir", dir.file("yesterday")});
  require_ok("vr-train", {"--dir", dir.file("yesterday"), "--iterations", "15", "--quiet"});
  require_ok("vr-features", {dir.file("today.csv"), "--dir", dir.file("cold")});
  require_ok("vr-train", {"--dir", dir.file("cold"), "--iterations", "15", "--quiet"});
  require_ok("vr-features", {dir.file("today.csv"), "--dir", dir.file("warm"), "--mappings-from",
                             dir.file("yesterday/mappings.bin")});
  require_ok("vr-train", {"--dir", dir.file("warm"), "--iterations", "3", "--init-from",
                          dir.file("yesterday/als_model.bin"), "--quiet"});
  const auto top10 = [&](const std::string& model) {
    return require_ok("vr-recommend", {"--dir", dir.file(model), "--all-users", "-k", "10", "--format", "csv"}).out;
  };
  const double cold = ndcg_at_10(top10("cold"), held_out);
  const double warm = ndcg_at_10(top10("warm"), held_out);
  INFO("cold " << cold << ", warm " << warm);
  CHECK(cold > 0.1);  // far above chance: the split and the metric are what they claim
  CHECK(warm >= 0.99 * cold);
}

TEST_CASE("vr-evaluate --half-life decays the training events of a time split, and checks its input") {
  TempDir dir;
  // Each user rated five of the videos v0..v9 highly a month ago, and lately watches v10..v19
  // (weight 1): the last-fraction split holds out the newest. Undecayed, the old taste dominates
  // the user's factor; with a 1-day half-life the recent one does.
  std::ostringstream csv;
  csv << "user_id,video_id,value,timestamp\n";
  std::uint64_t state = 16;
  const auto next = [&state](std::uint32_t range) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<int>((state >> 33) % range);
  };
  const long month_ago = 1704067200, lately = month_ago + 30 * 86400;
  for (int user = 0; user < 40; ++user) {
    std::set<int> old_videos, new_videos;
    while (old_videos.size() < 5) old_videos.insert(next(10));
    while (new_videos.size() < 6) new_videos.insert(10 + next(10));
    for (int video : old_videos) csv << "u" << user << ",v" << video << ",5," << month_ago + video << "\n";
    int order = 0;
    for (int video : new_videos) csv << "u" << user << ",v" << video << ",1," << lately + 3600 * order++ << "\n";
  }
  write_file(dir.file("events.csv"), csv.str());
  const auto ndcg_at_3 = [&](std::vector<std::string> extra) {
    std::vector<std::string> arguments{"--interactions", dir.file("events.csv"), "--split", "last-fraction",
                                       "--test-ratio", "0.2", "--k", "3", "--format", "json", "--quiet",
                                       "--factors", "4", "--iterations", "10"};
    arguments.insert(arguments.end(), extra.begin(), extra.end());
    const auto result = require_ok("vr-evaluate", arguments);
    return nlohmann::json::parse(result.out).at("model").at("ndcg@3").get<double>();
  };
  const double plain = ndcg_at_3({});
  const double decayed = ndcg_at_3({"--half-life", "1d"});
  INFO("plain " << plain << ", decayed " << decayed);
  CHECK(decayed > plain + 0.1);
  // The default reference time is the newest event (the last user's last watch).
  CHECK(ndcg_at_3({"--half-life", "1d", "--now", std::to_string(lately + 3600 * 5)}) == decayed);
  CHECK(ndcg_at_3({"--half-life", "1d", "--now", "2024-03-01"}) != decayed);

  write_file(dir.file("bad.csv"), "user_id,video_id,value,timestamp\nu1,v1,1,2024-01-01\nu1,v2,1,later\n");
  const auto bad = run_tool("vr-evaluate", {"--interactions", dir.file("bad.csv"), "--half-life", "1d"});
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("bad.csv:3") && Catch::Contains("later"));
  const auto no_interactions = run_tool("vr-evaluate", {"--dir", dir.path(), "--half-life", "1d"});
  CHECK(no_interactions.exit_code != 0);
  CHECK_THAT(no_interactions.err, Catch::Contains("--interactions"));
}

TEST_CASE("vr-features --popular-window: popular.csv counts only recent users and the popular answer follows it") {
  TempDir dir;
  // All time, 'old' has the most users (3); in the last 7 days before the newest event
  // (2026-03-10), 'new' has 2 (u2's like, u4's watch; u1's watch of 03-01 is older) and
  // 'a,b' 1; 'mid' (02-25) only within 30 days of --now 2026-03-20.
  write_file(dir.file("events.csv"),
             "user_id,video_id,event,timestamp\n"
             "u1,old,watch,2026-01-01T00:00:00Z\n"
             "u2,old,watch,2026-01-01T00:00:00Z\n"
             "u3,old,watch,1767312000\n"
             "u1,new,watch,2026-03-01T00:00:00Z\n"
             "u2,new,like,2026-03-09T00:00:00Z\n"
             "u3,mid,watch,2026-02-25T00:00:00Z\n"
             "u4,new,watch,2026-03-10T00:00:00Z\n"
             "u4,\"a,b\",watch,2026-03-10T00:00:00Z\n");
  const auto features = [&](const std::string& folder, std::vector<std::string> flags) {
    std::vector<std::string> command{tool("vr-features"), dir.file("events.csv"), "--dir", dir.file(folder)};
    command.insert(command.end(), flags.begin(), flags.end());
    return run_command(command);
  };
  REQUIRE(features("week", {"--popular-window", "7d"}).exit_code == 0);
  CHECK(read_file(dir.file("week/popular.csv")) == "video_id,users\nnew,2\n\"a,b\",1\n");
  REQUIRE(features("month", {"--popular-window", "30d", "--now", "2026-03-20"}).exit_code == 0);
  CHECK(read_file(dir.file("month/popular.csv")) == "video_id,users\nnew,3\n\"a,b\",1\nmid,1\n");
  REQUIRE(features("all", {}).exit_code == 0);
  CHECK_FALSE(vr::test::file_exists(dir.file("all/popular.csv")));
  CHECK(read_file(dir.file("all/ratings.csv")) == read_file(dir.file("week/ratings.csv")));

  const auto popular_answer = [&](const std::string& folder) {
    REQUIRE(run_command({tool("vr-train"), "--dir", dir.file(folder), "--factors", "4", "--iterations", "2", "--quiet"})
                .exit_code == 0);
    const auto result = run_command({tool("vr-recommend"), "--dir", dir.file(folder), "--user", "newcomer",
                                     "--unknown-user", "popular", "-k", "2"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    return result.out;
  };
  CHECK(popular_answer("week") == "new\t2\na,b\t1\n");
  CHECK(popular_answer("all") == "new\t3\nold\t3\n");  // all time: a tie, to the lower index

  SECTION("bad input: no timestamp column, a bad duration, a broken popular.csv") {
    write_file(dir.file("untimed.csv"), "user_id,video_id,event\nu1,v1,watch\n");
    const auto untimed = run_command({tool("vr-features"), dir.file("untimed.csv"), "--dir", dir.file("untimed"),
                                      "--popular-window", "7d"});
    CHECK(untimed.exit_code == 1);
    CHECK_THAT(untimed.err, Catch::Contains("untimed.csv:1: missing column 'timestamp'"));
    CHECK_THAT(untimed.err, Catch::Contains("--popular-window"));
    CHECK_FALSE(vr::test::file_exists(dir.file("untimed/ratings.csv")));
    CHECK(features("bad", {"--popular-window", "3x"}).exit_code == 1);
    write_file(dir.file("week/popular.csv"), "video_id,users\nnew,2\na,zero\n");
    const auto broken = run_command({tool("vr-recommend"), "--dir", dir.file("week"), "--user", "newcomer",
                                     "--unknown-user", "popular"});
    CHECK(broken.exit_code == 1);
    CHECK_THAT(broken.err, Catch::Contains("popular.csv:3: field 'users': 'zero' is not a whole number from 1"));
  }
}
