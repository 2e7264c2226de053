// vr-recommend end to end through the built binaries: vr-features -> vr-train -> vr-recommend.
#include <catch2/catch.hpp>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "support/test_support.h"
#include "vr/mappings.h"

using vr::test::run_command;
using vr::test::tool;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream input(text);
  for (std::string line; std::getline(input, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> split(const std::string& line, char separator) {
  std::vector<std::string> fields;
  std::istringstream input(line);
  for (std::string field; std::getline(input, field, separator);) fields.push_back(field);
  return fields;
}

// Artifacts from the repository's small data/interactions.csv.
struct SmallArtifacts {
  vr::test::TempDir dir;
  SmallArtifacts() {
    REQUIRE(run_command({tool("vr-features"), vr::test::source_path("data/interactions.csv"), "--dir", dir.path()})
                .exit_code == 0);
    REQUIRE(run_command({tool("vr-train"), "--dir", dir.path(), "--quiet"}).exit_code == 0);
  }
};

// Artifacts from generated data with planted tastes; Cholesky to convergence so fold-in of a
// training user lands on its trained factor.
struct GeneratedArtifacts {
  vr::test::TempDir dir;
  GeneratedArtifacts() {
    REQUIRE(run_command({tool("vr-generate"), "--users", "300", "--videos", "400", "--events", "9000", "--tastes",
                         "5", "--seed", "3", "-o", dir.file("interactions.csv")})
                .exit_code == 0);
    REQUIRE(run_command({tool("vr-features"), dir.file("interactions.csv"), "--dir", dir.path()}).exit_code == 0);
    REQUIRE(run_command({tool("vr-train"), "--dir", dir.path(), "--quiet", "--factors", "10", "--iterations", "25",
                         "--solver", "cholesky"})
                .exit_code == 0);
  }
  std::vector<std::string> recommend(std::vector<std::string> arguments, const std::string& input = "") const {
    arguments.insert(arguments.begin(), {tool("vr-recommend"), "--dir", dir.path()});
    const auto result = run_command(arguments, input);
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    return lines_of(result.out);
  }
};

}  // namespace

TEST_CASE("vr-recommend --user prints video<TAB>score lines, best first, without watched videos") {
  SmallArtifacts artifacts;
  const auto result = run_command({tool("vr-recommend"), "--dir", artifacts.dir.path(), "--user", "u002", "-k", "5"});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  const auto lines = lines_of(result.out);
  REQUIRE(lines.size() == 4);  // 5 videos, u002 watched v003: k beyond what is left returns the rest
  double previous = 1e30;
  for (const auto& line : lines) {
    const auto fields = split(line, '\t');
    REQUIRE(fields.size() == 2);
    CHECK(fields[0] != "v003");
    const double score = std::stod(fields[1]);
    CHECK(score <= previous);
    previous = score;
  }

  const auto with_titles = run_command({tool("vr-recommend"), "--dir", artifacts.dir.path(), "--user", "u002", "-k",
                                        "1", "--titles", vr::test::source_path("data/videos.csv")});
  REQUIRE(with_titles.exit_code == 0);
  const auto fields = split(lines_of(with_titles.out).at(0), '\t');
  REQUIRE(fields.size() == 3);
  CHECK(fields[0] == split(lines[0], '\t')[0]);
  CHECK_FALSE(fields[2].empty());

  const auto watched = run_command({tool("vr-recommend"), "--dir", artifacts.dir.path(), "--user", "u002", "-k", "10",
                                    "--include-watched", "--exclude", "v001,v002"});
  REQUIRE(watched.exit_code == 0);
  std::set<std::string> ids;
  for (const auto& line : lines_of(watched.out)) ids.insert(split(line, '\t')[0]);
  CHECK(ids == std::set<std::string>{"v003", "v004", "v005"});
}

TEST_CASE("vr-recommend --format json prints exactly the /invocations object") {
  SmallArtifacts artifacts;
  const auto result = run_command(
      {tool("vr-recommend"), "--dir", artifacts.dir.path(), "--user", "u002", "-k", "3", "--format", "json"});
  REQUIRE(result.exit_code == 0);
  const auto object = nlohmann::json::parse(result.out);
  REQUIRE(object.size() == 2);
  CHECK(object.at("userId") == "u002");
  REQUIRE(object.at("recommendations").size() == 3);
  for (const auto& item : object.at("recommendations")) {
    CHECK(item.size() == 2);
    CHECK(item.at("videoId").is_string());
    CHECK(item.at("score").is_number());
  }
  CHECK(result.out.rfind("{\"userId\": \"u002\", \"recommendations\": [{\"videoId\": ", 0) == 0);
}

TEST_CASE("an unknown --user is an error with exit status 1") {
  SmallArtifacts artifacts;
  const auto result = run_command({tool("vr-recommend"), "--dir", artifacts.dir.path(), "--user", "u999"});
  CHECK(result.exit_code == 1);
  CHECK(result.out.empty());
  CHECK(result.err == "error: user 'u999' not found\n");
  const auto no_mode = run_command({tool("vr-recommend"), "--dir", artifacts.dir.path()});
  CHECK(no_mode.exit_code == 1);
  CHECK_THAT(no_mode.err, Catch::Contains("--all-users"));
}

TEST_CASE("vr-recommend --unknown-user popular answers an unknown user with the most popular videos") {
  SmallArtifacts artifacts;
  // data/interactions.csv: v001 has two users, v002..v005 one each (ties go to the lower index).
  const auto single = run_command({tool("vr-recommend"), "--dir", artifacts.dir.path(), "--user", "u999", "-k", "3",
                                   "--unknown-user", "popular"});
  CHECK(single.exit_code == 0);
  CHECK(single.out == "v001\t2\nv002\t1\nv003\t1\n");
  CHECK_THAT(single.err, Catch::Contains("'u999' is not in the model; answered with the most popular videos"));
  const auto excluded = run_command({tool("vr-recommend"), "--dir", artifacts.dir.path(), "--user", "u999", "-k", "2",
                                     "--exclude", "v001", "--format", "json", "--unknown-user", "popular"});
  CHECK(nlohmann::json::parse(excluded.out) ==
        nlohmann::json::parse(R"({"userId": "u999", "recommendations": [{"videoId": "v002", "score": 1},
                                 {"videoId": "v003", "score": 1}]})"));
  // A known user and a history are answered exactly as without the option.
  for (const std::vector<std::string>& query : {std::vector<std::string>{"--user", "u001"},
                                                std::vector<std::string>{"--history", "v003"}}) {
    std::vector<std::string> plain{tool("vr-recommend"), "--dir", artifacts.dir.path()};
    plain.insert(plain.end(), query.begin(), query.end());
    auto with_option = plain;
    with_option.insert(with_option.end(), {"--unknown-user", "popular"});
    CHECK(run_command(with_option).out == run_command(plain).out);
  }
  const auto batch = run_command({tool("vr-recommend"), "--dir", artifacts.dir.path(), "--users", "-", "-k", "1",
                                  "--unknown-user", "popular"},
                                 "u001\nu999\n{\"userId\": \"new\", \"history\": [\"v003\"]}\n");
  CHECK(batch.exit_code == 0);
  CHECK_THAT(batch.err, Catch::Contains("3 users answered, 0 not found, 0 invalid lines, 1 answered with popular videos"));
  const auto lines = lines_of(batch.out);
  REQUIRE(lines.size() == 3);
  CHECK(nlohmann::json::parse(lines[1]) ==
        nlohmann::json::parse(R"({"userId": "u999", "recommendations": [{"videoId": "v001", "score": 2}]})"));
  const auto bad = run_command({tool("vr-recommend"), "--dir", artifacts.dir.path(), "--user", "u999",
                                "--unknown-user", "maybe"});
  CHECK(bad.exit_code != 0);
}

