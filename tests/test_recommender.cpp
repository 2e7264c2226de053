// The recommender: top-k with exclusions, fold-in, similar videos, explanations, and the
// batched all-users path against single queries.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "vr/errors.h"
#include "vr/generate.h"
#include "vr/interactions.h"
#include "vr/precomputed.h"
#include "vr/recommender.h"

namespace {

// A model trained on generated data with planted tastes. The exact (Cholesky) solver run to
// convergence makes fold-in of a training user reproduce its trained factor.
std::shared_ptr<const vr::Recommender> make_recommender(vr::Solver solver = vr::Solver::Cholesky,
                                                        std::uint32_t videos = 300) {
  vr::GenerateConfig generate;
  generate.users = 400;
  generate.videos = videos;
  generate.events = 12000;
  generate.tastes = 6;
  generate.seed = 11;
  std::stringstream log;
  vr::generate_interactions(log, generate);
  auto data = vr::aggregate_interactions(log, "generated", vr::FeaturesConfig{});
  const auto users = static_cast<std::uint32_t>(data.users.size());
  const auto video_count = static_cast<std::uint32_t>(data.videos.size());
  vr::SparseMatrix ratings = vr::build_sparse_matrix(data.ratings, users, video_count);
  vr::Model model;
  model.info.config.factors = 12;
  model.info.config.iterations = 25;
  model.info.config.solver = solver;
  model.info.config.threads = 2;
  model.info.n_users = users;
  model.info.n_videos = video_count;
  model.info.n_ratings = ratings.nnz();
  model.factors = vr::train_als(ratings, model.info.config);
  vr::Mappings mappings{std::move(data.users), std::move(data.videos)};
  return std::make_shared<const vr::Recommender>(std::move(model), std::move(mappings), std::move(ratings));
}

std::set<std::string> watched_ids(const vr::Recommender& recommender, std::uint32_t user) {
  std::set<std::string> ids;
  const auto& watched = recommender.watched();
  for (auto k = watched.row_offsets[user]; k < watched.row_offsets[user + 1]; ++k) {
    ids.insert(recommender.mappings().videos.id(watched.col_indices[k]));
  }
  return ids;
}

std::vector<std::string> ids_of(const std::vector<vr::Recommendation>& recommendations) {
  std::vector<std::string> ids;
  for (const auto& r : recommendations) ids.push_back(r.video_id);
  return ids;
}

}  // namespace

TEST_CASE("recommend returns the best unwatched videos, best first, scored x_u . y_i") {
  const auto recommender = make_recommender();
  const std::string user_id = recommender->mappings().users.id(7);
  vr::RecommendOptions options;
  options.k = 10;
  const auto top = recommender->recommend(user_id, options);
  REQUIRE(top.size() == 10);
  const auto watched = watched_ids(*recommender, 7);
  REQUIRE_FALSE(watched.empty());
  const auto& factors = recommender->model().factors;
  std::vector<std::pair<float, std::string>> expected;
  for (std::uint32_t video = 0; video < recommender->mappings().videos.size(); ++video) {
    const std::string& id = recommender->mappings().videos.id(video);
    if (watched.count(id)) continue;
    expected.emplace_back(factors.user_factors.row(7).dot(factors.item_factors.row(video)), id);
  }
  std::sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = 0; i < top.size(); ++i) {
    CHECK_FALSE(watched.count(top[i].video_id));
    CHECK(top[i].score == Approx(expected[i].first).margin(1e-5));
    if (i > 0) CHECK(top[i - 1].score >= top[i].score);
  }
  CHECK(top.front().video_id == expected.front().second);
}

TEST_CASE("include_watched, exclude and k beyond the catalog") {
  const auto recommender = make_recommender();
  const std::string user_id = recommender->mappings().users.id(3);
  const auto watched = watched_ids(*recommender, 3);
  const std::size_t catalog = recommender->mappings().videos.size();
  vr::RecommendOptions options;
  options.k = 100000;
  CHECK(recommender->recommend(user_id, options).size() == catalog - watched.size());
  options.include_watched = true;
  const auto everything = recommender->recommend(user_id, options);
  CHECK(everything.size() == catalog);

  options.k = 3;
  const auto top3 = recommender->recommend(user_id, options);
  options.exclude = {top3[0].video_id, "no-such-video"};
  const auto without_best = recommender->recommend(user_id, options);
  CHECK(without_best[0].video_id == top3[1].video_id);
  CHECK(std::none_of(without_best.begin(), without_best.end(),
                     [&](const auto& r) { return r.video_id == top3[0].video_id; }));
  CHECK_THROWS_AS(recommender->recommend("no-such-user", options), vr::NotFound);
  options.k = 0;
  CHECK_THROWS_AS(recommender->recommend(user_id, options), vr::InvalidInput);
}

