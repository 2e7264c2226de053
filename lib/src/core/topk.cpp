#include "vr/topk.h"

#include <algorithm>
#include <limits>

#include "vr/parallel.h"

namespace vr {

std::vector<ScoredVideo> select_top_k(const float* scores, std::uint32_t n_videos, int k,
                                      const std::vector<std::uint32_t>& excluded) {
  std::vector<ScoredVideo> heap;  // a min-heap by ranks_before: the worst kept video on top
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
    offer_to_top(heap, limit, ScoredVideo{video, scores[video]});
  }
  std::sort(heap.begin(), heap.end(), ranks_before);
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
