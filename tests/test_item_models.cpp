// EASE and item-knn: EASE against its closed form computed independently here, item-knn
// against hand-computed cosines and BM25 weights, the model file for every kind (and format 1
// files still loading), and the Recommender serving them.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "support/test_support.h"
#include "vr/errors.h"
#include "vr/generate.h"
#include "vr/interactions.h"
#include "vr/item_models.h"
#include "vr/recommender.h"
#include "vr/model_top_k.h"
#include "vr/training.h"

namespace {

// 4 users x 3 videos:  u0: v0 v1   u1: v0 v1 v2   u2: v1 v2   u3: v0 (and a dislike of v2,
// which the item models ignore). Star-like weights: the item models only see r > 0.
vr::SparseMatrix tiny_ratings() {
  return vr::build_sparse_matrix({{0, 0, 5}, {0, 1, 1}, {1, 0, 2}, {1, 1, 3}, {1, 2, 1}, {2, 1, 4}, {2, 2, 2},
                                  {3, 0, 1}, {3, 2, -1}},
                                 4, 3);
}

// The inverse of a 3x3 matrix by cofactors (independent of Eigen's Cholesky).
void invert3(const double m[3][3], double inverse[3][3]) {
  const double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                     m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                     m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      // inverse[i][j] = cofactor(j, i) / det
      const int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
      inverse[i][j] = (m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0]) / det;
    }
  }
}

vr::Model make_model(vr::ModelKind kind, const vr::SparseMatrix& ratings, const vr::ItemModelConfig& config = {}) {
  vr::TrainConfig als;
  als.factors = 4;
  als.iterations = 3;
  return vr::train_model(ratings, kind, als, config);
}

vr::Mappings tiny_mappings() {
  vr::Mappings mappings;
  for (const char* user : {"a", "b", "c", "d"}) mappings.users.intern(user);
  for (const char* video : {"x", "y", "z"}) mappings.videos.intern(video);
  return mappings;
}

std::string round_trip(const vr::Model& model) {
  std::ostringstream out(std::ios::binary);
  vr::write_model(out, model);
  return out.str();
}

}  // namespace

TEST_CASE("EASE matches its closed form on a tiny matrix") {
  const double lambda = 0.5;
  // X^T X of the binarised matrix, by hand: v0 has users {0,1,3}, v1 {0,1,2}, v2 {1,2}.
  double gram[3][3] = {{3, 2, 1}, {2, 3, 2}, {1, 2, 2}};
  for (int i = 0; i < 3; ++i) gram[i][i] += lambda;
  double p[3][3];
  invert3(gram, p);
  const vr::FactorMatrix weights = vr::train_ease(tiny_ratings(), static_cast<float>(lambda), 2);
  REQUIRE(weights.rows() == 3);
  REQUIRE(weights.cols() == 3);
  for (int j = 0; j < 3; ++j) {
    for (int i = 0; i < 3; ++i) {
      const double expected = i == j ? 0.0 : -p[j][i] / p[i][i];
      INFO("B(" << j << ", " << i << ")");
      CHECK(weights(j, i) == Approx(expected).margin(1e-5));
    }
  }
  // Same answer on one thread.
  CHECK(vr::train_ease(tiny_ratings(), static_cast<float>(lambda), 1) == weights);
  CHECK_THROWS_AS(vr::train_ease(tiny_ratings(), 0.0f), vr::InvalidInput);
}

TEST_CASE("EASE refuses catalogs larger than its limit with a clear error") {
  vr::SparseMatrix huge = vr::build_sparse_matrix({{0, 0, 1}}, 1, vr::kEaseMaxVideos + 1);
  CHECK_THROWS_WITH(vr::train_ease(huge, 100.0f),
                    Catch::Contains("50000") && Catch::Contains("item-knn") && Catch::Contains("GB"));
}

