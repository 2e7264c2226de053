// Pruned exact top-k (norm-ordered panels, Cauchy–Schwarz stop) against the full scan: the
// answers must be the same videos with bit-identical scores, ties and exclusions included.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>

#include "support/test_support.h"
#include "vr/generate.h"
#include "vr/interactions.h"
#include "vr/recommender.h"
#include "vr/model_top_k.h"
#include "vr/training.h"
#include "vr/video_panels.h"

namespace {

// Factors with log-normally spread row norms (as ALS's are), `spread` the log-norm's sigma.
vr::FactorMatrix random_factors(std::size_t rows, std::size_t factors, double spread, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  vr::FactorMatrix matrix(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(factors));
  for (std::size_t row = 0; row < rows; ++row) {
    const float scale = static_cast<float>(std::exp(spread * normal(rng)));
    for (std::size_t k = 0; k < factors; ++k) {
      matrix(static_cast<Eigen::Index>(row), static_cast<Eigen::Index>(k)) = normal(rng) * scale;
    }
  }
  return matrix;
}

// Same videos, same order, bit-identical scores.
void require_identical(const std::vector<vr::ScoredVideo>& full, const std::vector<vr::ScoredVideo>& pruned) {
  REQUIRE(full.size() == pruned.size());
  for (std::size_t i = 0; i < full.size(); ++i) {
    INFO("rank " << i);
    REQUIRE(full[i].video == pruned[i].video);
    REQUIRE(std::memcmp(&full[i].score, &pruned[i].score, sizeof(float)) == 0);
  }
}

// Every user of `users` against `items`: one query at a time and in blocks, both scan modes.
// Returns the share of the catalog the pruned single queries scored.
double check_all_queries(const vr::FactorMatrix& users, const vr::FactorMatrix& items, int k,
                         const std::vector<std::vector<std::uint32_t>>& exclusions = {}) {
  const vr::VideoPanels full(items, vr::ScanMode::Full);
  const vr::VideoPanels pruned(items, vr::ScanMode::Pruned);
  const auto excluded_for = [&](std::size_t user) {
    return exclusions.empty() ? std::vector<std::uint32_t>{} : exclusions[user % exclusions.size()];
  };
  std::uint64_t scored = 0;
  std::vector<std::vector<vr::ScoredVideo>> expected;
  for (Eigen::Index user = 0; user < users.rows(); ++user) {
    INFO("user " << user << ", k " << k);
    const float* factor = users.row(user).data();
    expected.push_back(full.top_k(factor, k, excluded_for(static_cast<std::size_t>(user))));
    require_identical(expected.back(), pruned.top_k(factor, k, excluded_for(static_cast<std::size_t>(user)), &scored));
  }
  for (Eigen::Index begin = 0; begin < users.rows(); begin += 64) {
    const Eigen::Index end = std::min<Eigen::Index>(users.rows(), begin + 64);
    std::vector<const float*> block;
    for (Eigen::Index user = begin; user < end; ++user) block.push_back(users.row(user).data());
    const auto exclusions_of = [&](std::size_t i, std::vector<std::uint32_t>& out) {
      const auto list = excluded_for(static_cast<std::size_t>(begin) + i);
      out.insert(out.end(), list.begin(), list.end());
    };
    for (const auto* panels : {&full, &pruned}) {
      panels->top_k_block(block, k, exclusions_of, [&](std::size_t i, std::vector<vr::ScoredVideo>&& top) {
        INFO("block user " << begin + static_cast<Eigen::Index>(i) << ", scan " << vr::scan_mode_name(panels->mode()));
        require_identical(expected[static_cast<std::size_t>(begin) + i], top);
      });
    }
  }
  return static_cast<double>(scored) / (static_cast<double>(users.rows()) * static_cast<double>(items.rows()));
}

std::vector<vr::ScoredVideo> scored_of(const vr::Recommender& recommender, const std::vector<vr::Recommendation>& list) {
  std::vector<vr::ScoredVideo> result;
  for (const auto& r : list) result.push_back(vr::ScoredVideo{*recommender.mappings().videos.find(r.video_id), r.score});
  return result;
}

// Trains ALS on an interactions CSV and returns recommenders for both scan modes.
std::pair<std::shared_ptr<const vr::Recommender>, std::shared_ptr<const vr::Recommender>> recommenders_for(
    const std::string& interactions_csv, int factors, int iterations) {
  std::istringstream log(interactions_csv);
  auto data = vr::aggregate_interactions(log, "interactions", vr::FeaturesConfig{});
  const auto users = static_cast<std::uint32_t>(data.users.size());
  const auto videos = static_cast<std::uint32_t>(data.videos.size());
  vr::SparseMatrix ratings = vr::build_sparse_matrix(data.ratings, users, videos);
  vr::Model model;
  model.info.config.factors = factors;
  model.info.config.iterations = iterations;
  model.info.config.threads = 2;
  model.info.n_users = users;
  model.info.n_videos = videos;
  model.info.n_ratings = ratings.nnz();
  model.factors = vr::train_als(ratings, model.info.config);
  vr::Mappings mappings{data.users, data.videos};
  auto full = std::make_shared<const vr::Recommender>(model, mappings, ratings, vr::ScanMode::Full);
  auto pruned = std::make_shared<const vr::Recommender>(std::move(model), std::move(mappings), std::move(ratings),
                                                        vr::ScanMode::Pruned);
  return {full, pruned};
}

// Every user (known, folded in from their history, with exclusions and explanations, and all
// at once) answers the same through both recommenders.
void check_recommenders(const vr::Recommender& full, const vr::Recommender& pruned, int k) {
  const auto& users = full.mappings().users;
  const auto& videos = full.mappings().videos;
  std::vector<std::vector<vr::ScoredVideo>> all_full(users.size()), all_pruned(users.size());
  vr::RecommendOptions options;
  options.k = k;
  full.recommend_all(options, 2, [&](std::uint32_t u, std::vector<vr::Recommendation>&& r) { all_full[u] = scored_of(full, r); });
  pruned.recommend_all(options, 2, [&](std::uint32_t u, std::vector<vr::Recommendation>&& r) { all_pruned[u] = scored_of(pruned, r); });
  for (std::uint32_t user = 0; user < users.size(); ++user) {
    INFO("user " << users.id(user));
    require_identical(all_full[user], all_pruned[user]);
    require_identical(all_full[user], scored_of(pruned, pruned.recommend(users.id(user), options)));
  }
  // Fold-in, exclusions of the best videos, include_watched and explanations on a sample.
  for (std::uint32_t user = 0; user < users.size(); user += 7) {
    INFO("user " << users.id(user));
    const auto& watched = full.watched();
    std::vector<std::string> history;
    for (auto i = watched.row_offsets[user]; i < watched.row_offsets[user + 1]; ++i) history.push_back(videos.id(watched.col_indices[i]));
    vr::RecommendOptions variant = options;
    require_identical(scored_of(full, full.recommend_for_history(history, variant)),
                      scored_of(pruned, pruned.recommend_for_history(history, variant)));
    vr::RecommendOptions best_excluded = options;
    best_excluded.k = 3 * k;
    for (const auto& r : full.recommend(users.id(user), best_excluded)) variant.exclude.push_back(r.video_id);
    variant.include_watched = user % 2 == 0;
    variant.explain = user % 3 == 0;
    require_identical(scored_of(full, full.recommend(users.id(user), variant)),
                      scored_of(pruned, pruned.recommend(users.id(user), variant)));
    require_identical(scored_of(full, full.recommend_for_history(history, variant)),
                      scored_of(pruned, pruned.recommend_for_history(history, variant)));
  }
  const vr::ScanCounters counters = pruned.scan_counters();
  CHECK(counters.queries > users.size());
  CHECK(counters.videos_scored <= counters.catalog_videos);
  CHECK(full.scan_counters().share_scanned() == 1.0);
}

}  // namespace

