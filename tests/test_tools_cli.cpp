// vr-features and vr-train end to end, through the built binaries.
#include <catch2/catch.hpp>

#include "support/test_support.h"

using vr::test::read_file;
using vr::test::run_command;
using vr::test::TempDir;
using vr::test::tool;
using vr::test::write_file;

namespace {
const std::string kBadEvents = "user_id,video_id,event\nu1,v1,watch\nu2,v2,rewind\n";
}

TEST_CASE("vr-features turns the bundled example into the original matrix, byte for byte the same each run") {
  TempDir dir;
  const auto first = run_command({tool("vr-features"), vr::test::source_path("data/interactions.csv"), "--dir", dir.file("a")});
  REQUIRE(first.exit_code == 0);
  CHECK(read_file(dir.file("a/ratings.csv")) ==
        "user_idx,video_idx,rating\n0,0,3\n0,1,1\n1,2,4\n2,3,1\n3,4,3\n4,0,1\n");
  CHECK_THAT(first.err, Catch::Contains("5 users, 5 videos"));
  const auto second = run_command({tool("vr-features"), vr::test::source_path("data/interactions.csv"), "--dir", dir.file("b")});
  REQUIRE(second.exit_code == 0);
  CHECK(read_file(dir.file("a/mappings.bin")) == read_file(dir.file("b/mappings.bin")));
  CHECK(read_file(dir.file("a/ratings.csv")) == read_file(dir.file("b/ratings.csv")));
  CHECK(vr::test::list_dir(dir.file("a")) == std::vector<std::string>{"mappings.bin", "ratings.csv"});
}

TEST_CASE("vr-features reads stdin and writes ratings to stdout") {
  TempDir dir;
  const auto result = run_command({tool("vr-features"), "-", "--ratings", "-", "--mappings", dir.file("m.bin")},
                                  "user_id,video_id,value\nb,x,2\na,x,1\n");
  REQUIRE(result.exit_code == 0);
  CHECK(result.out == "user_idx,video_idx,rating\n0,0,1\n1,0,2\n");
  CHECK(vr::test::file_exists(dir.file("m.bin")));
}

TEST_CASE("bad input: vr-features exits 1 naming the line, creates nothing and changes nothing") {
  TempDir dir;
  write_file(dir.file("bad.csv"), kBadEvents);
  SECTION("no output file after a failed run into an empty folder") {
    const auto result = run_command({tool("vr-features"), dir.file("bad.csv"), "--dir", dir.file("out")});
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.err, Catch::StartsWith("error: ") && Catch::Contains("bad.csv:3") && Catch::Contains("rewind"));
    CHECK(vr::test::list_dir(dir.file("out")).empty());
  }
  SECTION("previous outputs are left exactly as they were") {
    REQUIRE(run_command({tool("vr-features"), vr::test::source_path("data/interactions.csv"), "--dir", dir.file("out")})
                .exit_code == 0);
    const auto ratings_before = read_file(dir.file("out/ratings.csv"));
    const auto mappings_before = read_file(dir.file("out/mappings.bin"));
    const auto result = run_command({tool("vr-features"), dir.file("bad.csv"), "--dir", dir.file("out")});
    CHECK(result.exit_code == 1);
    CHECK(read_file(dir.file("out/ratings.csv")) == ratings_before);
    CHECK(read_file(dir.file("out/mappings.bin")) == mappings_before);
    CHECK(vr::test::list_dir(dir.file("out")) == std::vector<std::string>{"mappings.bin", "ratings.csv"});
  }
  SECTION("--skip-invalid goes on and reports counts by reason") {
    const auto result = run_command({tool("vr-features"), dir.file("bad.csv"), "--dir", dir.file("out"), "--skip-invalid"});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.err, Catch::Contains("skipped 1 invalid rows") && Catch::Contains("unknown event=1"));
    CHECK(read_file(dir.file("out/ratings.csv")) == "user_idx,video_idx,rating\n0,0,1\n");
  }
  SECTION("a missing input file and a bad flag are clear errors") {
    const auto missing = run_command({tool("vr-features"), dir.file("nope.csv")});
    CHECK(missing.exit_code != 0);
    CHECK_THAT(missing.err, Catch::Contains("nope.csv"));
    const auto bad_flag = run_command({tool("vr-features"), dir.file("bad.csv"), "--no-such-flag"});
    CHECK(bad_flag.exit_code != 0);
    const auto bad_weights = run_command({tool("vr-features"), dir.file("bad.csv"), "--weights", "watch"});
    CHECK(bad_weights.exit_code == 1);
    CHECK_THAT(bad_weights.err, Catch::Contains("--weights"));
  }
}

