// vr-train under a real `mpirun --oversubscribe` (Open MPI): one model from several processes,
// the determinism promises, shards, and the failures that must end the job.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "support/test_support.h"
#include "vr/model.h"
#include "vr/model_top_k.h"
#include "vr/training.h"

using vr::test::read_file;
using vr::test::run_command;
using vr::test::TempDir;
using vr::test::tool;
using vr::test::write_file;

namespace {

// Skips unless this build has VR_MPI and mpirun is on PATH; allows mpirun as root.
void require_mpirun() {
#ifndef VR_MPI
  vr::test::skip_test("vr was built without VR_MPI (Open MPI not found at configure time)");
#endif
  if (run_command({"sh", "-c", "command -v mpirun"}).exit_code != 0) vr::test::skip_test("mpirun is not installed (openmpi-bin)");
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
}

std::vector<std::string> mpirun(int processes, std::vector<std::string> command) {
  std::vector<std::string> argv{"mpirun", "--oversubscribe", "-np", std::to_string(processes)};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

// Runs vr-train on `processes` processes (1 thread each) and checks that it really ran
// distributed (every process reports itself).
void train(int processes, const std::vector<std::string>& flags) {
  std::vector<std::string> command{tool("vr-train"), "--threads", "1"};
  command.insert(command.end(), flags.begin(), flags.end());
  const auto result = run_command(mpirun(processes, command));
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.err, Catch::Contains("process " + std::to_string(processes - 1) + "/" + std::to_string(processes)));
}

// Largest |a - b| over the matrix, relative to its largest |b|.
double relative_difference(const vr::FactorMatrix& a, const vr::FactorMatrix& b) {
  REQUIRE(a.rows() == b.rows());
  REQUIRE(a.cols() == b.cols());
  return static_cast<double>((a - b).cwiseAbs().maxCoeff()) / static_cast<double>(b.cwiseAbs().maxCoeff());
}

// Share of users whose top-10 (watched videos excluded) is the same set in both models.
double same_top10_share(const vr::Model& a, const vr::Model& b, const vr::SparseMatrix& watched) {
  const auto top_a = vr::top_k_for_model(a, watched, 10, 1);
  const auto top_b = vr::top_k_for_model(b, watched, 10, 1);
  std::size_t same = 0;
  for (std::size_t user = 0; user < top_a.size(); ++user) {
    std::vector<std::uint32_t> videos_a, videos_b;
    for (const auto& scored : top_a[user]) videos_a.push_back(scored.video);
    for (const auto& scored : top_b[user]) videos_b.push_back(scored.video);
    std::sort(videos_a.begin(), videos_a.end());
    std::sort(videos_b.begin(), videos_b.end());
    if (videos_a == videos_b) ++same;
  }
  return static_cast<double>(same) / static_cast<double>(top_a.size());
}

// -np 1 (the single-process code) and -np >= 2 (YtY summed panel by panel in row order, as
// the single-process rank update sums it: vr/gram_panels.h) compute the same YtY bit for bit,
// so the factors are the same bit for bit, with CG as with Cholesky. Only the loss recorded
// per iteration is summed in other groups (its last bits may differ).
constexpr double kLossAgreement = 1e-9;  // relative difference of every recorded loss

// The determinism promises on one data set in `dir` (ratings.csv, mappings.bin).
void check_determinism(const std::string& dir, const std::vector<std::string>& flags) {
  auto with = [&](const std::string& model) {
    std::vector<std::string> all{"--dir", dir, "--model", dir + "/" + model, "--quiet"};
    all.insert(all.end(), flags.begin(), flags.end());
    return all;
  };
  std::vector<std::string> plain{tool("vr-train"), "--threads", "1"};
  for (const auto& flag : with("plain.bin")) plain.push_back(flag);
  REQUIRE(run_command(plain).exit_code == 0);
  for (int processes = 1; processes <= 4; ++processes) {
    auto each = with("np" + std::to_string(processes) + ".bin");
    each.erase(std::find(each.begin(), each.end(), "--quiet"));
    train(processes, each);
  }
  const std::string plain_bytes = read_file(dir + "/plain.bin");
  CHECK(read_file(dir + "/np1.bin") == plain_bytes);
  const std::string np2_bytes = read_file(dir + "/np2.bin");
  CHECK(read_file(dir + "/np3.bin") == np2_bytes);
  CHECK(read_file(dir + "/np4.bin") == np2_bytes);
  auto again = with("np2-again.bin");
  again.erase(std::find(again.begin(), again.end(), "--quiet"));
  train(2, again);
  CHECK(read_file(dir + "/np2-again.bin") == np2_bytes);

  const vr::Model single = vr::load_model(dir + "/plain.bin");
  const vr::SparseMatrix watched = vr::load_ratings_matrix(dir + "/ratings.csv", dir + "/mappings.bin");
  for (const std::string name : {"np2.bin", "np3.bin"}) {
    const vr::Model distributed = vr::load_model(dir + "/" + name);
    CHECK(distributed.info.n_ratings == single.info.n_ratings);
    REQUIRE(distributed.info.loss_history.size() == single.info.loss_history.size());
    double loss_difference = 0;
    for (std::size_t k = 0; k < single.info.loss_history.size(); ++k) {
      loss_difference = std::max(loss_difference, std::fabs(distributed.info.loss_history[k] - single.info.loss_history[k]) /
                                                      single.info.loss_history[k]);
    }
    const double users = relative_difference(distributed.factors.user_factors, single.factors.user_factors);
    const double videos = relative_difference(distributed.factors.item_factors, single.factors.item_factors);
    const double same_top10 = same_top10_share(distributed, single, watched);
    INFO(name << " vs -np 1: loss " << loss_difference << ", largest relative factor difference: users " << users
              << ", videos " << videos << "; same top-10 for " << same_top10 * 100 << " % of users");
    CHECK(loss_difference < kLossAgreement);
    CHECK(distributed.factors.user_factors == single.factors.user_factors);
    CHECK(distributed.factors.item_factors == single.factors.item_factors);
    CHECK(same_top10 == 1.0);
  }
}

std::string make_features(const TempDir& dir, const std::string& interactions, const std::string& folder,
                          int shards = 0) {
  std::vector<std::string> command{tool("vr-features"), interactions, "--dir", dir.file(folder)};
  if (shards > 0) {
    command.push_back("--shards");
    command.push_back(std::to_string(shards));
  }
  const auto result = run_command(command);
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  return dir.file(folder);
}

// A folder per process, as separate hosts have: the shards' mappings.bin and manifest, and
// the shards with the given indices.
std::string host_folder(const TempDir& dir, const std::string& shards, const std::string& name,
                        const std::vector<int>& indices, int count) {
  const auto folder = std::filesystem::path(dir.file(name));
  std::filesystem::create_directories(folder);
  for (const std::string file : {"mappings.bin", "ratings-shards.json"}) {
    std::filesystem::copy_file(std::filesystem::path(shards) / file, folder / file);
  }
  for (const int index : indices) {
    char shard[64];
    std::snprintf(shard, sizeof shard, "ratings-%05d-of-%05d.csv", index, count);
    std::filesystem::copy_file(std::filesystem::path(shards) / shard, folder / shard);
  }
  return folder.string();
}

// vr-train on two processes, process r reading folder host<r>; returns the result.
vr::test::CommandResult train_on_hosts(const TempDir& dir, const std::string& model, int processes = 2) {
  return run_command(mpirun(processes, {"sh", "-c",
                                        "exec \"$0\" --dir \"$1/host$((OMPI_COMM_WORLD_RANK % 2))\" --model \"$2\" "
                                        "--iterations 15 --threads 1",
                                        tool("vr-train"), dir.path(), model}));
}

}  // namespace

