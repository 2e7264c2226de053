// Saying when the defaults are wrong (vr/heavy_tail.h): raw play counts with a heavy tail get
// one warning line from vr-train and vr-evaluate; star ratings and event weights do not; and
// the binary scaling the advice can lead to.
#include <catch2/catch.hpp>

#include <sstream>

#include "support/test_support.h"
#include "vr/als.h"
#include "vr/heavy_tail.h"
#include "vr/ratings.h"

namespace {

// 200 users x 50 videos; each pair's value from `value_of(user, video)`, every 3rd pair rated.
template <typename ValueOf>
std::vector<vr::Rating> grid(ValueOf value_of) {
  std::vector<vr::Rating> ratings;
  for (std::uint32_t user = 0; user < 200; ++user) {
    for (std::uint32_t video = 0; video < 50; ++video) {
      if ((user + video) % 3 == 0) ratings.push_back({user, video, value_of(user, video)});
    }
  }
  return ratings;
}

// Play counts: mostly 1-4 plays, every 97th pair a binge of thousands.
float play_count(std::uint32_t user, std::uint32_t video) {
  return (user * 50 + video) % 97 == 0 ? 3000.0f + static_cast<float>(user) : 1.0f + static_cast<float>((user + video) % 4);
}
float stars(std::uint32_t user, std::uint32_t video) { return 1.0f + static_cast<float>((user * 7 + video) % 5); }

std::string ratings_csv(const std::vector<vr::Rating>& ratings) {
  std::ostringstream csv;
  vr::write_ratings_csv(csv, ratings);
  return csv.str();
}

}  // namespace

TEST_CASE("the heavy-tail warning fires on raw play counts only") {
  const auto counts = vr::build_sparse_matrix(grid(play_count), 200, 50);
  const auto spread = vr::rating_spread(counts);
  CHECK(spread.median == Approx(3.0f));
  CHECK(spread.largest == Approx(3199.0f).margin(200));
  vr::TrainConfig config;
  const auto warning = vr::heavy_tail_warning(counts, config);
  REQUIRE(warning);
  CHECK_THAT(*warning, Catch::Contains("--scaling log") && Catch::Contains("median 3"));
  config.scaling = vr::ConfidenceScaling::Log;
  CHECK_FALSE(vr::heavy_tail_warning(counts, config));
  config.scaling = vr::ConfidenceScaling::Binary;
  CHECK_FALSE(vr::heavy_tail_warning(counts, config));
  CHECK_FALSE(vr::heavy_tail_warning(vr::build_sparse_matrix(grid(stars), 200, 50), vr::TrainConfig{}));
  // Just under the ratio (largest 99 x the median of 1) stays quiet; at it, it speaks.
  std::vector<vr::Rating> edge{{0, 0, 1}, {0, 1, 1}, {1, 0, 99}};
  CHECK_FALSE(vr::heavy_tail_warning(vr::build_sparse_matrix(edge, 2, 2), vr::TrainConfig{}));
  edge[2].value = 100;
  CHECK(vr::heavy_tail_warning(vr::build_sparse_matrix(edge, 2, 2), vr::TrainConfig{}));
}

TEST_CASE("vr-train and vr-evaluate print the heavy-tail advice once, and not with --scaling log") {
  vr::test::TempDir dir;
  vr::test::write_file(dir.file("counts.csv"), ratings_csv(grid(play_count)));
  vr::test::write_file(dir.file("stars.csv"), ratings_csv(grid(stars)));
  const auto train = [&](const std::string& ratings, std::vector<std::string> extra) {
    std::vector<std::string> argv{vr::test::tool("vr-train"), "--ratings", dir.file(ratings), "--mappings", "none",
                                  "--model", dir.file("model.bin"), "--iterations", "2", "--quiet"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return vr::test::run_command(argv);
  };
  const auto count_lines = [](const std::string& text) {
    std::size_t lines = 0;
    for (std::size_t at = text.find("heavy tail"); at != std::string::npos; at = text.find("heavy tail", at + 1)) ++lines;
    return lines;
  };
  const auto raw = train("counts.csv", {});
  INFO(raw.err);
  REQUIRE(raw.exit_code == 0);
  CHECK(count_lines(raw.err) == 1);
  CHECK_THAT(raw.err, Catch::Contains("vr-train: warning:") && Catch::Contains("--scaling log"));
  const auto logged = train("counts.csv", {"--scaling", "log"});
  REQUIRE(logged.exit_code == 0);
  CHECK(count_lines(logged.err) == 0);
  const auto starred = train("stars.csv", {});
  REQUIRE(starred.exit_code == 0);
  CHECK(count_lines(starred.err) == 0);

  const auto evaluate = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv{vr::test::tool("vr-evaluate"), "--ratings", dir.file("counts.csv"), "--mappings",
                                  "none", "--iterations", "2", "--quiet"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return vr::test::run_command(argv);
  };
  const auto evaluated = evaluate({});
  INFO(evaluated.err);
  REQUIRE(evaluated.exit_code == 0);
  CHECK(count_lines(evaluated.err) == 1);
  CHECK_THAT(evaluated.err, Catch::Contains("vr-evaluate: warning:"));
  CHECK(count_lines(evaluate({"--scaling", "binary"}).err) == 0);
  CHECK(count_lines(evaluate({"--models", "ease"}).err) == 0);  // EASE binarises anyway
}

TEST_CASE("binary scaling trains exactly as raw scaling on every rating set to 1") {
  const auto counts = vr::build_sparse_matrix(grid(play_count), 200, 50);
  auto ones = counts;
  for (float& value : ones.values) value = 1.0f;
  vr::TrainConfig config;
  config.factors = 4;
  config.iterations = 3;
  config.alpha = 7.5f;
  config.compute_loss = false;
  config.threads = 1;
  const auto raw_ones = vr::train_als(ones, config);
  config.scaling = vr::ConfidenceScaling::Binary;
  const auto binary = vr::train_als(counts, config);
  CHECK(binary.user_factors == raw_ones.user_factors);
  CHECK(binary.item_factors == raw_ones.item_factors);
  CHECK(vr::parse_scaling("binary") == vr::ConfidenceScaling::Binary);
  CHECK(vr::to_string(vr::ConfidenceScaling::Binary) == "binary");
  CHECK(vr::confidence_of(-4.0f, config) == -7.5f);  // a dislike keeps its sign
}