TEST_CASE("item-knn cosine similarities match hand-computed ones") {
  vr::ItemModelConfig config;
  config.similarity = vr::Similarity::Cosine;
  config.neighbours = 5;
  const vr::SparseMatrix all = vr::train_item_knn(tiny_ratings(), config);
  // |U0 and U1| = 2, |U0| = |U1| = 3: 2/3; v0-v2 share u1 only: 1/sqrt(6); v1-v2 share u1, u2.
  const double expected[3][3] = {{0, 2.0 / 3, 1 / std::sqrt(6.0)},
                                 {2.0 / 3, 0, 2 / std::sqrt(6.0)},
                                 {1 / std::sqrt(6.0), 2 / std::sqrt(6.0), 0}};
  REQUIRE(all.rows == 3);
  for (std::uint32_t j = 0; j < 3; ++j) {
    REQUIRE(all.row_size(j) == 2);  // itself is never its own neighbour
    for (auto k = all.row_offsets[j]; k < all.row_offsets[j + 1]; ++k) {
      INFO("sim(" << j << ", " << all.col_indices[k] << ")");
      CHECK(all.values[k] == Approx(expected[j][all.col_indices[k]]).epsilon(1e-6));
    }
  }
  // One neighbour each: the most similar.
  config.neighbours = 1;
  const vr::SparseMatrix one = vr::train_item_knn(tiny_ratings(), config);
  CHECK(one.col_indices == std::vector<std::uint32_t>{1, 2, 1});
}

TEST_CASE("item-knn BM25 follows implicit's weighting") {
  vr::ItemModelConfig config;
  config.similarity = vr::Similarity::Bm25;
  config.neighbours = 1;
  config.bm25_k1 = 0;  // weights reduce to idf(u) = log(videos) - log1p(videos of u)
  config.bm25_b = 0;
  const vr::SparseMatrix neighbours = vr::train_item_knn(tiny_ratings(), config);
  // Only u1 (3 videos: idf log(3/4)) and u0, u2 (2 videos: idf 0) link videos, so every pair
  // has similarity log(3/4)^2 and the tie goes to the lower index.
  const double shared = std::pow(std::log(3.0 / 4.0), 2);
  REQUIRE(neighbours.nnz() == 3);
  CHECK(neighbours.col_indices == std::vector<std::uint32_t>{1, 0, 0});
  for (const float value : neighbours.values) CHECK(value == Approx(shared).epsilon(1e-5));
}

TEST_CASE("model files hold every kind, and format 1 files still load") {
  const auto ratings = tiny_ratings();
  for (const auto kind : {vr::ModelKind::Als, vr::ModelKind::Ease, vr::ModelKind::ItemKnn}) {
    INFO(vr::to_string(kind));
    vr::ItemModelConfig config;
    config.ease_regularization = 2.5f;
    config.neighbours = 7;
    config.similarity = vr::Similarity::Bm25;
    const vr::Model model = make_model(kind, ratings, config);
    const std::string bytes = round_trip(model);
    std::istringstream in(bytes, std::ios::binary);
    const vr::Model back = vr::read_model(in, "model.bin");
    CHECK(back.info.kind == vr::to_string(kind));
    CHECK(back.kind() == kind);
    CHECK(back.info.item_config.ease_regularization == 2.5f);
    CHECK(back.info.item_config.neighbours == 7);
    CHECK(back.info.item_config.similarity == vr::Similarity::Bm25);
    CHECK(back.item_weights == model.item_weights);
    CHECK(back.neighbours.row_offsets == model.neighbours.row_offsets);
    CHECK(back.neighbours.col_indices == model.neighbours.col_indices);
    CHECK(back.neighbours.values == model.neighbours.values);
    CHECK(back.factors.user_factors == model.factors.user_factors);
    CHECK(round_trip(back) == bytes);  // byte-identical again
    CHECK_THAT(vr::describe(back.info), Catch::Contains("model kind:      " + vr::to_string(kind)));
  }
  // A corrupt kind or a block that does not match the kind is refused.
  vr::Model ease = make_model(vr::ModelKind::Ease, ratings);
  ease.info.kind = "als";
  std::istringstream mismatched(round_trip(ease), std::ios::binary);
  CHECK_THROWS_AS(vr::read_model(mismatched, "mismatched.bin"), vr::CorruptFile);
  ease.info.kind = "ease-plus";
  std::istringstream unknown(round_trip(ease), std::ios::binary);
  CHECK_THROWS_WITH(vr::read_model(unknown, "unknown.bin"), Catch::Contains("unknown model kind"));

  // tests/data/als_model_format1.bin was written by format 1 (ALS only, before the kinds).
  const vr::Model old = vr::load_model(vr::test::source_path("tests/data/als_model_format1.bin"));
  CHECK(old.info.kind == "als");
  CHECK(old.factors.item_factors.rows() == old.info.n_videos);
  CHECK(old.item_weights.size() == 0);
  CHECK(old.neighbours.nnz() == 0);
}