TEST_CASE("mpirun -np 1..4 on MovieLens 100K: -np 1 is plain vr-train, every -np >= 2 the same bytes, the same factors as -np 1") {
  require_mpirun();
  const std::string interactions = vr::test::require_movielens_interactions_csv();
  TempDir dir;
  write_file(dir.file("interactions.csv"), interactions);
  const auto data = make_features(dir, dir.file("interactions.csv"), "ml");
  SECTION("cg (default)") { check_determinism(data, {"--iterations", "15"}); }
  SECTION("cholesky") { check_determinism(data, {"--iterations", "15", "--solver", "cholesky"}); }
}

TEST_CASE("mpirun -np 1..4 on a generated set (64 factors, log scaling, Cholesky too)") {
  require_mpirun();
  TempDir dir;
  REQUIRE(run_command({tool("vr-generate"), "--users", "3000", "--videos", "1200", "--events", "60000", "--seed", "7",
                       "-o", dir.file("events.csv")})
              .exit_code == 0);
  const auto data = make_features(dir, dir.file("events.csv"), "gen");
  SECTION("cg, 64 factors, log scaling") {
    check_determinism(data, {"--iterations", "15", "--factors", "64", "--scaling", "log", "--alpha", "2"});
  }
  SECTION("cholesky, 10 factors (no fixed-size kernel)") {
    check_determinism(data, {"--iterations", "15", "--factors", "10", "--solver", "cholesky", "--seed", "3"});
  }
}

