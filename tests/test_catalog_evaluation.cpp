// vr-evaluate --catalog: ineligible videos are left out of every model's candidates as a
// user's training videos are, the test ratings on them are dropped, and without a catalog
// (or with one that hides nothing) the metrics are exactly the usual ones.
#include <catch2/catch.hpp>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/test_support.h"
#include "vr/catalog.h"
#include "vr/catalog_evaluation.h"
#include "vr/errors.h"
#include "vr/evaluate.h"
#include "vr/generate.h"
#include "vr/model_top_k.h"
#include "vr/training.h"

namespace {

std::shared_ptr<const vr::Catalog> parse(const std::string& text) {
  std::istringstream input(text);
  return vr::read_catalog_csv(input, "videos.csv");
}

std::vector<std::string> ids(std::size_t videos) {
  std::vector<std::string> result;
  for (std::size_t video = 0; video < videos; ++video) result.push_back("v" + std::to_string(video));
  return result;
}

// Four users, four videos. Training popularity: v0 3 users, v1 2, v2 1, v3 none.
vr::GivenSplit four_users() {
  const std::vector<vr::Rating> train{{0, 0, 1}, {1, 0, 1}, {2, 0, 1}, {2, 1, 1}, {3, 1, 1}, {3, 2, 1}};
  const std::vector<vr::Rating> test{{0, 1, 1}, {1, 2, 1}, {3, 0, 1}};
  vr::GivenSplit given = vr::make_given_split(train, test, 4, 4);
  given.video_ids = ids(4);
  return given;
}

vr::EvaluateConfig small_config() {
  vr::EvaluateConfig config;
  config.cutoffs = {1};
  config.train.factors = 2;
  config.train.iterations = 3;
  config.train.threads = 1;
  config.train.compute_loss = false;
  return config;
}

}  // namespace

TEST_CASE("evaluate --catalog: hiding a video changes the popularity baseline as computed by hand") {
  const vr::GivenSplit given = four_users();
  // Without a catalog, top 1 by popularity minus the user's training videos: u0 gets v1 (test
  // v1: hit), u1 gets v1 (test v2: miss), u3 gets v0 (test v0: hit). 3 users, 2 hits.
  const vr::EvaluationReport plain = vr::evaluate(given, small_config());
  CHECK(plain.split.users_evaluated == 3);
  CHECK(plain.split.test_ratings == 3);
  CHECK_FALSE(plain.split.catalog);
  CHECK(plain.popularity.at_k[0].hit_rate == Approx(2.0 / 3.0));
  CHECK(plain.popularity.at_k[0].precision == Approx(2.0 / 3.0));

  // Hiding v1: u0's only test video is v1, dropped, so u0 is not evaluated; u1 now gets v2
  // (hit) and u3 still v0 (hit). 2 users, 2 hits.
  vr::EvaluateConfig config = small_config();
  config.catalog = vr::bind_evaluation_catalog(parse("video_id,hidden\nv1,true\nv9,true\n"), given.video_ids, 0);
  const vr::EvaluationReport hidden = vr::evaluate(given, config);
  REQUIRE(hidden.split.catalog);
  CHECK(hidden.split.catalog->ineligible_videos == 1);
  CHECK(hidden.split.catalog->unknown_videos == 1);
  CHECK(hidden.split.catalog->test_ratings_dropped == 1);
  CHECK(hidden.split.catalog->users_dropped == 1);
  CHECK(hidden.split.users_evaluated == 2);
  CHECK(hidden.split.test_ratings == 2);
  CHECK(hidden.popularity.at_k[0].hit_rate == 1.0);
  CHECK(hidden.popularity.at_k[0].precision == 1.0);

  // Outside its window (available from t = 100) at t = 50 it is as hidden; at t = 100 it is back.
  const auto windowed = parse("video_id,available_from\nv1,100\n");
  config.catalog = vr::bind_evaluation_catalog(windowed, given.video_ids, 50);
  CHECK(vr::evaluate(given, config).popularity.at_k[0].hit_rate == 1.0);
  config.catalog = vr::bind_evaluation_catalog(windowed, given.video_ids, 100);
  const vr::EvaluationReport available = vr::evaluate(given, config);
  CHECK(available.split.catalog->ineligible_videos == 0);
  CHECK(available.popularity.at_k[0].hit_rate == Approx(2.0 / 3.0));

  // Every test video hidden: nothing is left to evaluate.
  config.catalog = vr::bind_evaluation_catalog(parse("video_id,hidden\nv0,true\nv1,true\nv2,true\n"), given.video_ids, 0);
  CHECK_THROWS_AS(vr::evaluate(given, config), vr::InvalidInput);
}

