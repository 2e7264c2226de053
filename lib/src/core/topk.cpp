#include "vr/topk.h"

#include <algorithm>
#include <limits>

#include "vr/parallel.h"

namespace vr {
namespace {

// Orders by score descending, then video ascending: a strict total order, so selection and
// sorting give the same answer on every run and thread count.
inline bool better(const ScoredVideo& a, const ScoredVideo& b) {
  return a.score > b.score || (a.score == b.score && a.video < b.video);
}

}  // namespace

std::vector<ScoredVideo> select_top_k(const float* scores, std::uint32_t n_videos, int k,
                                      const std::vector<std::uint32_t>& excluded) {
  std::vector<ScoredVideo> heap;  // a min-heap by `better`: the worst kept video on top
  if (k <= 0 || n_videos == 0) return heap;
  const std::size_t limit = std::min<std::size_t>(static_cast<std::size_t>(k), n_videos);
  heap.reserve(limit + 1);
  // Excluded videos are few compared to the catalog: a sorted list and a moving cursor
  // skips them without a per-video hash look-up.
  std::vector<std::uint32_t> skip(excluded);
  std::sort(skip.begin(), skip.end());
  std::size_t skip_cursor = 0;
  for (std::uint32_t video = 0; video < n_videos; ++video) {
    while (skip_cursor < skip.size() && skip[skip_cursor] < video) ++skip_cursor;
    if (skip_cursor < skip.size() && skip[skip_cursor] == video) continue;
    const ScoredVideo candidate{video, scores[video]};
    if (heap.size() < limit) {
      heap.push_back(candidate);
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (better(candidate, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = candidate;
      std::push_heap(heap.begin(), heap.end(), better);
    }
  }
  std::sort(heap.begin(), heap.end(), better);
  return heap;
}

void top_k_in_blocks(const FactorMatrix& queries, const FactorMatrix& item_factors, int k,
                     const ExclusionProvider& exclusions, int threads,
                     const std::function<void(std::size_t, std::vector<ScoredVideo>&&)>& consume,
                     std::size_t block_rows) {
  const auto n_videos = static_cast<std::uint32_t>(item_factors.rows());
  parallel_for_blocks(static_cast<std::size_t>(queries.rows()), block_rows, threads,
                      [&](std::size_t begin, std::size_t end) {
    // scores is row-major: row r holds query r's score for every video, contiguous.
    FactorMatrix scores(static_cast<Eigen::Index>(end - begin), item_factors.rows());
    scores.noalias() = queries.middleRows(static_cast<Eigen::Index>(begin),
                                          static_cast<Eigen::Index>(end - begin)) *
                       item_factors.transpose();
    std::vector<std::uint32_t> excluded;
    for (std::size_t row = begin; row < end; ++row) {
      excluded.clear();
      if (exclusions) exclusions(row, excluded);
      consume(row, select_top_k(scores.row(static_cast<Eigen::Index>(row - begin)).data(), n_videos,
                                k, excluded));
    }
  });
}

std::vector<std::vector<ScoredVideo>> top_k_all_users(const FactorMatrix& user_factors,
                                                      const FactorMatrix& item_factors, int k,
                                                      const SparseMatrix* watched, int threads) {
  std::vector<std::vector<ScoredVideo>> result(static_cast<std::size_t>(user_factors.rows()));
  ExclusionProvider exclusions;
  if (watched != nullptr) {
    exclusions = [watched](std::size_t row, std::vector<std::uint32_t>& excluded) {
      if (row >= watched->rows) return;
      excluded.assign(watched->col_indices.begin() + static_cast<std::ptrdiff_t>(watched->row_offsets[row]),
                      watched->col_indices.begin() + static_cast<std::ptrdiff_t>(watched->row_offsets[row + 1]));
    };
  }
  top_k_in_blocks(user_factors, item_factors, k, exclusions, threads,
                  [&](std::size_t row, std::vector<ScoredVideo>&& top) { result[row] = std::move(top); });
  return result;
}

}  // namespace vr