TEST_CASE("fold-in of a training user's own history reproduces its trained recommendations") {
  const auto recommender = make_recommender();
  vr::RecommendOptions options;
  options.k = 5;
  int same_top3 = 0;
  const int users = 60;
  for (std::uint32_t user = 0; user < static_cast<std::uint32_t>(users); ++user) {
    std::vector<std::string> history;
    std::vector<float> weights;
    const auto& watched = recommender->watched();
    for (auto k = watched.row_offsets[user]; k < watched.row_offsets[user + 1]; ++k) {
      history.push_back(recommender->mappings().videos.id(watched.col_indices[k]));
      weights.push_back(watched.values[k]);
    }
    const auto trained = recommender->recommend(recommender->mappings().users.id(user), options);
    const auto folded = recommender->recommend_for_history(history, options, weights);
    REQUIRE(folded.size() == trained.size());
    // The trained factor was solved against the previous iteration's video factors: close, not equal.
    CHECK(folded[0].score == Approx(trained[0].score).epsilon(0.03));
    same_top3 += std::equal(trained.begin(), trained.begin() + 3, folded.begin(),
                            [](const auto& a, const auto& b) { return a.video_id == b.video_id; });
  }
  INFO(same_top3 << " of " << users << " users have the same top 3");
  CHECK(same_top3 >= users * 9 / 10);

  CHECK_THROWS_AS(recommender->recommend_for_history({"unknown-1", "unknown-2"}, options), vr::NotFound);
  CHECK_THROWS_AS(recommender->recommend_for_history({"a", "b"}, options, {1.0f}), vr::InvalidInput);
}

TEST_CASE("fold-in excludes the history and counts a repeated video once with summed weight") {
  const auto recommender = make_recommender();
  const std::string a = recommender->mappings().videos.id(0);
  const std::string b = recommender->mappings().videos.id(1);
  vr::RecommendOptions options;
  options.k = 8;
  const auto top = recommender->recommend_for_history({a, b}, options);
  CHECK(std::none_of(top.begin(), top.end(), [&](const auto& r) { return r.video_id == a || r.video_id == b; }));
  const auto repeated = recommender->recommend_for_history({a, b, a}, options);
  const auto weighted = recommender->recommend_for_history({a, b}, options, {2.0f, 1.0f});
  REQUIRE(repeated.size() == weighted.size());
  for (std::size_t i = 0; i < repeated.size(); ++i) {
    CHECK(repeated[i].video_id == weighted[i].video_id);
    CHECK(repeated[i].score == weighted[i].score);
  }
}

TEST_CASE("explanations: contributions sum to the score of the exact user solve") {
  const auto recommender = make_recommender(vr::Solver::ConjugateGradient);
  vr::RecommendOptions options;
  options.k = 5;
  options.explain = true;
  options.explain_top = 1000;  // all of them, so they must add up
  for (std::uint32_t user : {0u, 5u, 17u}) {
    const std::string user_id = recommender->mappings().users.id(user);
    const auto explained = recommender->recommend(user_id, options);
    REQUIRE(explained.size() == 5);
    const auto watched = watched_ids(*recommender, user);
    std::vector<std::string> history;
    std::vector<float> weights;
    const auto& matrix = recommender->watched();
    for (auto k = matrix.row_offsets[user]; k < matrix.row_offsets[user + 1]; ++k) {
      history.push_back(recommender->mappings().videos.id(matrix.col_indices[k]));
      weights.push_back(matrix.values[k]);
    }
    // The scores and their order are the model's own, as without --explain (the CG-trained
    // factor, not an exact re-solve, which ranks differently on a barely trained model)...
    vr::RecommendOptions plain = options;
    plain.explain = false;
    const auto scored = recommender->recommend(user_id, plain);
    REQUIRE(scored.size() == explained.size());
    for (std::size_t i = 0; i < explained.size(); ++i) {
      CHECK(explained[i].video_id == scored[i].video_id);
      CHECK(explained[i].score == scored[i].score);
      // ...and the contributions, one per watched video, add up to them.
      CHECK(explained[i].because.size() == watched.size());
      double sum = 0;
      for (const auto& c : explained[i].because) {
        CHECK(watched.count(c.video_id) == 1);
        sum += c.contribution;
      }
      CHECK(sum == Approx(explained[i].score).margin(1e-5 + 1e-4 * std::fabs(explained[i].score)));
      CHECK(std::is_sorted(explained[i].because.begin(), explained[i].because.end(),
                           [](const auto& x, const auto& y) { return x.contribution > y.contribution; }));
    }
  }
  options.explain_top = 2;
  const auto short_list = recommender->recommend(recommender->mappings().users.id(5), options);
  for (const auto& r : short_list) CHECK(r.because.size() <= 2);
}