TEST_CASE("evaluate --catalog: every model kind and scan ranks as if the hidden videos were not there") {
  vr::GenerateConfig generate;
  generate.users = 200;
  generate.videos = 120;
  generate.events = 5000;
  generate.tastes = 4;
  generate.seed = 3;
  std::stringstream log;
  vr::generate_interactions(log, generate);
  const vr::TimedRatings data = vr::read_timed_interactions(log, "generated", vr::FeaturesConfig{});
  const vr::SparseMatrix& ratings = data.ratings;
  // Hide the five most popular videos: they are in almost every unfiltered top list.
  std::vector<std::uint32_t> popularity(ratings.cols, 0);
  for (const std::uint32_t video : ratings.col_indices) ++popularity[video];
  std::vector<std::uint32_t> order(ratings.cols);
  for (std::uint32_t video = 0; video < ratings.cols; ++video) order[video] = video;
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return popularity[a] > popularity[b]; });
  std::string csv = "video_id,hidden\n";
  std::vector<char> hidden(ratings.cols, 0);
  for (int i = 0; i < 5; ++i) {
    csv += data.video_ids[order[i]] + ",true\n";
    hidden[order[i]] = 1;
  }
  const vr::EvaluationCatalog catalog = vr::bind_evaluation_catalog(parse(csv), data.video_ids, 0);
  REQUIRE(catalog.eligible->eligible_count() == ratings.cols - 5);

  vr::TrainConfig train;
  train.factors = 8;
  train.iterations = 5;
  train.threads = 2;
  train.compute_loss = false;
  const int k = 10;
  for (const vr::ModelKind kind : {vr::ModelKind::Als, vr::ModelKind::Ease, vr::ModelKind::ItemKnn}) {
    const vr::Model model = vr::train_model(ratings, kind, train, vr::ItemModelConfig{}, {});
    for (const vr::ScanMode scan : {vr::ScanMode::Pruned, vr::ScanMode::Full}) {
      if (kind != vr::ModelKind::Als && scan == vr::ScanMode::Full) continue;
      INFO("model " << vr::to_string(kind) << ", scan " << vr::scan_mode_name(scan));
      // Every video ranked, then the hidden ones struck out: what the catalog must give.
      const auto everything = vr::top_k_for_model(model, ratings, static_cast<int>(ratings.cols), 2, scan);
      const auto filtered = vr::top_k_for_model(model, ratings, k, 2, scan, nullptr, catalog.eligible.get());
      const auto unfiltered = vr::top_k_for_model(model, ratings, k, 2, scan);
      std::size_t changed = 0;
      for (std::size_t user = 0; user < everything.size(); ++user) {
        std::vector<vr::ScoredVideo> expected;
        for (const auto& video : everything[user]) {
          if (!hidden[video.video] && expected.size() < static_cast<std::size_t>(k)) expected.push_back(video);
        }
        REQUIRE(filtered[user].size() == expected.size());
        for (std::size_t rank = 0; rank < expected.size(); ++rank) {
          CHECK(filtered[user][rank].video == expected[rank].video);
          CHECK(filtered[user][rank].score == expected[rank].score);
        }
        for (const auto& video : unfiltered[user]) changed += hidden[video.video];
      }
      CHECK(changed > 0);  // the hidden videos were in the unfiltered answers
    }
  }
  // The baseline too.
  const auto popular = vr::popularity_top_k(ratings, k, catalog.eligible.get());
  for (const auto& list : popular) {
    REQUIRE(list.size() == static_cast<std::size_t>(k));
    for (const auto& video : list) CHECK_FALSE(hidden[video.video]);
  }
}

TEST_CASE("evaluate --catalog: a catalog that hides nothing gives exactly the metrics without one") {
  vr::GenerateConfig generate;
  generate.users = 150;
  generate.videos = 80;
  generate.events = 3000;
  generate.seed = 9;
  std::stringstream log;
  vr::generate_interactions(log, generate);
  const vr::TimedRatings data = vr::read_timed_interactions(log, "generated", vr::FeaturesConfig{});
  vr::EvaluateConfig config = small_config();
  config.cutoffs = {5, 10};
  config.models = {vr::ModelKind::Als, vr::ModelKind::Ease, vr::ModelKind::ItemKnn};
  const vr::EvaluationReport plain = vr::evaluate(data, config);
  // Every video listed, none hidden, windows that all hold at `now`, and one unknown id.
  std::string csv = "video_id,hidden,available_from,available_to\nnot-in-data,true,,\n";
  for (const std::string& id : data.video_ids) csv += id + ",false,2020-01-01,2030-01-01\n";
  config.catalog = vr::bind_evaluation_catalog(parse(csv), data.video_ids, vr::parse_reference_time("2026-12-01", "now"));
  const vr::EvaluationReport neutral = vr::evaluate(data, config);
  REQUIRE(neutral.split.catalog);
  CHECK(neutral.split.catalog->ineligible_videos == 0);
  CHECK(neutral.split.catalog->unknown_videos == 1);
  CHECK(neutral.split.catalog->test_ratings_dropped == 0);
  auto plain_json = nlohmann::json::parse(vr::report_json_text(plain, false));
  auto neutral_json = nlohmann::json::parse(vr::report_json_text(neutral, false));
  CHECK_FALSE(plain_json["split"].contains("catalog"));
  REQUIRE(neutral_json["split"].contains("catalog"));
  neutral_json["split"].erase("catalog");
  CHECK(plain_json == neutral_json);
}

