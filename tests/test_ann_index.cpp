// The HNSW similar-video index: recall against the exact cosine, tiny catalogs, the file
// format's checks (corrupt, truncated, foreign, another model's), and the tools around it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <sstream>

#include "support/test_support.h"
#include "vr/ann_index.h"
#include "vr/errors.h"
#include "vr/generate.h"
#include "vr/interactions.h"
#include "vr/service.h"
#include "vr/topk.h"

using vr::test::run_command;
using vr::test::tool;

namespace {

vr::FactorMatrix trained_item_factors(std::uint32_t users, std::uint32_t videos, std::uint64_t events, int factors) {
  vr::GenerateConfig generate;
  generate.users = users;
  generate.videos = videos;
  generate.events = events;
  generate.tastes = 50;
  generate.zipf_exponent = 0.7;
  generate.seed = 17;
  std::stringstream log;
  vr::generate_interactions(log, generate);
  auto data = vr::aggregate_interactions(log, "generated", vr::FeaturesConfig{});
  const vr::SparseMatrix ratings = vr::build_sparse_matrix(data.ratings, static_cast<std::uint32_t>(data.users.size()),
                                                           static_cast<std::uint32_t>(data.videos.size()));
  vr::TrainConfig config;
  config.factors = factors;
  config.iterations = 3;
  config.threads = 2;
  return vr::train_als(ratings, config).item_factors;
}

// The exact 10 nearest other videos by cosine, as a set.
std::set<std::uint32_t> exact_neighbours(const vr::FactorMatrix& normalised, std::uint32_t video, int k) {
  const Eigen::VectorXf cosines = normalised * normalised.row(video).transpose();
  std::set<std::uint32_t> result;
  for (const auto& scored : vr::select_top_k(cosines.data(), static_cast<std::uint32_t>(cosines.size()), k, {video})) {
    result.insert(scored.video);
  }
  return result;
}

std::string index_bytes(const vr::AnnIndex& index) {
  std::ostringstream out;
  index.write(out);
  return out.str();
}

// Small artifacts built by the tools, with an index beside the model.
struct IndexedArtifacts {
  vr::test::TempDir dir;
  IndexedArtifacts() {
    REQUIRE(run_command({tool("vr-generate"), "--users", "300", "--videos", "400", "--events", "9000", "--seed", "3",
                         "-o", dir.file("interactions.csv")})
                .exit_code == 0);
    REQUIRE(run_command({tool("vr-features"), dir.file("interactions.csv"), "--dir", dir.path()}).exit_code == 0);
    REQUIRE(run_command({tool("vr-train"), "--dir", dir.path(), "--quiet", "--factors", "8", "--iterations", "5"})
                .exit_code == 0);
    const auto built = run_command({tool("vr-index"), "--dir", dir.path(), "--threads", "1"});
    INFO(built.err);
    REQUIRE(built.exit_code == 0);
  }
};

}  // namespace

TEST_CASE("HNSW similar videos reach recall@10 >= 0.95 against exact cosine on a 100k-video model") {
  const vr::FactorMatrix items = trained_item_factors(20000, 150000, 1200000, 32);
  INFO(items.rows() << " videos");
  REQUIRE(items.rows() >= 100000);
  vr::AnnBuildConfig config;
  config.m = 16;
  config.ef_construction = 100;
  config.threads = 2;
  const auto index = vr::AnnIndex::build(items, config);
  vr::FactorMatrix normalised = items;
  for (Eigen::Index i = 0; i < normalised.rows(); ++i) {
    const float norm = normalised.row(i).norm();
    if (norm > 0) normalised.row(i) /= norm;
  }
  std::size_t found = 0, wanted = 0;
  for (std::uint32_t video = 0; video < items.rows(); video += static_cast<std::uint32_t>(items.rows() / 300)) {
    const auto exact = exact_neighbours(normalised, video, 10);
    for (const auto& scored : index->nearest(video, 11, 128)) {
      if (scored.video != video) found += exact.count(scored.video);
    }
    wanted += exact.size();
  }
  const double recall = static_cast<double>(found) / static_cast<double>(wanted);
  INFO("recall@10 " << recall);
  CHECK(recall >= 0.95);
}

TEST_CASE("a tiny catalog's index finds every video, exactly ranked") {
  for (const Eigen::Index videos : {1, 2, 7, 40}) {
    INFO(videos << " videos");
    vr::FactorMatrix items = vr::FactorMatrix::Random(videos, 6);
    vr::AnnBuildConfig config;
    config.threads = 1;
    const auto index = vr::AnnIndex::build(items, config);
    const auto reread = [&] {
      std::istringstream in(index_bytes(*index));
      return vr::AnnIndex::read(in, "tiny.bin");
    }();
    for (std::uint32_t video = 0; video < videos; ++video) {
      const auto found = reread->nearest(video, static_cast<std::size_t>(videos), 64);
      REQUIRE(found.size() == static_cast<std::size_t>(videos));
      CHECK(found.front().video == video);
      for (std::size_t i = 1; i < found.size(); ++i) CHECK(found[i - 1].score >= found[i].score);
    }
    CHECK(index_bytes(*reread) == index_bytes(*index));
  }
}