TEST_CASE("shards: processes that each hold only some shards train the model of the whole ratings.csv") {
  require_mpirun();
  TempDir dir;
  REQUIRE(run_command({tool("vr-generate"), "--users", "2000", "--videos", "800", "--events", "40000", "-o",
                       dir.file("events.csv")})
              .exit_code == 0);
  const auto single = make_features(dir, dir.file("events.csv"), "single");
  const auto shards = make_features(dir, dir.file("events.csv"), "shards", 5);
  std::string concatenated;
  for (int index = 0; index < 5; ++index) {
    char shard[64];
    std::snprintf(shard, sizeof shard, "/ratings-%05d-of-00005.csv", index);
    concatenated += read_file(shards + shard);
  }
  CHECK(concatenated == read_file(single + "/ratings.csv"));
  CHECK(read_file(shards + "/mappings.bin") == read_file(single + "/mappings.bin"));
  CHECK_FALSE(vr::test::file_exists(shards + "/ratings.csv"));

  train(2, {"--dir", single, "--model", dir.file("from-csv.bin"), "--iterations", "15"});
  host_folder(dir, shards, "host0", {0, 3, 4}, 5);
  host_folder(dir, shards, "host1", {1, 2}, 5);
  SECTION("two hosts, two processes") {
    const auto result = train_on_hosts(dir, dir.file("from-shards.bin"));
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(read_file(dir.file("from-shards.bin")) == read_file(dir.file("from-csv.bin")));
  }
  SECTION("two hosts, four processes (two per host share its shards)") {
    const auto result = train_on_hosts(dir, dir.file("from-shards.bin"), 4);
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(read_file(dir.file("from-shards.bin")) == read_file(dir.file("from-csv.bin")));
  }
  SECTION("--write-ratings: process 0 writes the shards' concatenation, shards sent by the processes holding them") {
    const auto result = run_command(mpirun(2, {"sh", "-c",
                                               "exec \"$0\" --dir \"$1/host$OMPI_COMM_WORLD_RANK\" --model \"$2\" "
                                               "--iterations 2 --threads 1 --write-ratings \"$1/copy/ratings.csv\"",
                                               tool("vr-train"), dir.path(), dir.file("with-copy.bin")}));
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(read_file(dir.file("copy/ratings.csv")) == concatenated);
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.file("copy"))) ++files;
    CHECK(files == 1);  // no temporary left behind
  }
  SECTION("--write-ratings without mpirun, and refused without shards") {
    REQUIRE(run_command({tool("vr-train"), "--dir", shards, "--model", dir.file("plain-copy.bin"), "--iterations", "1",
                         "--write-ratings", dir.file("plain-ratings.csv")})
                .exit_code == 0);
    CHECK(read_file(dir.file("plain-ratings.csv")) == concatenated);
    const auto refused = run_command({tool("vr-train"), "--dir", single, "--model", dir.file("refused.bin"),
                                      "--write-ratings", dir.file("refused.csv")});
    CHECK(refused.exit_code == 1);
    CHECK_THAT(refused.err, Catch::Contains("has no ratings-shards.json"));
    CHECK_FALSE(vr::test::file_exists(dir.file("refused.csv")));
  }
  SECTION("plain vr-train and -np 1 read all shards of a folder") {
    REQUIRE(run_command({tool("vr-train"), "--dir", single, "--model", dir.file("plain-csv.bin"), "--iterations", "15"})
                .exit_code == 0);
    REQUIRE(run_command({tool("vr-train"), "--dir", shards, "--model", dir.file("plain-shards.bin"), "--iterations", "15"})
                .exit_code == 0);
    CHECK(read_file(dir.file("plain-shards.bin")) == read_file(dir.file("plain-csv.bin")));
    train(1, {"--dir", shards, "--model", dir.file("np1-shards.bin"), "--iterations", "15"});
    CHECK(read_file(dir.file("np1-shards.bin")) == read_file(dir.file("plain-csv.bin")));
  }
}