TEST_CASE("vr-recommend --users - answers in input order, unknown users in place, exit status 3") {
  SmallArtifacts artifacts;
  const auto result = run_command({tool("vr-recommend"), "--dir", artifacts.dir.path(), "--users", "-", "-k", "2"},
                                  "u001\nu999\n\n{\"userId\": \"new\", \"history\": [\"v001\", \"v002\"]}\nu003\n");
  CHECK(result.exit_code == 3);
  CHECK_THAT(result.err, Catch::Contains("3 users answered, 1 not found"));
  const auto lines = lines_of(result.out);
  REQUIRE(lines.size() == 4);
  CHECK(nlohmann::json::parse(lines[0]).at("userId") == "u001");
  CHECK(nlohmann::json::parse(lines[1]) == nlohmann::json::parse(R"({"userId": "u999", "error": "user not found"})"));
  const auto folded = nlohmann::json::parse(lines[2]);
  CHECK(folded.at("userId") == "new");
  for (const auto& item : folded.at("recommendations")) {
    CHECK(item.at("videoId") != "v001");
    CHECK(item.at("videoId") != "v002");
  }
  CHECK(nlohmann::json::parse(lines[3]).at("userId") == "u003");

  const auto all_known = run_command({tool("vr-recommend"), "--dir", artifacts.dir.path(), "--users", "-"}, "u001\n");
  CHECK(all_known.exit_code == 0);
}