TEST_CASE("every tool's --help explains every option with its default, and --version names the formats") {
  for (const char* name : {"vr-features", "vr-train", "vr-generate"}) {
    const auto help = run_command({tool(name), "--help"});
    CHECK(help.exit_code == 0);
    CHECK_THAT(help.out, Catch::Contains("Options:"));
    const auto version = run_command({tool(name), "--version"});
    CHECK(version.exit_code == 0);
    CHECK_THAT(version.out, Catch::Contains("model format"));
  }
  CHECK_THAT(run_command({tool("vr-train"), "--help"}).out,
             Catch::Contains("--factors") && Catch::Contains("=20") && Catch::Contains("=0.1") && Catch::Contains("cg"));
  CHECK_THAT(run_command({tool("vr-features"), "--help"}).out, Catch::Contains("watch=1,like=2,complete=3"));
}

TEST_CASE("vr-train: the same seed gives a byte-identical model with 1 and 2 threads") {
  TempDir dir;
  REQUIRE(run_command({tool("vr-generate"), "--users", "400", "--videos", "150", "--events", "8000", "-o", dir.file("events.csv")})
              .exit_code == 0);
  REQUIRE(run_command({tool("vr-features"), dir.file("events.csv"), "--dir", dir.path()}).exit_code == 0);
  const auto one = run_command({tool("vr-train"), "--dir", dir.path(), "--threads", "1", "--model", dir.file("one.bin"),
                                "--factors", "12", "--iterations", "5"});
  REQUIRE(one.exit_code == 0);
  CHECK_THAT(one.err, Catch::Contains("iteration 5/5") && Catch::Contains("loss"));
  const auto two = run_command({tool("vr-train"), "--dir", dir.path(), "--threads", "2", "--model", dir.file("two.bin"),
                                "--factors", "12", "--iterations", "5"});
  REQUIRE(two.exit_code == 0);
  CHECK(read_file(dir.file("one.bin")) == read_file(dir.file("two.bin")));
  REQUIRE(run_command({tool("vr-train"), "--dir", dir.path(), "--seed", "7", "--model", dir.file("seven.bin"),
                       "--factors", "12", "--iterations", "5", "--quiet"})
              .exit_code == 0);
  CHECK_FALSE(read_file(dir.file("one.bin")) == read_file(dir.file("seven.bin")));
}

TEST_CASE("vr-train refuses bad ratings and non-finite results without writing a model") {
  TempDir dir;
  write_file(dir.file("ratings.csv"), "user_idx,video_idx,rating\n0,0,1\n1,x,2\n");
  const auto bad = run_command({tool("vr-train"), "--dir", dir.path()});
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("ratings.csv:3") && Catch::Contains("video_idx"));
  CHECK(vr::test::list_dir(dir.path()) == std::vector<std::string>{"ratings.csv"});

  // Confidences of 1e30 overflow float arithmetic: the factors go non-finite.
  write_file(dir.file("ratings.csv"), "user_idx,video_idx,rating\n0,0,3e38\n1,1,3e38\n0,1,1\n");
  const auto overflow = run_command({tool("vr-train"), "--dir", dir.path(), "--alpha", "1e30"});
  CHECK(overflow.exit_code == 1);
  CHECK_THAT(overflow.err, Catch::Contains("NaN or infinite"));
  CHECK(vr::test::list_dir(dir.path()) == std::vector<std::string>{"ratings.csv"});

  const auto missing = run_command({tool("vr-train"), "--dir", dir.file("empty")});
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("vr-features"));
}

TEST_CASE("vr-train refuses ratings that do not fit their mappings") {
  TempDir dir;
  REQUIRE(run_command({tool("vr-features"), vr::test::source_path("data/interactions.csv"), "--dir", dir.path()}).exit_code == 0);
  write_file(dir.file("ratings.csv"), "user_idx,video_idx,rating\n0,0,1\n9,0,1\n");
  const auto result = run_command({tool("vr-train"), "--dir", dir.path()});
  CHECK(result.exit_code == 1);
  CHECK_THAT(result.err, Catch::Contains("mappings"));
  CHECK_FALSE(vr::test::file_exists(dir.file("als_model.bin")));
}