TEST_CASE("bad shards end the job with exit 1, an error naming the file, and no model") {
  require_mpirun();
  TempDir dir;
  REQUIRE(run_command({tool("vr-generate"), "--users", "500", "--videos", "300", "--events", "8000", "-o",
                       dir.file("events.csv")})
              .exit_code == 0);
  const auto shards = make_features(dir, dir.file("events.csv"), "shards", 4);
  host_folder(dir, shards, "host0", {0, 1}, 4);
  host_folder(dir, shards, "host1", {2, 3}, 4);
  write_file(dir.file("model.bin"), "previous model");
  // `message`, or `or_message` when any process may be the one whose error reaches stderr
  // before the job is aborted.
  auto expect_refused = [&](const std::string& message, const std::string& or_message = {}) {
    const auto result = train_on_hosts(dir, dir.file("model.bin"));
    CHECK(result.exit_code == 1);
    if (or_message.empty()) {
      CHECK_THAT(result.err, Catch::Contains(message));
    } else {
      CHECK_THAT(result.err, Catch::Contains(message) || Catch::Contains(or_message));
    }
    CHECK(read_file(dir.file("model.bin")) == "previous model");
    CHECK(vr::test::list_dir(dir.path()) ==
          std::vector<std::string>{"events.csv", "host0", "host1", "model.bin", "shards"});
  };
  SECTION("a missing shard") {
    std::filesystem::remove(dir.file("host1/ratings-00002-of-00004.csv"));
    // Every process finds it missing and names it in its own folder.
    expect_refused("missing shard '" + dir.file("host1/ratings-00002-of-00004.csv") + "'",
                   "missing shard '" + dir.file("host0/ratings-00002-of-00004.csv") + "'");
  }
  SECTION("a corrupt shard (one byte changed)") {
    std::string bytes = read_file(dir.file("host1/ratings-00003-of-00004.csv"));
    bytes[bytes.size() / 2] = bytes[bytes.size() / 2] == '1' ? '2' : '1';
    write_file(dir.file("host1/ratings-00003-of-00004.csv"), bytes);
    expect_refused("'" + dir.file("host1/ratings-00003-of-00004.csv") + "': corrupt shard");
  }
  SECTION("a truncated shard") {
    const std::string bytes = read_file(dir.file("host0/ratings-00001-of-00004.csv"));
    write_file(dir.file("host0/ratings-00001-of-00004.csv"), bytes.substr(0, bytes.size() - 7));
    expect_refused("'" + dir.file("host0/ratings-00001-of-00004.csv") + "': corrupt shard");
  }
  SECTION("a mappings.bin of another vr-features run") {
    REQUIRE(run_command({tool("vr-generate"), "--users", "450", "--videos", "300", "--events", "8000", "--seed", "9",
                         "-o", dir.file("other.csv")})
                .exit_code == 0);
    REQUIRE(run_command({tool("vr-features"), dir.file("other.csv"), "--dir", dir.file("other")}).exit_code == 0);
    std::filesystem::copy_file(dir.file("other/mappings.bin"), dir.file("host1/mappings.bin"),
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::remove_all(dir.file("other"));
    std::filesystem::remove(dir.file("other.csv"));
    expect_refused("'" + dir.file("host1/mappings.bin") + "' is not the mappings.bin the shards");
  }
}

TEST_CASE("a bad row in a shared ratings.csv names the file and its real line, whichever process read it") {
  require_mpirun();
  TempDir dir;
  std::ostringstream ratings;
  ratings << "user_idx,video_idx,rating\n";
  for (int row = 0; row < 3000; ++row) ratings << row % 300 << "," << (row * 7) % 200 << ",1\n";
  ratings << "5,x,1\n";
  for (int row = 0; row < 100; ++row) ratings << row << ",3,2\n";
  write_file(dir.file("ratings.csv"), ratings.str());
  write_file(dir.file("model.bin"), "previous model");
  const auto result = run_command(mpirun(3, {tool("vr-train"), "--dir", dir.path(), "--model", dir.file("model.bin")}));
  CHECK(result.exit_code == 1);
  CHECK_THAT(result.err, Catch::Contains(dir.file("ratings.csv") + ":3002: field 'video_idx'"));
  CHECK(read_file(dir.file("model.bin")) == "previous model");
}

TEST_CASE("iALS's options under mpirun -np 1..4: the same factors as plain vr-train, the loss of its formula") {
  require_mpirun();
  TempDir dir;
  REQUIRE(run_command({tool("vr-generate"), "--users", "2000", "--videos", "800", "--events", "40000", "--seed", "5",
                       "-o", dir.file("events.csv")})
              .exit_code == 0);
  const auto data = make_features(dir, dir.file("events.csv"), "gen");
  SECTION("frequency-scaled regularisation and an unobserved weight, cg") {
    check_determinism(data, {"--iterations", "8", "--unobserved-weight", "0.3", "--reg-exponent", "1",
                             "--regularization", "0.01"});
  }
  SECTION("an unobserved weight alone (lambda stays in the shared Gram matrix), cholesky, 10 factors") {
    check_determinism(data, {"--iterations", "8", "--unobserved-weight", "0.05", "--solver", "cholesky", "--factors",
                             "10"});
  }
}

TEST_CASE("dislikes under mpirun: the loss keeps implicit's constant term per dislike, as one process does") {
  require_mpirun();
  TempDir dir;
  // Values straight from the input: every fifth (user, video) pair is a dislike.
  std::ostringstream events;
  events << "user_id,video_id,value\n";
  for (int row = 0; row < 6000; ++row) {
    events << "u" << row % 400 << ",v" << (row * 7 + row / 400) % 300 << "," << (row % 5 == 0 ? -2 : 1 + row % 3)
           << "\n";
  }
  write_file(dir.file("events.csv"), events.str());
  const auto data = make_features(dir, dir.file("events.csv"), "dislikes");
  REQUIRE_THAT(read_file(data + "/ratings.csv"), Catch::Contains(",-"));
  SECTION("implicit's weights") { check_determinism(data, {"--iterations", "5", "--factors", "16"}); }
  SECTION("iALS's weights") {
    check_determinism(data, {"--iterations", "5", "--factors", "16", "--unobserved-weight", "0.2", "--reg-exponent",
                             "0.5", "--regularization", "0.05"});
  }
}
