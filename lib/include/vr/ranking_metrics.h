// Ranking metrics for offline evaluation (precision, recall, nDCG, MAP, hit rate, coverage at k),
// with the train/test split and the most-popular baseline they are computed on. Defined as in
// docs/vr-evaluate.md and as Microsoft Recommenders computes them (binary relevance), so
// figures compare with published tables.
#pragma once

#include <cstdint>
#include <vector>

#include "vr/ratings.h"
#include "vr/topk.h"

namespace vr {

class EligibleVideos;

// A train/test split of one ratings matrix (both keep the full users x videos shape).
struct Split {
  SparseMatrix train;
  SparseMatrix test;
};

// Per user, a seeded random `test_ratio` of the user's ratings (rounded to nearest) goes to
// test, keeping at least one in train. Deterministic for a given seed.
Split split_per_user_random(const SparseMatrix& ratings, double test_ratio, std::uint64_t seed);

// Ranking quality at a cut-off k, averaged over users that have at least one test video.
struct RankingMetrics {
  int k = 10;
  double precision = 0;   // hits in the top k / k
  double recall = 0;      // hits in the top k / the user's test videos
  double ndcg = 0;        // binary-relevance DCG@k / ideal DCG@k
  double map = 0;         // average precision@k: sum of precision at each hit / min(k, test videos)
  double hit_rate = 0;    // share of users with at least one hit
  double coverage = 0;    // distinct videos recommended to anyone / catalog size
  std::uint64_t users = 0;  // users evaluated
};

// Metrics of `recommended` (per user, best first; only the first k are used) against `test`.
RankingMetrics ranking_metrics(const std::vector<std::vector<ScoredVideo>>& recommended,
                               const SparseMatrix& test, int k);

// The most-popular baseline: videos ranked by the number of users who rated them in `train`,
// each user's own training videos excluded, and with `eligible` (vr/eligibility.h) every video
// it does not allow. Result indexed by user.
std::vector<std::vector<ScoredVideo>> popularity_top_k(const SparseMatrix& train, int k,
                                                       const EligibleVideos* eligible = nullptr);

}  // namespace vr