TEST_CASE("vr-recommend --all-users output equals the per-user output, as JSON Lines and as CSV") {
  GeneratedArtifacts artifacts;
  const auto all = artifacts.recommend({"--all-users", "-k", "6", "--threads", "2"});
  REQUIRE(all.size() == 300);
  std::string users;
  for (const auto& line : all) users += nlohmann::json::parse(line).at("userId").get<std::string>() + "\n";
  // The batch path (--users) and single queries give the same lines, byte for byte.
  CHECK(artifacts.recommend({"--users", "-", "-k", "6", "--threads", "1"}, users) == all);
  for (const std::size_t i : {0ul, 1ul, 150ul, 299ul}) {
    const auto user = nlohmann::json::parse(all[i]).at("userId").get<std::string>();
    const auto single = artifacts.recommend({"--user", user, "-k", "6", "--format", "json"});
    REQUIRE(single.size() == 1);
    CHECK(single[0] == all[i]);
  }
  const auto csv = artifacts.recommend({"--all-users", "-k", "6", "--format", "csv"});
  REQUIRE(csv.size() == 1 + 300 * 6);
  CHECK(csv[0] == "user_id,rank,video_id,score");
  const auto first = nlohmann::json::parse(all[0]);
  for (int rank = 1; rank <= 6; ++rank) {
    const auto fields = split(csv[static_cast<std::size_t>(rank)], ',');
    const auto& expected = first.at("recommendations").at(static_cast<std::size_t>(rank - 1));
    CHECK(fields[0] == first.at("userId"));
    CHECK(fields[1] == std::to_string(rank));
    CHECK(fields[2] == expected.at("videoId"));
    CHECK(std::stof(fields[3]) == expected.at("score").get<float>());
  }
}

TEST_CASE("vr-recommend --history fold-in of a training user matches its trained top few") {
  GeneratedArtifacts artifacts;
  const auto mappings = vr::load_mappings(artifacts.dir.file("mappings.bin"));
  const auto ratings = lines_of(vr::test::read_file(artifacts.dir.file("ratings.csv")));
  int same_top3 = 0, users = 0;
  for (const unsigned long user : {0ul, 10ul, 20ul, 30ul, 40ul, 50ul, 60ul, 70ul, 80ul, 90ul}) {
    std::string history;
    for (std::size_t i = 1; i < ratings.size(); ++i) {
      const auto fields = split(ratings[i], ',');
      if (std::stoul(fields[0]) != user) continue;
      history += (history.empty() ? "" : ",") + mappings.videos.id(static_cast<std::uint32_t>(std::stoul(fields[1]))) +
                 ":" + fields[2];
    }
    const std::string user_id = mappings.users.id(static_cast<std::uint32_t>(user));
    const auto trained = nlohmann::json::parse(artifacts.recommend({"--user", user_id, "-k", "3", "--format", "json"})[0]);
    const auto folded = nlohmann::json::parse(artifacts.recommend({"--history", history, "-k", "3", "--format", "json"})[0]);
    CHECK_FALSE(folded.contains("userId"));
    bool same = true;
    for (std::size_t rank = 0; rank < 3; ++rank) {
      same = same && trained["recommendations"][rank]["videoId"] == folded["recommendations"][rank]["videoId"];
    }
    same_top3 += same;
    ++users;
  }
  CHECK(same_top3 >= users - 1);
}

