#include "vr/item_models.h"

#include <Eigen/Cholesky>
#include <algorithm>
#include <cmath>

#include "vr/errors.h"
#include "vr/parallel.h"
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

FactorMatrix train_ease(const SparseMatrix& ratings, float regularization, int threads) {
  if (ratings.cols > kEaseMaxVideos) {
    const double gigabytes = 3.0 * 4.0 * static_cast<double>(ratings.cols) * ratings.cols / 1e9;
    throw InvalidInput("EASE keeps dense videos x videos matrices: " + std::to_string(ratings.cols) +
                       " videos would need about " + std::to_string(static_cast<long long>(gigabytes)) +
                       " GB; it is limited to " + std::to_string(kEaseMaxVideos) +
                       " videos (use --model item-knn or als)");
  }
  if (!(regularization > 0) || !std::isfinite(regularization)) {
    throw InvalidInput("EASE regularization must be a finite number > 0");
  }
  const SparseMatrix users = binarised(ratings);
  const SparseMatrix videos = users.transposed();
  const auto n = static_cast<Eigen::Index>(ratings.cols);
  // G = X^T X, row i accumulated from the users of video i: rows are independent, so the
  // result does not depend on the thread count.
  Eigen::MatrixXf gram = Eigen::MatrixXf::Zero(n, n);  // column-major: column i is row i (symmetric)
  parallel_for_blocks(static_cast<std::size_t>(n), 64, resolve_thread_count(threads), [&](std::size_t begin, std::size_t end) {
    for (std::size_t video = begin; video < end; ++video) {
      float* column = gram.col(static_cast<Eigen::Index>(video)).data();
      for (std::uint64_t k = videos.row_offsets[video]; k < videos.row_offsets[video + 1]; ++k) {
        const std::uint32_t user = videos.col_indices[k];
        for (std::uint64_t m = users.row_offsets[user]; m < users.row_offsets[user + 1]; ++m) {
          column[users.col_indices[m]] += 1.0f;
        }
      }
    }
  });
  gram.diagonal().array() += regularization;
  const Eigen::LLT<Eigen::MatrixXf> cholesky(gram);
  if (cholesky.info() != Eigen::Success) {
    throw NumericalError("EASE: X^T X + lambda I is not positive definite; try a larger regularization");
  }
  gram.setIdentity();
  cholesky.solveInPlace(gram);  // gram now holds P
  FactorMatrix weights(n, n);
  for (Eigen::Index j = 0; j < n; ++j) {
    for (Eigen::Index i = 0; i < n; ++i) weights(j, i) = i == j ? 0.0f : -gram(j, i) / gram(i, i);
  }
  check_finite(weights, "EASE weights");
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
      std::sort(candidates.begin(), candidates.end(), [](const ScoredVideo& a, const ScoredVideo& b) {
        return a.score > b.score || (a.score == b.score && a.video < b.video);
      });
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