TEST_CASE("the Recommender serves EASE and item-knn from the history row") {
  const auto ratings = tiny_ratings();
  for (const auto kind : {vr::ModelKind::Ease, vr::ModelKind::ItemKnn}) {
    INFO(vr::to_string(kind));
    vr::ItemModelConfig config;
    config.ease_regularization = 0.5f;
    const vr::Model model = make_model(kind, ratings, config);
    const vr::Model copy = model;
    const vr::Recommender recommender(std::move(model), tiny_mappings(), tiny_ratings());
    // d watched x only (its dislike of z is no interaction): scores are row x of W.
    vr::RecommendOptions options;
    options.k = 2;
    options.explain = true;
    const auto top = recommender.recommend("d", options);
    REQUIRE(top.size() == 1);  // only y is left
    const auto weight = [&](std::uint32_t from, std::uint32_t to) -> float {
      if (kind == vr::ModelKind::Ease) return copy.item_weights(from, to);
      for (auto k = copy.neighbours.row_offsets[from]; k < copy.neighbours.row_offsets[from + 1]; ++k) {
        if (copy.neighbours.col_indices[k] == to) return copy.neighbours.values[k];
      }
      return 0.0f;
    };
    // x is excluded (watched); z was disliked, which is still "watched" and excluded too.
    CHECK(top[0].video_id == "y");
    CHECK(top[0].score == Approx(weight(0, 1)));
    REQUIRE(top[0].because.size() == 1);
    CHECK(top[0].because[0].video_id == "x");
    CHECK(top[0].because[0].contribution == Approx(top[0].score));
    // Fold-in from a history gives the same scores as the known user with that history.
    options.explain = false;
    options.k = 3;
    const auto folded = recommender.recommend_for_history({"x", "y"}, options);
    const auto known = recommender.recommend("a", options);
    REQUIRE(folded.size() == known.size());
    for (std::size_t i = 0; i < folded.size(); ++i) {
      CHECK(folded[i].video_id == known[i].video_id);
      CHECK(folded[i].score == known[i].score);
    }
    // All users at once equal single queries.
    std::vector<std::vector<vr::Recommendation>> all(4);
    recommender.recommend_all(options, 2, [&](std::uint32_t user, std::vector<vr::Recommendation>&& list) {
      all[user] = std::move(list);
    });
    for (const char* user : {"a", "b", "c", "d"}) {
      const auto single = recommender.recommend(user, options);
      const auto& batch = all[*recommender.mappings().users.find(user)];
      REQUIRE(batch.size() == single.size());
      for (std::size_t i = 0; i < single.size(); ++i) CHECK(batch[i].score == single[i].score);
    }
    // Similar videos: item-knn's neighbours; EASE refuses with a clear message.
    if (kind == vr::ModelKind::ItemKnn) {
      const auto similar = recommender.similar("x", options);
      REQUIRE(similar.size() == 3);
      CHECK(similar[0].video_id == "x");
      CHECK(similar[1].video_id == "y");
      CHECK(similar[1].score == Approx(2.0 / 3));
    } else {
      CHECK_THROWS_AS(recommender.similar("x", options), vr::InvalidInput);
      CHECK_THROWS_WITH(recommender.similar("x", options), Catch::Contains("ease"));
    }
  }
}

TEST_CASE("top_k_for_model ranks every kind, excluding the training videos") {
  vr::GenerateConfig generate;
  generate.users = 200;
  generate.videos = 120;
  generate.events = 5000;
  generate.seed = 5;
  std::stringstream log;
  vr::generate_interactions(log, generate);
  const auto data = vr::aggregate_interactions(log, "generated", vr::FeaturesConfig{});
  const auto ratings = vr::build_sparse_matrix(data.ratings, static_cast<std::uint32_t>(data.users.size()),
                                               static_cast<std::uint32_t>(data.videos.size()));
  for (const auto kind : {vr::ModelKind::Als, vr::ModelKind::Ease, vr::ModelKind::ItemKnn}) {
    INFO(vr::to_string(kind));
    const vr::Model model = make_model(kind, ratings);
    const auto top = vr::top_k_for_model(model, ratings, 5, 2);
    REQUIRE(top.size() == ratings.rows);
    for (std::uint32_t user = 0; user < ratings.rows; ++user) {
      for (const auto& scored : top[user]) {
        const auto begin = ratings.col_indices.begin() + static_cast<std::ptrdiff_t>(ratings.row_offsets[user]);
        const auto end = ratings.col_indices.begin() + static_cast<std::ptrdiff_t>(ratings.row_offsets[user + 1]);
        CHECK(std::find(begin, end, scored.video) == end);
      }
    }
    // Same lists on one thread.
    const auto serial = vr::top_k_for_model(model, ratings, 5, 1);
    for (std::uint32_t user = 0; user < ratings.rows; ++user) {
      REQUIRE(serial[user].size() == top[user].size());
      for (std::size_t i = 0; i < top[user].size(); ++i) CHECK(serial[user][i].video == top[user][i].video);
    }
  }
}

