#include "vr/ranking_metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "vr/eligibility.h"
#include "vr/errors.h"

namespace vr {

Split split_per_user_random(const SparseMatrix& ratings, double test_ratio, std::uint64_t seed) {
  if (!(test_ratio > 0.0 && test_ratio < 1.0)) throw InvalidInput("test ratio must be between 0 and 1");
  std::vector<Rating> train, test;
  std::vector<std::uint64_t> positions;
  for (std::uint32_t user = 0; user < ratings.rows; ++user) {
    const std::uint64_t begin = ratings.row_offsets[user];
    const std::uint64_t count = ratings.row_size(user);
    positions.resize(count);
    std::iota(positions.begin(), positions.end(), begin);
    // One generator per user, seeded from (seed, user): a user's split does not depend on
    // the users before it. std::mt19937_64 is specified bit for bit by the standard; the
    // Fisher-Yates shuffle below is ours for the same reason.
    std::mt19937_64 generator(seed * 0x9e3779b97f4a7c15ULL + user);
    for (std::uint64_t i = count; i > 1; --i) {
      const std::uint64_t j = generator() % i;
      std::swap(positions[i - 1], positions[j]);
    }
    std::uint64_t test_count = static_cast<std::uint64_t>(std::llround(static_cast<double>(count) * test_ratio));
    if (count >= 1 && test_count >= count) test_count = count - 1;
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::uint64_t k = positions[i];
      (i < test_count ? test : train).push_back(Rating{user, ratings.col_indices[k], ratings.values[k]});
    }
  }
  return Split{build_sparse_matrix(train, ratings.rows, ratings.cols),
               build_sparse_matrix(test, ratings.rows, ratings.cols)};
}

RankingMetrics ranking_metrics(const std::vector<std::vector<ScoredVideo>>& recommended,
                               const SparseMatrix& test, int k) {
  RankingMetrics metrics;
  metrics.k = k;
  std::vector<char> recommended_anywhere(test.cols, 0);
  std::vector<char> is_relevant(test.cols, 0);
  for (std::uint32_t user = 0; user < test.rows && user < recommended.size(); ++user) {
    const std::uint64_t relevant_count = test.row_size(user);
    const auto& list = recommended[user];
    const std::size_t cut = std::min<std::size_t>(list.size(), static_cast<std::size_t>(k));
    for (std::size_t r = 0; r < cut; ++r) {
      if (list[r].video < test.cols) recommended_anywhere[list[r].video] = 1;
    }
    if (relevant_count == 0) continue;
    for (std::uint64_t j = test.row_offsets[user]; j < test.row_offsets[user + 1]; ++j) is_relevant[test.col_indices[j]] = 1;
    double hits = 0, dcg = 0, precision_sum = 0;
    for (std::size_t r = 0; r < cut; ++r) {
      if (list[r].video < test.cols && is_relevant[list[r].video]) {
        hits += 1;
        dcg += 1.0 / std::log2(static_cast<double>(r) + 2.0);
        precision_sum += hits / static_cast<double>(r + 1);
      }
    }
    double ideal = 0;
    const std::uint64_t ideal_hits = std::min<std::uint64_t>(relevant_count, static_cast<std::uint64_t>(k));
    for (std::uint64_t r = 0; r < ideal_hits; ++r) ideal += 1.0 / std::log2(static_cast<double>(r) + 2.0);
    metrics.precision += hits / k;
    metrics.recall += hits / static_cast<double>(relevant_count);
    metrics.ndcg += dcg / ideal;
    metrics.map += precision_sum / static_cast<double>(ideal_hits);
    metrics.hit_rate += hits > 0 ? 1.0 : 0.0;
    ++metrics.users;
    for (std::uint64_t j = test.row_offsets[user]; j < test.row_offsets[user + 1]; ++j) is_relevant[test.col_indices[j]] = 0;
  }
  if (metrics.users > 0) {
    const double n = static_cast<double>(metrics.users);
    metrics.precision /= n;
    metrics.recall /= n;
    metrics.ndcg /= n;
    metrics.map /= n;
    metrics.hit_rate /= n;
  }
  if (test.cols > 0) {
    metrics.coverage = static_cast<double>(std::count(recommended_anywhere.begin(), recommended_anywhere.end(), 1)) /
                       static_cast<double>(test.cols);
  }
  return metrics;
}

std::vector<std::vector<ScoredVideo>> popularity_top_k(const SparseMatrix& train, int k, const EligibleVideos* eligible) {
  const std::vector<std::uint32_t> ineligible = eligible != nullptr ? eligible->ineligible() : std::vector<std::uint32_t>{};
  std::vector<float> popularity(train.cols, 0.0f);
  for (std::uint32_t video : train.col_indices) popularity[video] += 1.0f;
  std::vector<std::vector<ScoredVideo>> result(train.rows);
  std::vector<std::uint32_t> excluded;
  for (std::uint32_t user = 0; user < train.rows; ++user) {
    excluded.assign(train.col_indices.begin() + static_cast<std::ptrdiff_t>(train.row_offsets[user]),
                    train.col_indices.begin() + static_cast<std::ptrdiff_t>(train.row_offsets[user + 1]));
    excluded.insert(excluded.end(), ineligible.begin(), ineligible.end());
    result[user] = select_top_k(popularity.data(), train.cols, k, excluded);
  }
  return result;
}

}  // namespace vr
