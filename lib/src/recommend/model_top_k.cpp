#include "vr/model_top_k.h"

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>

#include "vr/eligibility.h"
#include "vr/errors.h"
#include "vr/item_models.h"
#include "vr/parallel.h"

namespace vr {

std::vector<std::vector<ScoredVideo>> top_k_all_users_eligible(const FactorMatrix& user_factors,
                                                               const FactorMatrix& item_factors, int k,
                                                               const SparseMatrix& watched, int threads,
                                                               const EligibleVideos* eligible) {
  if (eligible == nullptr) return top_k_all_users(user_factors, item_factors, k, &watched, threads);
  const std::vector<std::uint32_t> ineligible = eligible->ineligible();
  std::vector<std::vector<ScoredVideo>> result(static_cast<std::size_t>(user_factors.rows()));
  top_k_in_blocks(
      user_factors, item_factors, k,
      [&](std::size_t row, std::vector<std::uint32_t>& excluded) {
        excluded = ineligible;
        if (row >= watched.rows) return;
        excluded.insert(excluded.end(),
                        watched.col_indices.begin() + static_cast<std::ptrdiff_t>(watched.row_offsets[row]),
                        watched.col_indices.begin() + static_cast<std::ptrdiff_t>(watched.row_offsets[row + 1]));
      },
      threads, [&](std::size_t row, std::vector<ScoredVideo>&& top) { result[row] = std::move(top); });
  return result;
}

std::vector<std::vector<ScoredVideo>> top_k_for_model(const Model& model, const SparseMatrix& watched, int k,
                                                      int threads, ScanMode scan, ScanCounters* counters,
                                                      const EligibleVideos* eligible, const std::vector<float>* penalties) {
  const ModelKind kind = model.kind();
  const bool penalised = penalties != nullptr && !penalties->empty();
  if (penalised && penalties->size() != model.info.n_videos) {
    throw InvalidInput("popularity penalties for " + std::to_string(penalties->size()) + " videos, the model has " +
                       std::to_string(model.info.n_videos));
  }
  if (kind == ModelKind::Als && scan == ScanMode::Full && !penalised) {
    if (counters != nullptr) {
      const auto users = static_cast<std::uint64_t>(model.factors.user_factors.rows());
      const auto videos = static_cast<std::uint64_t>(model.factors.item_factors.rows());
      counters->queries += users;
      counters->videos_scored += users * videos;
      counters->catalog_videos += users * videos;
    }
    return top_k_all_users_eligible(model.factors.user_factors, model.factors.item_factors, k, watched, threads,
                                    eligible);
  }
  if (kind == ModelKind::Als) {
    const FactorMatrix& users = model.factors.user_factors;
    const VideoPanels panels(model.factors.item_factors, scan, penalised ? *penalties : std::vector<float>{});
    std::vector<std::vector<ScoredVideo>> result(static_cast<std::size_t>(users.rows()));
    std::atomic<std::uint64_t> scored{0};
    parallel_for_blocks(result.size(), 64, resolve_thread_count(threads), [&](std::size_t begin, std::size_t end) {
      std::vector<const float*> block;
      for (std::size_t user = begin; user < end; ++user) block.push_back(users.row(static_cast<Eigen::Index>(user)).data());
      std::uint64_t block_scored = 0;
      panels.top_k_block(
          block, k,
          [&](std::size_t i, std::vector<std::uint32_t>& excluded) {
            const std::size_t row = begin + i;
            if (row >= watched.rows) return;
            excluded.assign(watched.col_indices.begin() + static_cast<std::ptrdiff_t>(watched.row_offsets[row]),
                            watched.col_indices.begin() + static_cast<std::ptrdiff_t>(watched.row_offsets[row + 1]));
          },
          [&](std::size_t i, std::vector<ScoredVideo>&& top) { result[begin + i] = std::move(top); }, &block_scored,
          eligible);
      scored.fetch_add(block_scored, std::memory_order_relaxed);
    });
    if (counters != nullptr) {
      counters->queries += result.size();
      counters->videos_scored += scored.load();
      counters->catalog_videos += result.size() * panels.videos();
    }
    return result;
  }
  const std::vector<std::uint32_t> ineligible = eligible != nullptr ? eligible->ineligible() : std::vector<std::uint32_t>{};
  std::vector<std::vector<ScoredVideo>> result(watched.rows);
  parallel_for_blocks(watched.rows, 16, resolve_thread_count(threads), [&](std::size_t begin, std::size_t end) {
    std::vector<float> scores(model.info.n_videos);
    std::vector<std::uint32_t> excluded;
    for (std::size_t user = begin; user < end; ++user) {
      const auto row = static_cast<std::uint32_t>(user);
      const std::vector<std::uint32_t> history = positive_history(watched, row);
      if (kind == ModelKind::Ease) {
        score_history(model.item_weights, history, scores.data());
      } else {
        score_history(model.neighbours, history, scores.data());
      }
      excluded.assign(watched.col_indices.begin() + static_cast<std::ptrdiff_t>(watched.row_offsets[row]),
                      watched.col_indices.begin() + static_cast<std::ptrdiff_t>(watched.row_offsets[row + 1]));
      excluded.insert(excluded.end(), ineligible.begin(), ineligible.end());
      if (penalised) {
        for (std::size_t video = 0; video < scores.size(); ++video) scores[video] -= (*penalties)[video];
      }
      result[user] = select_top_k(scores.data(), model.info.n_videos, k, excluded);
    }
  });
  return result;
}

}  // namespace vr