TEST_CASE("range errors and --help say the real range") {
  const auto k = run_command({tool("vr-recommend"), "-k", "0", "--user", "u1"});
  CHECK(k.exit_code != 0);
  CHECK_THAT(k.err, Catch::Contains("-k") && Catch::Contains("must be >= 1"));
  CHECK_THAT(k.err, !Catch::Contains("1797693") && !Catch::Contains("0.000000"));
  const auto events = run_command({tool("vr-generate"), "--events", "0"});
  CHECK(events.exit_code != 0);
  CHECK_THAT(events.err, Catch::Contains("--events") && Catch::Contains("must be >= 1") && !Catch::Contains("1797693"));
  for (const char* ratio : {"0", "1", "1.5"}) {
    const auto result = run_command({tool("vr-evaluate"), "--test-ratio", ratio});
    CHECK(result.exit_code != 0);
    CHECK_THAT(result.err, Catch::Contains("greater than 0 and less than 1"));
  }
  CHECK_THAT(run_command({tool("vr-evaluate"), "--help"}).out, Catch::Contains("(0, 1), both excluded"));
  const auto factors = run_command({tool("vr-train"), "--factors", "5000"});
  CHECK_THAT(factors.err, Catch::Contains("from 1 to 4096"));
  const auto alpha = run_command({tool("vr-train"), "--alpha", "0"});
  CHECK_THAT(alpha.err, Catch::Contains("must be > 0") && !Catch::Contains("0.000000"));
}

TEST_CASE("vr-features reads a semicolon-separated file and says so") {
  TempDir dir;
  write_file(dir.file("events.csv"), "User_ID;Video_ID;Event\nu1;v1;Watch\nu2;v1;like\n");
  const auto result = run_command({tool("vr-features"), dir.file("events.csv"), "--ratings", "-", "--mappings",
                                   dir.file("m.bin")});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  CHECK(result.out == "user_idx,video_idx,rating\n0,0,1\n1,0,2\n");
  CHECK_THAT(result.err, Catch::Contains("separated by ';'"));
  const auto forced = run_command({tool("vr-features"), dir.file("events.csv"), "--delimiter", ",", "--ratings", "-",
                                   "--mappings", dir.file("m.bin")});
  CHECK(forced.exit_code == 1);
  CHECK_THAT(forced.err, Catch::Contains("missing column 'user_id'") && Catch::Contains("User_ID;Video_ID;Event"));
}

TEST_CASE("vr-evaluate warns on a handful of users and creates --best-config's folder") {
  TempDir dir;
  std::string events = "user_id,video_id,event\n";
  for (int user = 0; user < 8; ++user) {
    for (int video = user; video < user + 6; ++video) {
      events += "u" + std::to_string(user) + ",v" + std::to_string(video % 10) + ",watch\n";
    }
  }
  write_file(dir.file("events.csv"), events);
  REQUIRE(run_command({tool("vr-features"), dir.file("events.csv"), "--dir", dir.path()}).exit_code == 0);
  const auto result = run_command({tool("vr-evaluate"), "--dir", dir.path(), "--quiet", "--tune", "--tune-trials", "1",
                                   "--iterations", "2", "--best-config", dir.file("report/tuned.conf")});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  // Eight users: whatever the figures, they mean nothing.
  CHECK_THAT(result.err, Catch::Contains("warning: only 8 users") && Catch::Contains("not meaningful"));
  CHECK_THAT(result.out, Catch::Contains("warning: only 8 users"));
  CHECK(vr::test::file_exists(dir.file("report/tuned.conf")));
}

TEST_CASE("make pipeline builds only the tools the pipeline runs") {
  const auto dry_run = run_command({"make", "-n", "-C", vr::test::source_path(""), "pipeline", "BUILD_DIR=/nonexistent"});
  REQUIRE(dry_run.exit_code == 0);
  CHECK_THAT(dry_run.out, Catch::Contains("--target vr-features vr-train vr-recommend"));
  CHECK_THAT(dry_run.out, !Catch::Contains("test_"));
}
