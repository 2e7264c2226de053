// Batched top-k scoring: blocks of users against all item factors, one matrix product per
// block, then a bounded selection per user. Shared by vr-recommend, vr-evaluate and vr-serve.
#pragma once

#include <algorithm>
#include <cstddef>
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

// The order of every ranked answer: higher score first, equal scores by the lower video index.
// A strict total order, so selecting and sorting give the same answer on every path, run and
// thread count. An object rather than a function, so that the sorts and heaps it is given to
// inline it.
struct RanksBefore {
  bool operator()(const ScoredVideo& a, const ScoredVideo& b) const {
    return a.score > b.score || (a.score == b.score && a.video < b.video);
  }
};
inline constexpr RanksBefore ranks_before{};

// Offers `candidate` to `heap`, the best videos so far as a min-heap by ranks_before (the worst
// kept on top) of at most `limit`: added while there is room, else it replaces the worst kept
// when it ranks before it.
inline void offer_to_top(std::vector<ScoredVideo>& heap, std::size_t limit, const ScoredVideo& candidate) {
  if (heap.size() < limit) {
    heap.push_back(candidate);
    std::push_heap(heap.begin(), heap.end(), ranks_before);
  } else if (ranks_before(candidate, heap.front())) {
    std::pop_heap(heap.begin(), heap.end(), ranks_before);
    heap.back() = candidate;
    std::push_heap(heap.begin(), heap.end(), ranks_before);
  }
}

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
