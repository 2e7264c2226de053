#include "vr/catalog_evaluation.h"

#include <stdexcept>
#include <utility>

#include "vr/id_map.h"

namespace vr {

EvaluationCatalog bind_evaluation_catalog(std::shared_ptr<const Catalog> catalog,
                                          const std::vector<std::string>& video_ids, double now) {
  EvaluationCatalog bound;
  bound.source = catalog->source;
  bound.now = now;
  const CatalogRules rules(std::move(catalog), IdMap(video_ids));
  bound.unknown_videos = rules.unknown_videos();
  bound.eligible = rules.eligible_at(now);
  return bound;
}

SparseMatrix without_ineligible_videos(const SparseMatrix& ratings, const EligibleVideos& eligible,
                                       std::uint64_t& dropped) {
  if (eligible.size() != ratings.cols) {
    throw std::invalid_argument("the catalog's mask has " + std::to_string(eligible.size()) + " videos, the ratings " +
                                std::to_string(ratings.cols));
  }
  std::vector<Rating> kept;
  kept.reserve(ratings.nnz());
  for (std::uint32_t user = 0; user < ratings.rows; ++user) {
    for (std::uint64_t k = ratings.row_offsets[user]; k < ratings.row_offsets[user + 1]; ++k) {
      const std::uint32_t video = ratings.col_indices[k];
      if (eligible.allows(video)) {
        kept.push_back(Rating{user, video, ratings.values[k]});
      } else {
        ++dropped;
      }
    }
  }
  return build_sparse_matrix(kept, ratings.rows, ratings.cols);
}

}  // namespace vr