TEST_CASE("corrupt, truncated, foreign and mismatched index files are refused, naming the file") {
  const vr::FactorMatrix items = vr::FactorMatrix::Random(300, 8);
  vr::AnnBuildConfig config;
  config.threads = 1;
  const std::string bytes = index_bytes(*vr::AnnIndex::build(items, config));
  const auto read = [](const std::string& data) {
    std::istringstream in(data);
    return vr::AnnIndex::read(in, "some/ann_index.bin");
  };
  REQUIRE(read(bytes)->videos() == 300);
  for (const std::size_t length : {std::size_t{0}, std::size_t{7}, std::size_t{30}, bytes.size() / 2, bytes.size() - 1}) {
    INFO("truncated to " << length);
    CHECK_THROWS_WITH(read(bytes.substr(0, length)), Catch::Contains("some/ann_index.bin"));
  }
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x10;
  CHECK_THROWS_AS(read(flipped), vr::CorruptFile);
  CHECK_THROWS_WITH(read("VRMODEL1 not an index at all"), Catch::Contains("some/ann_index.bin"));
  const auto index = read(bytes);
  vr::FactorMatrix other = items;
  other(5, 3) += 1.0f;
  CHECK_NOTHROW(index->check_matches(items, "idx.bin", "model.bin"));
  CHECK_THROWS_WITH(index->check_matches(other, "idx.bin", "model.bin"),
                    Catch::Contains("idx.bin") && Catch::Contains("model.bin"));
}

TEST_CASE("vr-index writes ann_index.bin, vr-recommend --similar uses it and refuses a mismatched one") {
  IndexedArtifacts artifacts;
  REQUIRE(vr::test::file_exists(artifacts.dir.file("ann_index.bin")));
  const auto similar = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> argv{tool("vr-recommend"), "--dir", artifacts.dir.path(), "--similar", "v010"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    if (std::find(extra.begin(), extra.end(), "-k") == extra.end()) argv.insert(argv.end(), {"-k", "8"});
    return run_command(argv);
  };
  const auto exact = similar({"--retrieval", "exact"});
  const auto ann = similar({"--retrieval", "ann"});
  const auto automatic = similar({});
  REQUIRE(exact.exit_code == 0);
  REQUIRE(ann.exit_code == 0);
  CHECK(automatic.out == ann.out);
  // A 400-video graph with M 16 finds the true neighbours: the same list.
  const auto ids = [](const std::string& text) {
    std::vector<std::string> result;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) result.push_back(line.substr(0, line.find('\t')));
    return result;
  };
  CHECK(ids(ann.out) == ids(exact.out));
  // Exclusions that take most of the neighbours still give k videos.
  CHECK(ids(similar({"--retrieval", "ann", "--exclude", "v010,v001,v002,v003", "-k", "390"}).out).size() == 390);

  // Retrain (another seed): the old index no longer matches and is refused with both names.
  REQUIRE(run_command({tool("vr-train"), "--dir", artifacts.dir.path(), "--quiet", "--factors", "8", "--iterations", "5",
                       "--seed", "9"})
              .exit_code == 0);
  const auto stale = similar({"--retrieval", "auto"});
  CHECK(stale.exit_code == 1);
  CHECK(stale.err.find("ann_index.bin") != std::string::npos);
  CHECK(stale.err.find("als_model.bin") != std::string::npos);
  // vr-serve loads model and index together: a snapshot with a stale index is refused.
  vr::SnapshotOptions options;
  CHECK_THROWS_WITH(vr::load_snapshot(artifacts.dir.path(), options), Catch::Contains("ann_index.bin"));
  options.retrieval = "exact";
  CHECK(vr::load_snapshot(artifacts.dir.path(), options)->recommender != nullptr);
  REQUIRE(run_command({tool("vr-index"), "--dir", artifacts.dir.path(), "--quiet"}).exit_code == 0);
  options.retrieval = "ann";
  CHECK(vr::load_snapshot(artifacts.dir.path(), options)->recommender != nullptr);

  // A truncated index: exit 1, the file named.
  const std::string index = vr::test::read_file(artifacts.dir.file("ann_index.bin"));
  vr::test::write_file(artifacts.dir.file("ann_index.bin"), index.substr(0, index.size() / 3));
  const auto truncated = similar({"--retrieval", "ann"});
  CHECK(truncated.exit_code == 1);
  CHECK(truncated.err.find("ann_index.bin") != std::string::npos);
  // Without an index, ann is refused and auto falls back to the exact scan.
  std::remove(artifacts.dir.file("ann_index.bin").c_str());
  CHECK(similar({"--retrieval", "ann"}).exit_code == 1);
  const auto exact_now = similar({"--retrieval", "exact"});
  REQUIRE(exact_now.exit_code == 0);
  CHECK(similar({"--retrieval", "auto"}).out == exact_now.out);
}