TEST_CASE("pruned top-k equals the full scan on random factors with spread norms") {
  const auto items = random_factors(5000, 32, 0.8, 1);
  const auto users = random_factors(130, 32, 0.3, 2);
  for (const int k : {1, 10, 100}) {
    const double share = check_all_queries(users, items, k);
    // Skewed norms are what pruning feeds on: a small k must not need the whole catalog.
    if (k == 1) CHECK(share < 0.5);
  }
}

TEST_CASE("pruned top-k equals the full scan when every norm is equal, and then scans everything") {
  auto items = random_factors(3000, 16, 0.0, 3);
  items.rowwise().normalize();
  const auto users = random_factors(70, 16, 0.0, 4);
  CHECK(check_all_queries(users, items, 10) == 1.0);
}

TEST_CASE("pruned top-k equals the full scan when every score is negative") {
  vr::FactorMatrix items = random_factors(2000, 8, 1.0, 5).cwiseAbs();
  vr::FactorMatrix users = -random_factors(40, 8, 0.5, 6).cwiseAbs();
  // The k-th best score is negative, below any bound: nothing can be pruned.
  CHECK(check_all_queries(users, items, 5) == 1.0);
}

TEST_CASE("pruned top-k breaks exact ties across panels by the lower video index") {
  // Small integer factors: scores are exact, so many videos tie, in panels far apart.
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> digit(-2, 2);
  vr::FactorMatrix items(4000, 6);
  for (Eigen::Index i = 0; i < items.rows(); ++i) {
    for (Eigen::Index k = 0; k < items.cols(); ++k) items(i, k) = static_cast<float>(digit(rng));
  }
  // Copies of one long vector spread over the catalog: the same norm and score everywhere.
  for (Eigen::Index i = 13; i < items.rows(); i += 97) items.row(i) << 3, 3, 3, 3, 3, 3;
  vr::FactorMatrix users(9, 6);
  for (Eigen::Index u = 0; u < users.rows(); ++u) {
    for (Eigen::Index k = 0; k < users.cols(); ++k) users(u, k) = static_cast<float>(digit(rng));
  }
  users.row(0) << 1, 1, 1, 1, 1, 1;
  for (const int k : {1, 7, 40, 64, 65}) check_all_queries(users, items, k);
}

