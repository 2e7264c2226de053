// Item-based models beside ALS: Steck's EASE (Embarrassingly Shallow Autoencoders, WWW 2019)
// and item k-nearest neighbours (cosine, or the `implicit` library's BM25 weighting). Both see
// only which videos a user interacted with: x_ui = 1 where r_ui > 0, else 0 (weights and
// dislikes are ignored). Both score a user from the history row alone, so a user unseen in
// training needs no fold-in solve:  score_i = sum over watched j of W[j][i].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vr/als.h"
#include "vr/phase_progress.h"
#include "vr/ratings.h"

namespace vr {

// Which model family a model file holds.
enum class ModelKind {
  Als,      // user and video factors (als.h)
  Ease,     // dense videos x videos weights B
  ItemKnn,  // sparse videos x videos neighbour similarities
};

// "als", "ease", "item-knn".
std::string to_string(ModelKind kind);
// Parses the names above; throws InvalidInput otherwise.
ModelKind parse_model_kind(const std::string& text);

// How item-knn measures the similarity of two videos' user vectors.
enum class Similarity {
  Cosine,  // |U_i and U_j| / sqrt(|U_i| |U_j|) over the sets of users of each video
  Bm25,    // dot product of BM25-weighted user vectors (implicit's BM25Recommender)
};

std::string to_string(Similarity similarity);
// Parses "cosine" / "bm25"; throws InvalidInput otherwise.
Similarity parse_similarity(const std::string& text);

// Hyperparameters of EASE and item-knn.
struct ItemModelConfig {
  float ease_regularization = 500.0f;    // EASE's lambda added to the Gram diagonal, > 0
  int neighbours = 50;                   // item-knn: neighbours kept per video, >= 1
  Similarity similarity = Similarity::Cosine;
  float bm25_k1 = 1.2f;                  // BM25 term-frequency saturation, >= 0
  float bm25_b = 0.75f;                  // BM25 length normalisation, in [0, 1]
  int threads = 0;                       // worker threads, 0 = all cores; never changes item-knn's result
                                         // (EASE's last bits may change: see train_ease)
};

// Throws InvalidInput naming the first out-of-range field.
void validate(const ItemModelConfig& config);

// The largest catalog EASE trains. Memory is checked against what the machine has
// (vr/memory_budget.h), but time grows as videos^3 (about 40 CPU minutes at 50,000 videos,
// scaled from 150 s at 20,000) and readers load the videos^2 model in full (10 GB at 50,000), so larger catalogs
// belong to als or item-knn whatever the memory.
inline constexpr std::uint32_t kEaseMaxVideos = 50000;

// EASE's closed form on the binarised users x videos matrix X:
//   P = (X^T X + lambda I)^-1,  B = I - P diag(1 / diag(P))   (so diag(B) = 0)
// returned row-major, videos x videos: B(j, i) is how much having watched j adds to i.
// Training holds that one videos x videos float32 matrix (G, then its Cholesky factor, then
// P, then B, all in place) plus two binarised copies of the ratings; the factorisation and
// inverse run on OpenBLAS (vr/spd_inverse.h): the same thread count gives the same B, but
// another thread count may change its last bits (measured: 1.3e-7 at most at 5,000 videos).
// on_phase hears each finished phase: "EASE Gram matrix", "EASE factorisation",
// "EASE inverse", "EASE weights".
// Throws InvalidInput for more than kEaseMaxVideos videos or lambda <= 0, InsufficientMemory
// (before allocating) when check_ease_memory() refuses the catalog, NumericalError if the
// system cannot be solved.
FactorMatrix train_ease(const SparseMatrix& ratings, float regularization, int threads = 0,
                        const PhaseCallback& on_phase = {});

// Item-knn: for each video j, its `neighbours` most similar other videos (similarity > 0;
// ties to the lower index), as a videos x videos CSR matrix (columns sorted within a row):
// row j holds the similarity of j to each kept neighbour i.
SparseMatrix train_item_knn(const SparseMatrix& ratings, const ItemModelConfig& config);

// Scores of a user who watched `history` (distinct video indices) against every video, into
// `scores` (n_videos values, overwritten): the sum of the history's rows of `weights`.
void score_history(const FactorMatrix& weights, const std::vector<std::uint32_t>& history, float* scores);
void score_history(const SparseMatrix& neighbours, const std::vector<std::uint32_t>& history, float* scores);

// The videos of user `user` with r > 0, in index order.
std::vector<std::uint32_t> positive_history(const SparseMatrix& ratings, std::uint32_t user);

}  // namespace vr