TEST_CASE("similar videos: itself first, cosine scores, symmetric") {
  const auto recommender = make_recommender();
  const auto& items = recommender->model().factors.item_factors;
  vr::RecommendOptions options;
  options.k = 6;
  const std::string video = recommender->mappings().videos.id(4);
  const auto similar = recommender->similar(video, options);
  REQUIRE(similar.size() == 6);
  CHECK(similar[0].video_id == video);
  CHECK(similar[0].score == Approx(1.0f).margin(1e-5));
  for (std::size_t i = 1; i < similar.size(); ++i) {
    const auto other = *recommender->mappings().videos.find(similar[i].video_id);
    const float cosine = items.row(4).dot(items.row(other)) / (items.row(4).norm() * items.row(other).norm());
    CHECK(similar[i].score == Approx(cosine).margin(1e-5));
    CHECK(similar[i - 1].score >= similar[i].score);
    // Symmetry: the neighbour lists this video with the same similarity.
    vr::RecommendOptions all = options;
    all.k = static_cast<int>(recommender->mappings().videos.size());
    const auto back = recommender->similar(similar[i].video_id, all);
    const auto it = std::find_if(back.begin(), back.end(), [&](const auto& r) { return r.video_id == video; });
    REQUIRE(it != back.end());
    CHECK(it->score == Approx(similar[i].score).margin(1e-5));
  }
  options.exclude = {video};
  const auto without_itself = recommender->similar(video, options);
  CHECK(without_itself.size() == 6);
  CHECK(without_itself[0].video_id == similar[1].video_id);
  CHECK_THROWS_AS(recommender->similar("no-such-video", options), vr::NotFound);
}

TEST_CASE("recommend_all equals recommend for every user, delivered in user order") {
  // 1000 videos: enough panels for the pruned top-k path, plus a partial last panel.
  for (const bool include_watched : {false, true}) {
    const auto recommender = make_recommender(vr::Solver::ConjugateGradient, 1000);
    vr::RecommendOptions options;
    options.k = 7;
    options.include_watched = include_watched;
    options.exclude = {recommender->mappings().videos.id(2)};
    std::uint32_t expected_user = 0;
    std::size_t mismatches = 0;
    recommender->recommend_all(options, 2, [&](std::uint32_t user, std::vector<vr::Recommendation>&& top) {
      CHECK(user == expected_user);
      ++expected_user;
      const auto single = recommender->recommend(recommender->mappings().users.id(user), options);
      if (ids_of(single) != ids_of(top)) ++mismatches;
      for (std::size_t i = 0; i < std::min(single.size(), top.size()); ++i) {
        if (single[i].score != top[i].score) ++mismatches;  // bit for bit
      }
    });
    CHECK(expected_user == recommender->mappings().users.size());
    CHECK(mismatches == 0);
  }
}

TEST_CASE("the constructor rejects parts of different shapes") {
  const auto recommender = make_recommender();
  vr::Mappings fewer_users;
  fewer_users.videos = recommender->mappings().videos;
  CHECK_THROWS_AS(vr::Recommender(recommender->model(), fewer_users, recommender->watched()), vr::InvalidInput);
  vr::SparseMatrix wrong_shape = recommender->watched();
  wrong_shape.cols += 1;
  CHECK_THROWS_AS(vr::Recommender(recommender->model(), recommender->mappings(), wrong_shape), vr::InvalidInput);
}

TEST_CASE("a precomputed table holds, for every user, exactly what recommend() answers") {
  // 40 videos: some users have watched so many that fewer than `depth` are left for them,
  // which the table must store as a short row.
  const auto recommender = make_recommender(vr::Solver::Cholesky, 40);
  constexpr int depth = 30;
  const auto table = vr::PrecomputedRecommendations::compute(*recommender, depth, [] { return true; });
  REQUIRE(table);
  const auto users = static_cast<std::uint32_t>(recommender->mappings().users.size());
  REQUIRE(table->users() == users);
  CHECK(table->depth() == depth);
  CHECK(table->bytes() == vr::PrecomputedRecommendations::bytes_for(users, depth));
  std::size_t short_rows = 0;
  for (std::uint32_t user = 0; user < users; ++user) {
    const auto stored = table->top(user);
    if (stored.size() < static_cast<std::size_t>(depth)) ++short_rows;
    for (const int k : {1, 7, depth}) {
      vr::RecommendOptions options;
      options.k = k;
      const auto expected = recommender->recommend(recommender->mappings().users.id(user), options);
      REQUIRE(expected.size() == std::min<std::size_t>(stored.size(), static_cast<std::size_t>(k)));
      for (std::size_t i = 0; i < expected.size(); ++i) {
        CHECK(recommender->mappings().videos.id(stored[i].video) == expected[i].video_id);
        CHECK(stored[i].score == expected[i].score);  // bit for bit: the same kernel
      }
    }
  }
  CHECK(short_rows > 0);
  CHECK(short_rows < users);
}

TEST_CASE("precomputing stops when asked, and refuses what it cannot do") {
  const auto recommender = make_recommender(vr::Solver::Cholesky, 40);
  int asked = 0;
  CHECK_FALSE(vr::PrecomputedRecommendations::compute(*recommender, 5, [&] { return ++asked < 3; }));
  CHECK(asked == 3);  // asked before each block of 64 users, and stopped at the first "no"
  CHECK_THROWS_AS(vr::PrecomputedRecommendations::compute(*recommender, 0, [] { return true; }), vr::InvalidInput);
  CHECK(vr::PrecomputedRecommendations::bytes_for(1000, 20) == 1000 * (20 * 8 + 4));
}