TEST_CASE("vr-recommend --similar: a video is most similar to itself, and similarity is symmetric") {
  GeneratedArtifacts artifacts;
  const auto lines = artifacts.recommend({"--similar", "v001", "-k", "5"});
  REQUIRE(lines.size() == 5);
  CHECK(split(lines[0], '\t')[0] == "v001");
  CHECK(std::stod(split(lines[0], '\t')[1]) == Approx(1.0).margin(1e-5));
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto fields = split(lines[i], '\t');
    const auto back = artifacts.recommend({"--similar", fields[0], "-k", "100000"});
    bool found = false;
    for (const auto& line : back) {
      const auto other = split(line, '\t');
      if (other[0] != "v001") continue;
      found = true;
      CHECK(std::stod(other[1]) == Approx(std::stod(fields[1])).margin(1e-5));
    }
    CHECK(found);
  }
  const auto without_itself = artifacts.recommend({"--similar", "v001", "-k", "4", "--exclude", "v001"});
  REQUIRE(without_itself.size() == 4);
  CHECK(without_itself[0] == lines[1]);
  const auto json = nlohmann::json::parse(artifacts.recommend({"--similar", "v001", "-k", "2", "--format", "json"})[0]);
  CHECK(json.at("videoId") == "v001");
  CHECK(json.at("similar").size() == 2);
}

TEST_CASE("vr-recommend --explain: each video's contributions sum to its score") {
  GeneratedArtifacts artifacts;
  const std::string user = vr::load_mappings(artifacts.dir.file("mappings.bin")).users.id(5);
  const auto lines = artifacts.recommend(
      {"--user", user, "-k", "4", "--explain", "--explain-top", "100000", "--format", "json"});
  const auto answer = nlohmann::json::parse(lines.at(0));
  REQUIRE(answer.at("recommendations").size() == 4);
  for (const auto& item : answer.at("recommendations")) {
    double sum = 0;
    REQUIRE_FALSE(item.at("because").empty());
    for (const auto& contribution : item.at("because")) sum += contribution.at("contribution").get<double>();
    const double score = item.at("score");
    CHECK(sum == Approx(score).margin(1e-5 + 1e-4 * std::fabs(score)));
  }
  const auto top = artifacts.recommend({"--user", user, "-k", "2", "--explain"});
  REQUIRE(top.size() == 2);
  const auto fields = split(top[0], '\t');
  REQUIRE(fields.size() == 3);
  CHECK(split(fields[2], ',').size() == 3);  // --explain-top defaults to 3
}

TEST_CASE("vr-recommend --scan full and --scan pruned write the same bytes, and --verbose reports the share scanned") {
  GeneratedArtifacts artifacts;
  for (const std::vector<std::string>& mode :
       {std::vector<std::string>{"--all-users", "-k", "7"}, {"--users", "-"}, {"--user", "u007", "--exclude", "v001,v002"},
        {"--history", "v003,v010:2", "-k", "12"}, {"--user", "u011", "--explain"}}) {
    std::vector<std::string> full = mode, pruned = mode;
    full.insert(full.end(), {"--scan", "full"});
    pruned.insert(pruned.end(), {"--scan", "pruned", "--verbose"});
    const std::string users = "u001\nu002\n{\"userId\": \"u003\", \"history\": [\"v004\"]}\n";
    const auto full_result = run_command([&] {
      auto argv = full;
      argv.insert(argv.begin(), {tool("vr-recommend"), "--dir", artifacts.dir.path()});
      return argv;
    }(), users);
    const auto pruned_result = run_command([&] {
      auto argv = pruned;
      argv.insert(argv.begin(), {tool("vr-recommend"), "--dir", artifacts.dir.path()});
      return argv;
    }(), users);
    INFO(mode.front() << "\n" << full_result.err << pruned_result.err);
    REQUIRE(full_result.exit_code == 0);
    REQUIRE(pruned_result.exit_code == 0);
    REQUIRE(!full_result.out.empty());
    CHECK(full_result.out == pruned_result.out);
    CHECK(pruned_result.err.find("% of the catalog)") != std::string::npos);
  }
  const auto bad = run_command({tool("vr-recommend"), "--dir", artifacts.dir.path(), "--user", "u001", "--scan", "fast"});
  CHECK(bad.exit_code != 0);
}

