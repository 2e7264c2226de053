// The recommender: a loaded model plus id mappings plus what each user already watched,
// answering top-N, fold-in, similar-videos and explanation queries. Shared by vr-recommend
// and vr-serve. Immutable once built, so one instance serves many threads at once.
// Any model kind: ALS scores x_u . y_i; EASE and item-knn score a user (known or folded in)
// from the history row alone, sum over watched j of W[j][i], and explain a score by those
// terms (because[j] = W[j][i]).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vr/artifacts.h"
#include "vr/mappings.h"
#include "vr/model.h"
#include "vr/ratings.h"
#include "vr/topk.h"
#include "vr/video_panels.h"

namespace vr {

class EligibleVideos;

// "Because you watched ...": one watched video's share of a recommendation's score.
struct Contribution {
  std::string video_id;
  float contribution = 0;  // s_uij = (y_i^T W_u y_j) c_uj; the shares of a score sum to it
};

// One recommended video.
struct Recommendation {
  std::string video_id;
  float score = 0;                     // x_u . y_i (EASE / item-knn: sum of W[j][i]; similar(): similarity)
  std::vector<Contribution> because;   // filled only when explanations were asked for
};

// What to recommend and what to leave out.
struct RecommendOptions {
  int k = 5;                            // how many videos, >= 1 (fewer if the catalog is smaller)
  bool include_watched = false;         // keep videos the user already interacted with
  std::vector<std::string> exclude;     // more video ids to leave out (unknown ids are ignored)
  bool explain = false;                 // fill Recommendation::because
  int explain_top = 3;                  // how many contributions per recommendation, >= 1
  // When set (one flag per model video, vr/eligibility.h; must outlive the call), only the
  // videos it allows: the others (hidden, out of their window, filtered out by category)
  // never appear and do not count toward k, on every path, exactly like `exclude`.
  const EligibleVideos* eligible = nullptr;
};

class AnnIndex;

// How similar() finds an ALS model's neighbours.
enum class Retrieval {
  Exact,  // cosine with every video
  Ann,    // the HNSW index (ann_index.bin); refused if missing or built from another model
  Auto,   // the index when the model directory holds one, else exact
};

// Parses "exact", "ann", "auto"; throws InvalidInput otherwise.
Retrieval parse_retrieval(const std::string& text);

// What Recommender::load reads besides the three artifacts.
struct SimilarRetrieval {
  Retrieval mode = Retrieval::Exact;
  std::string index_path;   // ann_index.bin (for Ann and Auto)
  std::size_t ef = 128;     // the HNSW search's candidate list, >= 1 (raised to k when smaller)
};

class Recommender {
 public:
  // Takes ownership of the three parts; an ALS model's video factors are packed for `scan`
  // (answers are the same either way, see vr/video_panels.h). With `popularity_penalty` beta > 0
  // (vr/popularity_penalty.h), top-k answers (recommend, recommend_for_history, recommend_all,
  // top_videos_for_users) rank and score by score - beta ln(1 + n_i), n_i the video's users in
  // `watched`; similar() is not affected; 0 = off. Throws InvalidInput if their shapes disagree
  // or beta is negative or not finite.
  Recommender(Model model, Mappings mappings, SparseMatrix watched, ScanMode scan = ScanMode::Pruned,
              double popularity_penalty = 0);

  // Loads model, mappings and ratings.csv from `paths`. Throws CorruptFile / IoError /
  // InvalidInput naming the offending file.
  static std::shared_ptr<const Recommender> load(const ArtifactPaths& paths, ScanMode scan = ScanMode::Pruned,
                                                 double popularity_penalty = 0);
  // The same plus the similar-video index `retrieval` asks for (an ALS model only): the model
  // and its index are loaded together or not at all. Throws CorruptFile / IoError naming the
  // index, InvalidInput naming both files when the index was built from another model.
  static std::shared_ptr<const Recommender> load(const ArtifactPaths& paths, ScanMode scan,
                                                 const SimilarRetrieval& retrieval, double popularity_penalty = 0);

  // Top-k for a known user. Throws NotFound("User 'ID' not found") for an unknown one.
  std::vector<Recommendation> recommend(const std::string& user_id, const RecommendOptions& options) const;

