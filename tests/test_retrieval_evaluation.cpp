// vr-evaluate --retrieval: the pruned scan's share of the catalog and exactness, the HNSW
// index's recall against the exact cosine scan, and the tool's modes, errors and output.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "vr/ann_index.h"
#include "vr/errors.h"
#include "vr/retrieval_evaluation.h"

using vr::test::run_command;
using vr::test::tool;

namespace {

// Artifacts built by the tools: 1,500 users x about 2,500 videos, 16 factors.
struct Artifacts {
  vr::test::TempDir dir;
  Artifacts() {
    REQUIRE(run_command({tool("vr-generate"), "--users", "1500", "--videos", "2500", "--events", "40000", "--seed", "5",
                         "-o", dir.file("interactions.csv")})
                .exit_code == 0);
    REQUIRE(run_command({tool("vr-features"), dir.file("interactions.csv"), "--dir", dir.path()}).exit_code == 0);
    train(42);
  }
  void train(int seed) const {
    REQUIRE(run_command({tool("vr-train"), "--dir", dir.path(), "--quiet", "--factors", "16", "--iterations", "5",
                         "--seed", std::to_string(seed)})
                .exit_code == 0);
  }
  void index(const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> argv{tool("vr-index"), "--dir", dir.path(), "--threads", "1", "--quiet"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const auto built = run_command(argv);
    INFO(built.err);
    REQUIRE(built.exit_code == 0);
  }
  vr::RetrievalEvaluationConfig config(vr::Retrieval retrieval) const {
    vr::RetrievalEvaluationConfig config;
    config.artifacts = vr::resolve_artifact_paths(dir.path());
    config.index_path = dir.file(vr::kAnnIndexFileName);
    config.retrieval = retrieval;
    config.users = 300;
    config.queries = 200;
    return config;
  }
};

nlohmann::json evaluate_json(const Artifacts& artifacts, const std::vector<std::string>& extra) {
  std::vector<std::string> argv{tool("vr-evaluate"), "--dir", artifacts.dir.path(), "--format", "json",
                                "--retrieval-users", "200", "--retrieval-videos", "100"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  const auto result = run_command(argv);
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  return nlohmann::json::parse(result.out);
}

}  // namespace

TEST_CASE("retrieval evaluation: the pruned scan is exact, scans part of a skewed catalog and all of it when k exceeds it") {
  Artifacts artifacts;
  auto config = artifacts.config(vr::Retrieval::Exact);
  const auto evaluation = vr::evaluate_retrieval(config);
  CHECK(evaluation.users_sampled == 300);
  CHECK(evaluation.answers_differing == 0);
  CHECK(evaluation.factors == 16);
  CHECK(evaluation.share_median > 0);
  CHECK(evaluation.share_median < 0.5);  // ALS norms are skewed: most of the catalog cannot win
  CHECK(evaluation.share_median <= evaluation.share_p90);
  CHECK(evaluation.share_p90 <= evaluation.share_max);
  CHECK(evaluation.share_max <= 1.0);
  CHECK(evaluation.retrieval == "exact");
  CHECK(evaluation.ann.empty());
  CHECK(evaluation.videos_sampled == 200);
  CHECK(evaluation.exact_queries_per_second > 0);

  // A k above the catalog leaves nothing to prune: every video is scored for every user.
  config.k = static_cast<int>(evaluation.videos) + 5;
  config.users = 20;
  config.queries = 5;
  const auto everything = vr::evaluate_retrieval(config);
  CHECK(everything.share_median == 1.0);
  CHECK(everything.share_mean == 1.0);
  CHECK(everything.answers_differing == 0);

  // More users asked for than the model has: each is checked once.
  config.k = 10;
  config.users = 1000000;
  CHECK(vr::evaluate_retrieval(config).users_sampled == evaluation.users);
}

TEST_CASE("retrieval evaluation: the index's recall is 1 when ef covers the catalog and drops with a degenerate graph") {
  Artifacts artifacts;
  artifacts.index();
  auto config = artifacts.config(vr::Retrieval::Ann);
  config.ef = {10, 128, 4000};
  const auto evaluation = vr::evaluate_retrieval(config);
  REQUIRE(evaluation.ann.size() == 3);
  CHECK(evaluation.retrieval == "ann");
  CHECK(evaluation.index_m == 16);
  CHECK(evaluation.ann[0].ef == 10);
  CHECK(evaluation.ann[1].recall >= 0.95);
  // ef above the catalog: the search visits every reachable video, the exact answer.
  CHECK(evaluation.ann[2].recall == 1.0);
  CHECK(evaluation.ann[0].recall <= evaluation.ann[2].recall);
  for (const auto& result : evaluation.ann) CHECK(result.queries_per_second > 0);

  // M 2, ef-construction 2, searched with ef 1: a poor graph, and recall says so.
  artifacts.index({"--m", "2", "--ef-construction", "2"});
  config.ef = {1};
  const auto poor = vr::evaluate_retrieval(config);
  REQUIRE(poor.ann.size() == 1);
  CHECK(poor.ann[0].recall < 0.9);
}

TEST_CASE("vr-evaluate --retrieval: auto uses the index only when present, ann requires it, bad indexes are refused") {
  Artifacts artifacts;
  // No index: auto measures the exact scan only; ann is refused naming the missing file.
  const auto without = evaluate_json(artifacts, {"--retrieval", "auto"});
  CHECK(without["similar"]["retrieval"] == "exact");
  CHECK(without["similar"]["ann"].empty());
  CHECK(without["top_k"]["answers_differing"] == 0);
  CHECK(without["top_k"]["users_sampled"] == 200);
  CHECK(without["k"] == 10);
  const auto missing = run_command({tool("vr-evaluate"), "--dir", artifacts.dir.path(), "--retrieval", "ann"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("ann_index.bin") != std::string::npos);

  // With an index: auto and ann measure it at each --ef, with the largest --k.
  artifacts.index();
  const auto with = evaluate_json(artifacts, {"--retrieval", "auto", "--ef", "16,256", "--k", "5,20"});
  CHECK(with["k"] == 20);
  CHECK(with["similar"]["retrieval"] == "ann");
  REQUIRE(with["similar"]["ann"].size() == 2);
  CHECK(with["similar"]["ann"][1]["ef"] == 256);
  CHECK(with["similar"]["ann"][1]["recall"].get<double>() >= 0.95);
  CHECK(evaluate_json(artifacts, {"--retrieval", "exact"})["similar"]["retrieval"] == "exact");

  // The table, written atomically to -o.
  const auto table = run_command({tool("vr-evaluate"), "--dir", artifacts.dir.path(), "--retrieval", "ann",
                                  "--retrieval-users", "50", "--retrieval-videos", "50", "-o", artifacts.dir.file("r.txt")});
  REQUIRE(table.exit_code == 0);
  const std::string text = vr::test::read_file(artifacts.dir.file("r.txt"));
  CHECK(text.find("answers differing            0 of 50") != std::string::npos);
  CHECK(text.find("recall@10") != std::string::npos);

  // A truncated index: exit 1 naming it, and no report file left behind.
  const std::string index = vr::test::read_file(artifacts.dir.file("ann_index.bin"));
  vr::test::write_file(artifacts.dir.file("ann_index.bin"), index.substr(0, index.size() / 2));
  const auto truncated = run_command({tool("vr-evaluate"), "--dir", artifacts.dir.path(), "--retrieval", "auto", "-o",
                                      artifacts.dir.file("broken.txt")});
  CHECK(truncated.exit_code == 1);
  CHECK(truncated.err.find("ann_index.bin") != std::string::npos);
  CHECK_FALSE(vr::test::file_exists(artifacts.dir.file("broken.txt")));

  // An index of another model (retrained with another seed): refused, both files named.
  vr::test::write_file(artifacts.dir.file("ann_index.bin"), index);
  artifacts.train(9);
  const auto stale = run_command({tool("vr-evaluate"), "--dir", artifacts.dir.path(), "--retrieval", "auto"});
  CHECK(stale.exit_code == 1);
  CHECK(stale.err.find("ann_index.bin") != std::string::npos);
  CHECK(stale.err.find("als_model.bin") != std::string::npos);

  // Training options do not mix with --retrieval; its own options need it.
  CHECK(run_command({tool("vr-evaluate"), "--dir", artifacts.dir.path(), "--retrieval", "exact", "--tune"}).exit_code != 0);
  CHECK(run_command({tool("vr-evaluate"), "--dir", artifacts.dir.path(), "--ef", "64"}).exit_code != 0);
  CHECK(run_command({tool("vr-evaluate"), "--dir", artifacts.dir.path(), "--retrieval", "fast"}).exit_code != 0);
}

TEST_CASE("vr-evaluate --retrieval refuses a model that is not ALS") {
  Artifacts artifacts;
  REQUIRE(run_command({tool("vr-train"), "--dir", artifacts.dir.path(), "--quiet", "--model", "item-knn"}).exit_code == 0);
  std::remove(artifacts.dir.file("als_model.bin").c_str());
  const auto result = run_command({tool("vr-evaluate"), "--dir", artifacts.dir.path(), "--retrieval", "exact"});
  CHECK(result.exit_code == 1);
  CHECK(result.err.find("als") != std::string::npos);
}