TEST_CASE("pruned top-k with exclusions covering the best videos, and k beyond what is eligible") {
  const auto items = random_factors(700, 16, 1.0, 8);
  const auto users = random_factors(20, 16, 0.3, 9);
  const vr::VideoPanels full(items, vr::ScanMode::Full);
  std::vector<std::vector<std::uint32_t>> exclusions;
  for (Eigen::Index user = 0; user < users.rows(); ++user) {
    std::vector<std::uint32_t> best;
    for (const auto& scored : full.top_k(users.row(user).data(), 50, {})) best.push_back(scored.video);
    best.push_back(best.front());     // duplicates are allowed
    best.push_back(100000);           // and indices past the catalog ignored
    exclusions.push_back(best);
  }
  check_all_queries(users, items, 10, exclusions);
  // Only 650 eligible videos: all of them come back, in full-scan order.
  check_all_queries(users, items, 1000, exclusions);
  std::vector<std::uint32_t> everything(items.rows());
  for (std::uint32_t i = 0; i < everything.size(); ++i) everything[i] = i;
  check_all_queries(users, items, 5, {everything});
  check_all_queries(users, items, 0);
}

TEST_CASE("a tiny or empty catalog answers the same in both modes") {
  for (const Eigen::Index videos : {0, 1, 5, 63, 64, 65}) {
    INFO(videos << " videos");
    const auto items = random_factors(static_cast<std::size_t>(videos), 4, 1.0, 10);
    const auto users = random_factors(3, 4, 1.0, 11);
    check_all_queries(users, items, 3);
  }
}

TEST_CASE("recommenders scanning in full and pruned answer known, folded-in and excluded users the same") {
  vr::GenerateConfig generate;
  generate.users = 300;
  generate.videos = 2000;
  generate.events = 20000;
  generate.seed = 5;
  std::stringstream log;
  vr::generate_interactions(log, generate);
  const auto [full, pruned] = recommenders_for(log.str(), 16, 6);
  check_recommenders(*full, *pruned, 10);
}

TEST_CASE("MovieLens 100K: pruned answers are the full scan's, byte for byte") {
  const std::string interactions = vr::test::require_movielens_interactions_csv();
  const auto [full, pruned] = recommenders_for(interactions, 32, 8);
  check_recommenders(*full, *pruned, 10);
  // vr-evaluate's ranking (the precomputed table's kernel, blocks of users) in both modes.
  const auto& model = pruned->model();
  vr::ScanCounters counters;
  const auto ranked_pruned = vr::top_k_for_model(model, pruned->watched(), 20, 2, vr::ScanMode::Pruned, &counters);
  REQUIRE(ranked_pruned.size() == pruned->mappings().users.size());
  for (std::uint32_t user = 0; user < ranked_pruned.size(); ++user) {
    vr::RecommendOptions options;
    options.k = 20;
    INFO("user " << user);
    require_identical(scored_of(*full, full->recommend(full->mappings().users.id(user), options)), ranked_pruned[user]);
  }
  CHECK(counters.share_scanned() < 1.0);
  // vr-evaluate's ranking before pruning (Eigen block products): the same videos and scores.
  const auto ranked_full = vr::top_k_for_model(model, pruned->watched(), 20, 2, vr::ScanMode::Full);
  for (std::uint32_t user = 0; user < ranked_pruned.size(); ++user) {
    INFO("user " << user);
    require_identical(ranked_full[user], ranked_pruned[user]);
  }
}