TEST_CASE("vr-train --model ease and item-knn feed vr-recommend unchanged") {
  using vr::test::run_command;
  using vr::test::tool;
  vr::test::TempDir dir;
  std::ostringstream events;
  events << "user_id,video_id,event\n";
  for (int user = 0; user < 40; ++user) {
    for (int video = 0; video < 25; ++video) {
      const bool in_group = user % 5 == video % 5 && (user + video) % 3 != 0;
      if (in_group || (user + video) % 11 == 0) events << "u" << user << ",v" << video << ",watch\n";
    }
  }
  vr::test::write_file(dir.file("events.csv"), events.str());
  for (const std::string kind : {"ease", "item-knn"}) {
    INFO(kind);
    const std::string artifacts = dir.file(kind);
    REQUIRE(run_command({tool("vr-features"), dir.file("events.csv"), "--dir", artifacts}).exit_code == 0);
    // A small lambda suits 40 users (the default 500 is for MovieLens-sized data).
    const auto train = run_command(
        {tool("vr-train"), "--dir", artifacts, "--model", kind, "--ease-regularization", "5", "--quiet"});
    INFO(train.err);
    REQUIRE(train.exit_code == 0);
    // Each kind has its own file name; vr-recommend --dir finds it.
    const std::string model_file = kind == "ease" ? "ease_model.bin" : "item_knn_model.bin";
    CHECK(vr::test::list_dir(artifacts) == std::vector<std::string>{model_file, "mappings.bin", "ratings.csv"});
    CHECK(vr::load_model(artifacts + "/" + model_file).info.kind == kind);
    const auto top = run_command({tool("vr-recommend"), "--dir", artifacts, "--user", "u3", "-k", "3", "--format", "tsv"});
    INFO(top.err);
    REQUIRE(top.exit_code == 0);
    // u3's group is video % 5 == 3; it watched v8, v13 and v23 of it (and v19 by chance), so
    // one of the group's unwatched v3 and v18 is in its top 3.
    CHECK_THAT(top.out, Catch::Contains("v3\t") || Catch::Contains("v18\t"));
    const auto folded = run_command({tool("vr-recommend"), "--dir", artifacts, "--history", "v1,v6", "-k", "2"});
    CHECK(folded.exit_code == 0);
    const auto similar = run_command({tool("vr-recommend"), "--dir", artifacts, "--similar", "v1", "-k", "2"});
    if (kind == "ease") {
      CHECK(similar.exit_code == 1);
      CHECK_THAT(similar.err, Catch::Contains("error:") && Catch::Contains("ease"));
    } else {
      CHECK(similar.exit_code == 0);
      CHECK_THAT(similar.out, Catch::StartsWith("v1"));
    }
  }
  // A folder with two models is ambiguous: readers name both and ask for --model; vr-train
  // warns when it makes one so.
  const auto als = run_command({tool("vr-train"), "--dir", dir.file("ease"), "--quiet"});
  CHECK(als.exit_code == 0);
  CHECK_THAT(als.err, Catch::Contains("warning") && Catch::Contains("more than one model"));
  const auto ambiguous = run_command({tool("vr-recommend"), "--dir", dir.file("ease"), "--user", "u3"});
  CHECK(ambiguous.exit_code == 1);
  CHECK_THAT(ambiguous.err, Catch::Contains("als_model.bin") && Catch::Contains("ease_model.bin") &&
                                Catch::Contains("--model"));
  const auto chosen = run_command({tool("vr-recommend"), "--dir", dir.file("ease"), "--model",
                                   dir.file("ease/ease_model.bin"), "--user", "u3"});
  CHECK(chosen.exit_code == 0);
  // Unknown kinds never reach training: "--model eas" is taken as an output path, so a typo
  // writes a file named eas rather than silently training something else.
  const auto typo = run_command({tool("vr-train"), "--dir", dir.file("ease"), "--model", "eas", "--model", "item-knn",
                                 "--model", "x.bin", "--quiet"});
  CHECK(typo.exit_code != 0);
  CHECK_THAT(typo.err, Catch::Contains("two paths"));
}
