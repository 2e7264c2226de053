#include "vr/item_models.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "vr/errors.h"
#include "vr/memory_budget.h"
#include "vr/parallel.h"
#include "vr/spd_inverse.h"
#include "vr/topk.h"

namespace vr {
namespace {

// The binarised matrix: one entry of 1 per (user, video) with r > 0.
SparseMatrix binarised(const SparseMatrix& ratings) {
  SparseMatrix result;
  result.rows = ratings.rows;
  result.cols = ratings.cols;
  result.row_offsets.assign(static_cast<std::size_t>(ratings.rows) + 1, 0);
  for (std::uint32_t row = 0; row < ratings.rows; ++row) {
    for (std::uint64_t k = ratings.row_offsets[row]; k < ratings.row_offsets[row + 1]; ++k) {
      if (ratings.values[k] > 0) {
        result.col_indices.push_back(ratings.col_indices[k]);
        result.values.push_back(1.0f);
      }
    }
    result.row_offsets[row + 1] = result.col_indices.size();
  }
  return result;
}

}  // namespace

std::string to_string(ModelKind kind) {
  switch (kind) {
    case ModelKind::Ease: return "ease";
    case ModelKind::ItemKnn: return "item-knn";
    case ModelKind::Als: break;
  }
  return "als";
}

ModelKind parse_model_kind(const std::string& text) {
  if (text == "als") return ModelKind::Als;
  if (text == "ease") return ModelKind::Ease;
  if (text == "item-knn") return ModelKind::ItemKnn;
  throw InvalidInput("unknown model kind '" + text + "' (expected als, ease or item-knn)");
}

std::string to_string(Similarity similarity) { return similarity == Similarity::Bm25 ? "bm25" : "cosine"; }

Similarity parse_similarity(const std::string& text) {
  if (text == "cosine") return Similarity::Cosine;
  if (text == "bm25") return Similarity::Bm25;
  throw InvalidInput("unknown similarity '" + text + "' (expected cosine or bm25)");
}

void validate(const ItemModelConfig& config) {
  if (!(config.ease_regularization > 0) || !std::isfinite(config.ease_regularization)) {
    throw InvalidInput("EASE regularization must be a finite number > 0");
  }
  if (config.neighbours < 1) throw InvalidInput("neighbours must be >= 1");
  if (!(config.bm25_k1 >= 0) || !std::isfinite(config.bm25_k1)) throw InvalidInput("bm25 k1 must be >= 0");
  if (!(config.bm25_b >= 0 && config.bm25_b <= 1)) throw InvalidInput("bm25 b must be between 0 and 1");
  if (config.threads < 0) throw InvalidInput("threads must be >= 0");
}

std::vector<std::uint32_t> positive_history(const SparseMatrix& ratings, std::uint32_t user) {
  std::vector<std::uint32_t> history;
  for (std::uint64_t k = ratings.row_offsets[user]; k < ratings.row_offsets[user + 1]; ++k) {
    if (ratings.values[k] > 0) history.push_back(ratings.col_indices[k]);
  }
  return history;
}

FactorMatrix train_ease(const SparseMatrix& ratings, float regularization, int threads, const PhaseCallback& on_phase) {
  if (ratings.cols > kEaseMaxVideos) {
    const double gigabytes = static_cast<double>(ease_training_bytes(ratings.cols, ratings.rows, ratings.nnz())) / 1e9;
    throw InvalidInput("EASE keeps a dense videos x videos matrix: it is limited to " + std::to_string(kEaseMaxVideos) +
                       " videos, and these " + std::to_string(ratings.cols) + " would need about " +
                       std::to_string(static_cast<long long>(gigabytes)) + " GB (use --model item-knn or als)");
  }
  if (!(regularization > 0) || !std::isfinite(regularization)) {
    throw InvalidInput("EASE regularization must be a finite number > 0");
  }
  check_ease_memory(ratings.cols, ratings.rows, ratings.nnz(), available_memory_bytes());
  const int workers = resolve_thread_count(threads);
  const auto start = std::chrono::steady_clock::now();
  auto phase_start = start;
  const auto finished = [&](const char* name) {
    const auto now = std::chrono::steady_clock::now();
    if (on_phase) {
      on_phase(PhaseReport{name, std::chrono::duration<double>(now - phase_start).count(),
                           std::chrono::duration<double>(now - start).count()});
    }
    phase_start = now;
  };
  const std::uint32_t n = ratings.cols;
  // One n x n buffer holds G, then its Cholesky factor, then P, then B: the result is
  // allocated first and everything happens in it.
  FactorMatrix weights = FactorMatrix::Zero(n, n);
  {
    const SparseMatrix users = binarised(ratings);
    const SparseMatrix videos = users.transposed();
    // G = X^T X, row i accumulated from the users of video i: rows are independent, so G does
    // not depend on the thread count.
    parallel_for_blocks(n, 64, workers, [&](std::size_t begin, std::size_t end) {
      for (std::size_t video = begin; video < end; ++video) {
        float* row = weights.row(static_cast<Eigen::Index>(video)).data();
        for (std::uint64_t k = videos.row_offsets[video]; k < videos.row_offsets[video + 1]; ++k) {
          const std::uint32_t user = videos.col_indices[k];
          for (std::uint64_t m = users.row_offsets[user]; m < users.row_offsets[user + 1]; ++m) {
            row[users.col_indices[m]] += 1.0f;
          }
        }
      }
    });
  }
  weights.diagonal().array() += regularization;
  finished("EASE Gram matrix");
  try {
    cholesky_in_place(weights.data(), n, workers);
    finished("EASE factorisation");
    inverse_from_cholesky_in_place(weights.data(), n, workers);
  } catch (const NumericalError& error) {
    throw NumericalError(std::string("EASE: X^T X + lambda I: ") + error.what() + "; try a larger regularization");
  }
  finished("EASE inverse");
  // P's upper triangle -> B in place: B(j, i) = -P(j, i) / P(i, i), B(i, j) = -P(j, i) / P(j, j)
  // for j < i, read from the upper triangle only (the lower one still holds G). Square tiles
  // keep both the row-wise and the column-wise writes in cache; each tile pair is one task.
  std::vector<float> diagonal(n);
  for (std::uint32_t i = 0; i < n; ++i) diagonal[i] = weights(i, i);
  constexpr std::uint32_t kTile = 64;
  const std::uint32_t tiles = (n + kTile - 1) / kTile;
  parallel_for_blocks(tiles, 1, workers, [&](std::size_t tile_row, std::size_t) {
    const std::uint32_t row_begin = static_cast<std::uint32_t>(tile_row) * kTile;
    const std::uint32_t row_end = std::min(n, row_begin + kTile);
    for (std::uint32_t col_begin = row_begin; col_begin < n; col_begin += kTile) {
      const std::uint32_t col_end = std::min(n, col_begin + kTile);
      for (std::uint32_t j = row_begin; j < row_end; ++j) {
        for (std::uint32_t i = std::max(col_begin, j + 1); i < col_end; ++i) {
          const float p = weights(j, i);
          weights(j, i) = -p / diagonal[i];
          weights(i, j) = -p / diagonal[j];
        }
      }
    }
  });
  weights.diagonal().setZero();
  check_finite(weights, "EASE weights");
  finished("EASE weights");
  return weights;
}

SparseMatrix train_item_knn(const SparseMatrix& ratings, const ItemModelConfig& config) {
  validate(config);
  const SparseMatrix users = binarised(ratings);
  const SparseMatrix videos = users.transposed();
  const std::uint32_t n = ratings.cols;

  // Per-entry weights w(video, user) of the videos x users matrix.
  std::vector<float> weight(videos.nnz(), 1.0f);
  std::vector<float> user_weight_of_entry;  // the same weights, aligned with users' entries
  if (config.similarity == Similarity::Cosine) {
    for (std::uint32_t video = 0; video < n; ++video) {
      const float norm = std::sqrt(static_cast<float>(videos.row_size(video)));
      for (std::uint64_t k = videos.row_offsets[video]; k < videos.row_offsets[video + 1]; ++k) weight[k] = 1.0f / norm;
    }
  } else {
    // implicit's bm25_weight on the videos x users matrix: videos are the documents, users
    // the terms. idf(u) = log(n_videos) - log1p(videos of u); length = videos' user counts.
    double total_length = 0;
    for (std::uint32_t video = 0; video < n; ++video) total_length += static_cast<double>(videos.row_size(video));
    const double average_length = n > 0 ? total_length / n : 1.0;
    for (std::uint32_t video = 0; video < n; ++video) {
      const double length_norm =
          (1.0 - config.bm25_b) + config.bm25_b * static_cast<double>(videos.row_size(video)) / average_length;
      for (std::uint64_t k = videos.row_offsets[video]; k < videos.row_offsets[video + 1]; ++k) {
        const std::uint32_t user = videos.col_indices[k];
        const double idf = std::log(static_cast<double>(n)) - std::log1p(static_cast<double>(users.row_size(user)));
        weight[k] = static_cast<float>((config.bm25_k1 + 1.0) / (config.bm25_k1 * length_norm + 1.0) * idf);
      }
    }
  }
  // The same weights indexed by the users' entries: entry (user, video) of `users`.
  user_weight_of_entry.assign(users.nnz(), 0.0f);
  {
    std::vector<std::uint64_t> cursor(users.row_offsets.begin(), users.row_offsets.end() - 1);
    for (std::uint32_t video = 0; video < n; ++video) {
      for (std::uint64_t k = videos.row_offsets[video]; k < videos.row_offsets[video + 1]; ++k) {
        user_weight_of_entry[cursor[videos.col_indices[k]]++] = weight[k];
      }
    }
  }

  // Row j: sim(j, i) = sum over users u of w(j, u) w(i, u), top `neighbours` kept.
  std::vector<std::vector<ScoredVideo>> rows(n);
  parallel_for_blocks(n, 32, resolve_thread_count(config.threads), [&](std::size_t begin, std::size_t end) {
    std::vector<float> accumulator(n, 0.0f);
    std::vector<std::uint8_t> seen(n, 0);
    std::vector<std::uint32_t> touched;
    for (std::size_t video = begin; video < end; ++video) {
      touched.clear();
      for (std::uint64_t k = videos.row_offsets[video]; k < videos.row_offsets[video + 1]; ++k) {
        const std::uint32_t user = videos.col_indices[k];
        for (std::uint64_t m = users.row_offsets[user]; m < users.row_offsets[user + 1]; ++m) {
          const std::uint32_t other = users.col_indices[m];
          if (!seen[other]) {
            seen[other] = 1;
            touched.push_back(other);
          }
          accumulator[other] += weight[k] * user_weight_of_entry[m];
        }
      }
      std::vector<ScoredVideo> candidates;
      candidates.reserve(touched.size());
      for (const std::uint32_t other : touched) {
        if (other != video && accumulator[other] > 0) candidates.push_back(ScoredVideo{other, accumulator[other]});
        accumulator[other] = 0.0f;
        seen[other] = 0;
      }
      std::sort(candidates.begin(), candidates.end(), ranks_before);
      if (candidates.size() > static_cast<std::size_t>(config.neighbours)) {
        candidates.resize(static_cast<std::size_t>(config.neighbours));
      }
      std::sort(candidates.begin(), candidates.end(),
                [](const ScoredVideo& a, const ScoredVideo& b) { return a.video < b.video; });
      rows[video] = std::move(candidates);
    }
  });
  SparseMatrix neighbours;
  neighbours.rows = n;
  neighbours.cols = n;
  neighbours.row_offsets.assign(static_cast<std::size_t>(n) + 1, 0);
  for (std::uint32_t video = 0; video < n; ++video) {
    for (const auto& scored : rows[video]) {
      neighbours.col_indices.push_back(scored.video);
      neighbours.values.push_back(scored.score);
    }
    neighbours.row_offsets[video + 1] = neighbours.col_indices.size();
  }
  return neighbours;
}

void score_history(const FactorMatrix& weights, const std::vector<std::uint32_t>& history, float* scores) {
  const auto n = static_cast<std::size_t>(weights.cols());
  std::fill(scores, scores + n, 0.0f);
  for (const std::uint32_t watched : history) {
    const float* row = weights.row(watched).data();
    for (std::size_t i = 0; i < n; ++i) scores[i] += row[i];
  }
}

void score_history(const SparseMatrix& neighbours, const std::vector<std::uint32_t>& history, float* scores) {
  std::fill(scores, scores + neighbours.cols, 0.0f);
  for (const std::uint32_t watched : history) {
    for (std::uint64_t k = neighbours.row_offsets[watched]; k < neighbours.row_offsets[watched + 1]; ++k) {
      scores[neighbours.col_indices[k]] += neighbours.values[k];
    }
  }
}

}  // namespace vr
