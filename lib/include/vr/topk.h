// Batched top-k scoring: blocks of users against all item factors, one matrix product per
// block, then a bounded selection per user. Shared by vr-recommend, vr-evaluate and vr-serve.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "vr/factor_matrix.h"
#include "vr/ratings.h"

namespace vr {

// A video index with its score, as recommended.
struct ScoredVideo {
  std::uint32_t video = 0;
  float score = 0;
};

// Videos to leave out for query row `row`: called once per row, fills `excluded` (indices
// into the item factors, any order, duplicates allowed).
using ExclusionProvider = std::function<void(std::size_t row, std::vector<std::uint32_t>& excluded)>;

// The k best videos of one score vector, best first; ties broken by the lower video index so
// results are reproducible. `excluded` are skipped. k larger than what is left returns all.
std::vector<ScoredVideo> select_top_k(const float* scores, std::uint32_t n_videos, int k,
                                      const std::vector<std::uint32_t>& excluded);

// Top-k for every row of `queries` (user vectors, n x factors) against `item_factors`,
// computed in blocks of `block_rows` with one matrix product each, on `threads` threads.
// `exclusions` may be empty (nothing excluded). Calls `consume(row, top)` for each row,
// possibly from several threads at once, in no particular order.
void top_k_in_blocks(const FactorMatrix& queries, const FactorMatrix& item_factors, int k,
                     const ExclusionProvider& exclusions, int threads,
                     const std::function<void(std::size_t row, std::vector<ScoredVideo>&& top)>& consume,
                     std::size_t block_rows = 256);

// Convenience: top-k for every user of a model, excluding each user's rated videos in
// `watched` (users x videos; pass nullptr to exclude nothing). Result indexed by user.
std::vector<std::vector<ScoredVideo>> top_k_all_users(const FactorMatrix& user_factors,
                                                      const FactorMatrix& item_factors, int k,
                                                      const SparseMatrix* watched, int threads);

}  // namespace vr