TEST_CASE("vr-recommend --users - skips the header line a cut of the events CSV brings along") {
  SmallArtifacts artifacts;
  // cut -d, -f1 data/interactions.csv | sort -u: the header sorts after the u0xx ids.
  const auto result = run_command({tool("vr-recommend"), "--dir", artifacts.dir.path(), "--users", "-", "-k", "1"},
                                  "u001\nu002\nuser_id\n");
  INFO(result.err);
  CHECK(result.exit_code == 0);
  CHECK(lines_of(result.out).size() == 2);
  CHECK_THAT(result.err, Catch::Contains("2 users answered, 0 not found, 0 invalid lines"));
  // Any other unknown id is still an unknown user.
  const auto unknown = run_command({tool("vr-recommend"), "--dir", artifacts.dir.path(), "--users", "-"}, "u001\nuser\n");
  CHECK(unknown.exit_code == 3);
}

TEST_CASE("vr-recommend warns when the --titles file misses videos of the model") {
  SmallArtifacts artifacts;
  vr::test::write_file(artifacts.dir.file("titles.csv"), "video_id,title\nv001,One\nv003,Three\n");
  const auto partial = run_command({tool("vr-recommend"), "--dir", artifacts.dir.path(), "--user", "u002", "--titles",
                                    artifacts.dir.file("titles.csv")});
  CHECK(partial.exit_code == 0);
  CHECK_THAT(partial.err, Catch::Contains("warning") && Catch::Contains("no title for 3 of the model's videos"));
  const auto complete = run_command({tool("vr-recommend"), "--dir", artifacts.dir.path(), "--user", "u002", "--titles",
                                     vr::test::source_path("data/videos.csv")});
  CHECK(complete.exit_code == 0);
  CHECK(complete.err.empty());
}

TEST_CASE("vr-recommend --explain keeps the scores and order of the plain answer, and explains them") {
  SmallArtifacts artifacts;
  for (const char* user : {"u001", "u002"}) {
    INFO(user);
    const auto plain = run_command({tool("vr-recommend"), "--dir", artifacts.dir.path(), "--user", user, "-k", "4"});
    const auto explained = run_command({tool("vr-recommend"), "--dir", artifacts.dir.path(), "--user", user, "-k", "4",
                                        "--explain", "--explain-top", "10"});
    REQUIRE(plain.exit_code == 0);
    REQUIRE(explained.exit_code == 0);
    const auto plain_lines = lines_of(plain.out);
    const auto explained_lines = lines_of(explained.out);
    REQUIRE(plain_lines.size() == explained_lines.size());
    for (std::size_t i = 0; i < plain_lines.size(); ++i) {
      const auto fields = split(explained_lines[i], '\t');
      REQUIRE(fields.size() == 3);
      // Same video and the same printed score as without --explain.
      CHECK(fields[0] + "\t" + fields[1] == plain_lines[i]);
      double sum = 0, magnitude = 0;
      for (const auto& share : split(fields[2], ',')) {
        const double contribution = std::stod(share.substr(share.find(':') + 1));
        sum += contribution;
        magnitude += std::fabs(contribution);
      }
      // Each printed contribution is a float (7 digits): their sum matches to that precision.
      CHECK(sum == Approx(std::stod(fields[1])).epsilon(0).margin(1e-6 * magnitude));
    }
  }
}