TEST_CASE("vr-evaluate --catalog: the table and stderr say what was dropped, and no --catalog prints no catalog line") {
  vr::test::TempDir dir;
  std::stringstream log;
  vr::GenerateConfig generate;
  generate.users = 120;
  generate.videos = 60;
  generate.events = 2500;
  generate.seed = 4;
  vr::generate_interactions(log, generate);
  vr::test::write_file(dir.file("log.csv"), log.str());
  // Hide the video of the log's first event (the generator's ids depend on the catalog's size).
  const std::string first_row = log.str().substr(log.str().find('\n') + 1);
  const std::string first_video = first_row.substr(first_row.find(',') + 1, first_row.find(',', first_row.find(',') + 1) - first_row.find(',') - 1);
  vr::test::write_file(dir.file("videos.csv"), "video_id,title,hidden\n" + first_video + ",One,true\nnot-in-data,Two,false\n");
  const std::vector<std::string> base{vr::test::tool("vr-evaluate"), "--interactions", dir.file("log.csv"), "--quiet",
                                      "--iterations", "3"};
  const auto plain = vr::test::run_command(base);
  REQUIRE(plain.exit_code == 0);
  CHECK(plain.out.find("catalog:") == std::string::npos);
  CHECK(plain.err.find("catalog") == std::string::npos);

  auto with_catalog = base;
  with_catalog.insert(with_catalog.end(), {"--catalog", dir.file("videos.csv"), "--now", "2026-12-01T00:00:00Z"});
  const auto filtered = vr::test::run_command(with_catalog);
  INFO(filtered.err);
  REQUIRE(filtered.exit_code == 0);
  CHECK(filtered.out.find("catalog: " + dir.file("videos.csv") + " at 2026-12-01T00:00:00Z: 1 of 60 videos hidden") !=
        std::string::npos);
  CHECK(filtered.err.find("1 of 60 videos never ranked; dropped ") != std::string::npos);
  CHECK(filtered.err.find("lists 1 videos the data does not have") != std::string::npos);

  // The same catalog on a given split (interaction logs) and on ratings.csv with mappings.bin.
  const std::string text = log.str();
  std::size_t middle = text.find('\n', text.size() / 2);
  vr::test::write_file(dir.file("train.csv"), text.substr(0, middle + 1));
  vr::test::write_file(dir.file("test.csv"), text.substr(0, text.find('\n') + 1) + text.substr(middle + 1));
  const auto given = vr::test::run_command({vr::test::tool("vr-evaluate"), "--train", dir.file("train.csv"), "--test",
                                            dir.file("test.csv"), "--quiet", "--iterations", "3", "--catalog",
                                            dir.file("videos.csv"), "--now", "2026-12-01"});
  INFO(given.err);
  REQUIRE(given.exit_code == 0);
  CHECK(given.out.find("videos hidden or outside their window, never ranked") != std::string::npos);
  const auto features = vr::test::run_command({vr::test::tool("vr-features"), dir.file("log.csv"), "--dir", dir.path()});
  REQUIRE(features.exit_code == 0);
  const auto from_ratings = vr::test::run_command({vr::test::tool("vr-evaluate"), "--dir", dir.path(), "--quiet",
                                                   "--iterations", "3", "--catalog", dir.file("videos.csv")});
  INFO(from_ratings.err);
  REQUIRE(from_ratings.exit_code == 0);
  CHECK(from_ratings.out.find("1 of 60 videos hidden or outside their window") != std::string::npos);

  // A bad catalog row: file, line and field, exit 1, nothing written.
  vr::test::write_file(dir.file("bad.csv"), "video_id,hidden\n" + first_video + ",true\nv002,perhaps\n");
  auto bad = base;
  bad.insert(bad.end(), {"--catalog", dir.file("bad.csv"), "-o", dir.file("report.txt")});
  const auto refused = vr::test::run_command(bad);
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("bad.csv:3: field hidden") != std::string::npos);
  CHECK_FALSE(vr::test::file_exists(dir.file("report.txt")));

  // Ratings without their mappings have no video ids to match.
  vr::test::write_file(dir.file("ratings.csv"), "user_idx,video_idx,rating\n0,0,1\n0,1,1\n1,0,1\n1,1,1\n");
  const auto no_ids = vr::test::run_command({vr::test::tool("vr-evaluate"), "--ratings", dir.file("ratings.csv"),
                                             "--mappings", "none", "--catalog", dir.file("videos.csv")});
  CHECK(no_ids.exit_code == 1);
  CHECK(no_ids.err.find("--catalog matches videos by id") != std::string::npos);

  // --now alone has nothing to apply to.
  auto lone_now = base;
  lone_now.insert(lone_now.end(), {"--now", "2026-12-01"});
  const auto lone = vr::test::run_command(lone_now);
  CHECK(lone.exit_code == 1);
  CHECK(lone.err.find("--now is the reference time of --half-life or --catalog") != std::string::npos);
}