  // Fold-in: top-k for a user described only by the videos they watched (weight 1 each, or
  // the given weights), solved exactly against the trained video factors without
  // retraining. Unknown video ids are ignored; if none is known, throws NotFound.
  std::vector<Recommendation> recommend_for_history(const std::vector<std::string>& history,
                                                    const RecommendOptions& options,
                                                    const std::vector<float>& weights = {}) const;

  // The k videos most similar to `video_id` by cosine of item factors (item-knn: its stored
  // neighbours by similarity, itself with score 1), the video itself first unless excluded via
  // options.exclude. With an ANN index (load with SimilarRetrieval) the neighbours come from
  // the HNSW graph, scored by the same cosine; when exclusions leave fewer than k of them the
  // exact scan answers. With options.eligible the graph is searched wider (in proportion to
  // the share of ineligible videos), and a video the mask does not allow is never returned,
  // not even the video itself. Throws NotFound for an unknown video, InvalidInput for an EASE model.
  std::vector<Recommendation> similar(const std::string& video_id, const RecommendOptions& options) const;
  // The similar-video index in use, or null (exact cosine).
  const AnnIndex* ann_index() const { return ann_index_.get(); }

  // Top-k for every user, computed in blocks (one matrix product per block) on `threads`
  // threads. `consume(user_index, recommendations)` is called from one thread at a time,
  // in user-index order, so it can stream to a file. Only users [first_user, end_user) when
  // given (end clamped to the user count): a user's answer never depends on the range.
  void recommend_all(const RecommendOptions& options, int threads,
                     const std::function<void(std::uint32_t user, std::vector<Recommendation>&&)>& consume,
                     std::uint32_t first_user = 0, std::uint32_t end_user = UINT32_MAX) const;

  // The top-k video indices and scores of known users [begin, end) of an ALS model, watched
  // videos left out: for each, exactly what recommend(user, {k}) ranks and scores (the same
  // kernel and tie-breaking, computed as one block product per 64 users). `consume` is called
  // in user order. For tables precomputed ahead of requests. Throws InvalidInput for another
  // model kind, k < 1 or a range past the last user.
  void top_videos_for_users(std::uint32_t begin, std::uint32_t end, int k,
                            const std::function<void(std::uint32_t user, std::vector<ScoredVideo>&&)>& consume) const;

  // How much of the catalog the ALS top-k searches answered so far have scored: recommend(),
  // recommend_for_history() and recommend_all(); similar(), EASE / item-knn models and
  // top_videos_for_users() (the precomputed table's build) are not counted. Thread-safe.
  ScanCounters scan_counters() const;
  ScanMode scan_mode() const { return video_panels_.mode(); }
  // The popularity penalty's beta (0 = off).
  double popularity_penalty() const { return popularity_penalty_beta_; }

  ModelKind kind() const { return kind_; }
  const Model& model() const { return model_; }
  const Mappings& mappings() const { return mappings_; }
  // users x videos: what each user already interacted with (ratings.csv).
  const SparseMatrix& watched() const { return watched_; }

 private:
  // Scores users [begin, end) (one block) and calls `consume` with each one's top k; adds the
  // videos scored to *scored when it is not null.
  void top_videos_in_block(std::uint32_t begin, std::uint32_t end, int k, bool include_watched,
                           const std::vector<std::uint32_t>& always_excluded,
                           const std::function<void(std::uint32_t, std::vector<ScoredVideo>&&)>& consume,
                           std::uint64_t* scored, const EligibleVideos* eligible = nullptr) const;

  Model model_;
  ModelKind kind_ = ModelKind::Als;
  Mappings mappings_;
  SparseMatrix watched_;
  Eigen::MatrixXf item_gram_;          // shared_gram (YtY + lambda I by default), for fold-in and explanations
  std::vector<float> item_norms_;      // |y_i|, for cosine similarity
  VideoPanels video_panels_;           // item factors packed for the scoring kernel
  double popularity_penalty_beta_ = 0;
  std::vector<float> popularity_penalties_;  // per video, subtracted from scores (empty = off)
  std::shared_ptr<const AnnIndex> ann_index_;  // similar videos by HNSW when set
  std::size_t ann_ef_ = 128;
  // scan_counters()' totals, counted apart from the answers (relaxed: they are statistics).
  void count_scan(std::uint64_t queries, std::uint64_t videos_scored) const;
  mutable std::atomic<std::uint64_t> scan_queries_{0};
  mutable std::atomic<std::uint64_t> scan_videos_scored_{0};
};

}  // namespace vr
