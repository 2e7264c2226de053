#include "vr/recommender.h"

#include <algorithm>
#include <iterator>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>

#include "vr/als.h"
#include "vr/ann_index.h"
#include "vr/atomic_file.h"
#include "vr/eligibility.h"
#include "vr/errors.h"
#include "vr/parallel.h"
#include "vr/popularity_penalty.h"

namespace vr {
namespace {

// Users scored per work block in recommend_all: the block's scores (users x videos) are
// computed panel by panel, so each 16 KB panel is reused from L1 by every user of the block.
constexpr std::size_t kUsersPerBlock = 64;

// implicit's convention for cosine similarity: a zero norm counts as this tiny positive one,
// so a zero factor is similar to nothing instead of dividing by zero.
constexpr float kZeroNormReplacement = 1e-10f;

using Entries = std::vector<std::pair<std::uint32_t, float>>;

// The (video, confidence) entries of one user's watched row, as the trainer saw them.
Entries watched_entries(const SparseMatrix& watched, std::uint32_t user, const TrainConfig& config) {
  Entries entries;
  entries.reserve(watched.row_size(user));
  for (std::uint64_t k = watched.row_offsets[user]; k < watched.row_offsets[user + 1]; ++k) {
    entries.emplace_back(watched.col_indices[k], confidence_of(watched.values[k], config));
  }
  return entries;
}

// Delivers per-user results to `consume` in user order, whichever thread finished them: a
// result waits in `pending` until every user before it has been delivered. Work is handed out
// in index order, so at most a few blocks per thread wait at once.
class OrderedDelivery {
 public:
  using Consumer = std::function<void(std::uint32_t, std::vector<Recommendation>&&)>;
  OrderedDelivery(const Consumer& consume, std::uint32_t first_user) : consume_(consume), next_user_(first_user) {}

  void deliver(std::uint32_t user, std::vector<Recommendation>&& recommendations) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (user != next_user_) {
      pending_.emplace(user, std::move(recommendations));
      return;
    }
    consume_(next_user_++, std::move(recommendations));
    for (auto it = pending_.begin(); it != pending_.end() && it->first == next_user_; it = pending_.erase(it)) {
      consume_(next_user_++, std::move(it->second));
    }
  }

 private:
  const Consumer& consume_;
  std::mutex mutex_;
  std::uint32_t next_user_;
  std::map<std::uint32_t, std::vector<Recommendation>> pending_;
};

// Videos to leave out: the history (unless include_watched) and options.exclude.
std::vector<std::uint32_t> excluded_videos(const Mappings& mappings, const Entries& history,
                                           const RecommendOptions& options) {
  std::vector<std::uint32_t> excluded;
  if (!options.include_watched) {
    for (const auto& entry : history) excluded.push_back(entry.first);
  }
  for (const auto& id : options.exclude) {
    if (const auto index = mappings.videos.find(id)) excluded.push_back(*index);
  }
  return excluded;
}

std::vector<Recommendation> to_recommendations(const Mappings& mappings, const std::vector<ScoredVideo>& top) {
  std::vector<Recommendation> result;
  result.reserve(top.size());
  for (const auto& scored : top) result.push_back(Recommendation{mappings.videos.id(scored.video), scored.score, {}});
  return result;
}

// Top-k for a user given by their history. `trained_factor` (may be null) scores as is;
// without it the user is solved exactly (fold-in).
std::vector<Recommendation> recommend_from_history(const Model& model, const Mappings& mappings,
                                                   const Eigen::MatrixXf& item_gram,
                                                   const VideoPanels& video_panels, const Entries& history,
                                                   const RecommendOptions& options,
                                                   const Eigen::VectorXf* trained_factor, std::uint64_t* scored) {
  if (options.k < 1) throw InvalidInput("k must be >= 1");
  if (options.explain && options.explain_top < 1) throw InvalidInput("explain_top must be >= 1");
  const FactorMatrix& items = model.factors.item_factors;
  std::vector<std::uint32_t> excluded = excluded_videos(mappings, history, options);
  // The trainer's system for this row (iALS's weights when the model was trained with them).
  const RowTerms terms =
      row_terms(system_weights(model.info.config), history.size(), static_cast<std::uint64_t>(items.rows()));
  const Eigen::VectorXf user_factor =
      trained_factor != nullptr ? *trained_factor : solve_row_exact(item_gram, items, history, terms);

  auto recommendations = to_recommendations(
      mappings, video_panels.top_k(user_factor.data(), options.k, std::move(excluded), scored, options.eligible));
  if (!options.explain) return recommendations;

  // Hu et al. section 5 (implicit's explain): with W_u = A_u^-1 and b_u = sum c_uj y_j over
  // the liked videos, the exact solve x* = W_u b_u scores y_i . x* = sum_j c_uj (y_i^T W_u y_j).
  // The model's own factor x_u is the trainer's CG iterate, which stops short of x* (far short
  // on a small or barely trained model), so those shares alone do not add up to the score
  // shown. The difference y_i . (x_u - x*) is shared out over the liked videos in proportion
  // to each one's part of b_u, c_uj (y_j . b_u) / |b_u|^2 (these parts sum to 1): the
  // contributions then sum to x_u . y_i, the score shown, and for a converged model (x_u = x*)
  // they are implicit's. Disliked videos (preference 0) contribute nothing.
  // In double: y_i . x* and y_i . (x_u - x*) can be far larger than the score (tiny on a
  // small model) and cancel, which float would leave at a few per cent of it.
  const Eigen::LLT<Eigen::MatrixXd> system(row_system_matrix(item_gram, items, history, terms).cast<double>());
  if (system.info() != Eigen::Success) {
    throw NumericalError("the user's least-squares system is not positive definite; cannot explain");
  }
  Eigen::VectorXd liked_sum = Eigen::VectorXd::Zero(items.cols());
  for (const auto& [video, confidence] : history) {
    if (confidence > 0) liked_sum += double{confidence} * items.row(video).transpose().cast<double>();
  }
  const double liked_sum_squared = liked_sum.squaredNorm();
  if (liked_sum_squared == 0.0) return recommendations;  // nothing liked: nothing to list
  const Eigen::VectorXd exact_factor = system.solve(liked_sum);
  for (auto& recommendation : recommendations) {
    const std::uint32_t video = *mappings.videos.find(recommendation.video_id);
    const Eigen::VectorXd video_factor = items.row(video).transpose().cast<double>();
    const Eigen::VectorXd weighted = system.solve(video_factor);
    // The gap is taken from the score as shown (the float kernel's x_u . y_i), so that the
    // contributions add up to exactly that number, not to a more precise recomputation.
    const double remainder_score = static_cast<double>(recommendation.score) - video_factor.dot(exact_factor);
    for (const auto& [watched_video, confidence] : history) {
      if (confidence <= 0) continue;
      const Eigen::VectorXd watched_factor = items.row(watched_video).transpose().cast<double>();
      const double share_of_liked = confidence * watched_factor.dot(liked_sum) / liked_sum_squared;
      recommendation.because.push_back(Contribution{
          mappings.videos.id(watched_video),
          static_cast<float>(weighted.dot(watched_factor) * confidence + remainder_score * share_of_liked)});
    }
    std::stable_sort(recommendation.because.begin(), recommendation.because.end(),
                     [](const Contribution& a, const Contribution& b) { return a.contribution > b.contribution; });
    if (recommendation.because.size() > static_cast<std::size_t>(options.explain_top)) {
      recommendation.because.resize(static_cast<std::size_t>(options.explain_top));
    }
  }
  return recommendations;
}

// The similarity stored in row `row` of a CSR matrix for column `column`, 0 when absent.
float stored_value(const SparseMatrix& matrix, std::uint32_t row, std::uint32_t column) {
  const auto begin = matrix.col_indices.begin() + static_cast<std::ptrdiff_t>(matrix.row_offsets[row]);
  const auto end = matrix.col_indices.begin() + static_cast<std::ptrdiff_t>(matrix.row_offsets[row + 1]);
  const auto found = std::lower_bound(begin, end, column);
  if (found == end || *found != column) return 0.0f;
  return matrix.values[static_cast<std::size_t>(found - matrix.col_indices.begin())];
}

// EASE and item-knn: scores are the sum of the weight rows of the videos in the history with
// a positive weight (the models see interactions, not their strength), and a video's share of
// a score is its weight towards that video, so explanations come for free.
std::vector<Recommendation> recommend_from_item_history(const Model& model, const Mappings& mappings,
                                                        const Entries& history, const RecommendOptions& options,
                                                        const std::vector<float>& penalties) {
  if (options.k < 1) throw InvalidInput("k must be >= 1");
  if (options.explain && options.explain_top < 1) throw InvalidInput("explain_top must be >= 1");
  const bool ease = model.kind() == ModelKind::Ease;
  std::vector<std::uint32_t> positive;
  for (const auto& [video, weight] : history) {
    if (weight > 0) positive.push_back(video);
  }
  const std::uint32_t n_videos = model.info.n_videos;
  std::vector<float> scores(n_videos);
  if (ease) {
    score_history(model.item_weights, positive, scores.data());
  } else {
    score_history(model.neighbours, positive, scores.data());
  }
  for (std::size_t video = 0; video < penalties.size(); ++video) scores[video] -= penalties[video];
  std::vector<std::uint32_t> excluded = excluded_videos(mappings, history, options);
  if (options.eligible != nullptr) {
    const auto ineligible = options.eligible->ineligible();
    excluded.insert(excluded.end(), ineligible.begin(), ineligible.end());
  }
  auto recommendations = to_recommendations(mappings, select_top_k(scores.data(), n_videos, options.k, excluded));
  if (!options.explain) return recommendations;
  for (auto& recommendation : recommendations) {
    const std::uint32_t video = *mappings.videos.find(recommendation.video_id);
    for (const std::uint32_t watched : positive) {
      const float share = ease ? model.item_weights(watched, video) : stored_value(model.neighbours, watched, video);
      if (share != 0.0f) recommendation.because.push_back(Contribution{mappings.videos.id(watched), share});
    }
    std::stable_sort(recommendation.because.begin(), recommendation.because.end(),
                     [](const Contribution& a, const Contribution& b) { return a.contribution > b.contribution; });
    if (recommendation.because.size() > static_cast<std::size_t>(options.explain_top)) {
      recommendation.because.resize(static_cast<std::size_t>(options.explain_top));
    }
  }
  return recommendations;
}

}  // namespace

Recommender::Recommender(Model model, Mappings mappings, SparseMatrix watched, ScanMode scan, double popularity_penalty)
    : model_(std::move(model)), mappings_(std::move(mappings)), watched_(std::move(watched)) {
  kind_ = model_.kind();
  const auto& factors = model_.factors;
  if (kind_ == ModelKind::Als &&
      (static_cast<std::size_t>(factors.user_factors.rows()) != mappings_.users.size() ||
       static_cast<std::size_t>(factors.item_factors.rows()) != mappings_.videos.size())) {
    throw InvalidInput("the model has " + std::to_string(factors.user_factors.rows()) + " users and " +
                       std::to_string(factors.item_factors.rows()) + " videos but the mappings have " +
                       std::to_string(mappings_.users.size()) + " and " + std::to_string(mappings_.videos.size()) +
                       "; were they made from the same ratings? (retrain with vr-train)");
  }
  if (kind_ != ModelKind::Als && model_.info.n_videos != mappings_.videos.size()) {
    throw InvalidInput("the " + model_.info.kind + " model has " + std::to_string(model_.info.n_videos) +
                       " videos but the mappings have " + std::to_string(mappings_.videos.size()) +
                       "; were they made from the same ratings? (retrain with vr-train)");
  }
  if (watched_.rows != mappings_.users.size() || watched_.cols != mappings_.videos.size()) {
    throw InvalidInput("the ratings matrix is " + std::to_string(watched_.rows) + " x " + std::to_string(watched_.cols) +
                       " but the mappings have " + std::to_string(mappings_.users.size()) + " users and " +
                       std::to_string(mappings_.videos.size()) + " videos");
  }
  popularity_penalty_beta_ = popularity_penalty;
  popularity_penalties_ = popularity_penalties(watched_, popularity_penalty);
  if (kind_ != ModelKind::Als) return;
  item_gram_ = shared_gram(factors.item_factors, system_weights(model_.info.config));
  video_panels_ = VideoPanels(factors.item_factors, scan, popularity_penalties_);
  item_norms_.resize(static_cast<std::size_t>(factors.item_factors.rows()));
  for (Eigen::Index i = 0; i < factors.item_factors.rows(); ++i) {
    const float norm = factors.item_factors.row(i).norm();
    item_norms_[static_cast<std::size_t>(i)] = norm > 0 ? norm : kZeroNormReplacement;
  }
}

std::shared_ptr<const Recommender> Recommender::load(const ArtifactPaths& paths, ScanMode scan, double popularity_penalty) {
  validate_popularity_penalty(popularity_penalty);
  // Opened first, so a missing model fails before the ratings are read.
  auto model_file = open_input_file(paths.model);
  Mappings mappings = load_mappings(paths.mappings);
  const auto users = static_cast<std::uint32_t>(mappings.users.size());
  const auto videos = static_cast<std::uint32_t>(mappings.videos.size());
  SparseMatrix watched;
  {
    // The list of ratings is read, made into the matrix and freed before the model is loaded:
    // at a million videos it is as large as the model, so holding both would add its size to
    // the peak memory.
    auto input = open_input_file(paths.ratings);
    const std::vector<Rating> ratings = read_ratings_csv(input, paths.ratings);
    if (max_user_count(ratings) > users || max_video_count(ratings) > videos) {
      throw InvalidInput("'" + paths.ratings + "' refers to user or video indices that '" + paths.mappings +
                         "' does not have; were they made by the same vr-features run?");
    }
    watched = build_sparse_matrix(ratings, users, videos);
  }
  Model model = read_model(model_file, paths.model);
  return std::make_shared<const Recommender>(std::move(model), std::move(mappings), std::move(watched), scan,
                                             popularity_penalty);
}

Retrieval parse_retrieval(const std::string& text) {
  if (text == "exact") return Retrieval::Exact;
  if (text == "ann") return Retrieval::Ann;
  if (text == "auto") return Retrieval::Auto;
  throw InvalidInput("retrieval must be exact, ann or auto, not '" + text + "'");
}

std::shared_ptr<const Recommender> Recommender::load(const ArtifactPaths& paths, ScanMode scan,
                                                     const SimilarRetrieval& retrieval, double popularity_penalty) {
  std::error_code error;
  const bool index_exists = !retrieval.index_path.empty() && std::filesystem::exists(retrieval.index_path, error);
  if (retrieval.mode == Retrieval::Exact || (retrieval.mode == Retrieval::Auto && !index_exists)) {
    return load(paths, scan, popularity_penalty);
  }
  if (retrieval.ef < 1) throw InvalidInput("ef must be >= 1");
  if (!index_exists) {
    throw IoError("retrieval ann needs an ANN index, but '" + retrieval.index_path + "' does not exist (build it with vr-index)");
  }
  std::shared_ptr<const AnnIndex> index = AnnIndex::load(retrieval.index_path);
  auto recommender = std::const_pointer_cast<Recommender>(load(paths, scan, popularity_penalty));
  if (recommender->kind_ != ModelKind::Als) {
    throw InvalidInput("'" + retrieval.index_path + "' indexes als video factors; '" + paths.model + "' is a " +
                       recommender->model_.info.kind + " model");
  }
  index->check_matches(recommender->model_.factors.item_factors, retrieval.index_path, paths.model);
  recommender->ann_index_ = std::move(index);
  recommender->ann_ef_ = retrieval.ef;
  return recommender;
}

std::vector<Recommendation> Recommender::recommend(const std::string& user_id, const RecommendOptions& options) const {
  const auto user = mappings_.users.find(user_id);
  if (!user) throw NotFound("User '" + user_id + "' not found");
  if (kind_ != ModelKind::Als) {
    return recommend_from_item_history(model_, mappings_, watched_entries(watched_, *user, model_.info.config), options,
                                       popularity_penalties_);
  }
  const Eigen::VectorXf trained = model_.factors.user_factors.row(*user).transpose();
  std::uint64_t scored = 0;
  auto recommendations = recommend_from_history(model_, mappings_, item_gram_, video_panels_,
                                                watched_entries(watched_, *user, model_.info.config), options, &trained,
                                                &scored);
  count_scan(1, scored);
  return recommendations;
}

std::vector<Recommendation> Recommender::recommend_for_history(const std::vector<std::string>& history,
                                                               const RecommendOptions& options,
                                                               const std::vector<float>& weights) const {
  if (!weights.empty() && weights.size() != history.size()) {
    throw InvalidInput("history has " + std::to_string(history.size()) + " videos but " +
                       std::to_string(weights.size()) + " weights");
  }
  // A video listed twice counts once with the summed weight, as vr-features aggregates.
  std::map<std::uint32_t, float> summed;
  for (std::size_t i = 0; i < history.size(); ++i) {
    const float weight = weights.empty() ? 1.0f : weights[i];
    if (!std::isfinite(weight)) throw InvalidInput("history weight of '" + history[i] + "' is not finite");
    if (const auto video = mappings_.videos.find(history[i])) summed[*video] += weight;
  }
  Entries entries;
  for (const auto& [video, weight] : summed) {
    if (weight != 0.0f) entries.emplace_back(video, confidence_of(weight, model_.info.config));
  }
  if (entries.empty()) throw NotFound("none of the history's videos is known to the model");
  if (kind_ != ModelKind::Als) return recommend_from_item_history(model_, mappings_, entries, options, popularity_penalties_);
  std::uint64_t scored = 0;
  auto recommendations =
      recommend_from_history(model_, mappings_, item_gram_, video_panels_, entries, options, nullptr, &scored);
  count_scan(1, scored);
  return recommendations;
}

std::vector<Recommendation> Recommender::similar(const std::string& video_id, const RecommendOptions& options) const {
  if (options.k < 1) throw InvalidInput("k must be >= 1");
  const auto video = mappings_.videos.find(video_id);
  if (!video) throw NotFound("Video '" + video_id + "' not found");
  if (kind_ == ModelKind::Ease) {
    throw InvalidInput("similar videos need an als or item-knn model; this model is ease (its weights are not a "
                       "similarity)");
  }
  if (kind_ == ModelKind::ItemKnn) {
    // The video itself first (cosine 1 with itself), then its stored neighbours.
    std::vector<std::uint32_t> excluded = excluded_videos(mappings_, {}, options);
    const auto left_out = [&](std::uint32_t candidate) {
      return (options.eligible != nullptr && !options.eligible->allows(candidate)) ||
             std::find(excluded.begin(), excluded.end(), candidate) != excluded.end();
    };
    const bool self_excluded = left_out(*video);
    const auto& neighbours = model_.neighbours;
    std::vector<ScoredVideo> top;
    if (!self_excluded) top.push_back(ScoredVideo{*video, 1.0f});
    std::vector<ScoredVideo> stored;
    for (std::uint64_t k = neighbours.row_offsets[*video]; k < neighbours.row_offsets[*video + 1]; ++k) {
      if (!left_out(neighbours.col_indices[k])) {
        stored.push_back(ScoredVideo{neighbours.col_indices[k], neighbours.values[k]});
      }
    }
    std::sort(stored.begin(), stored.end(), ranks_before);
    for (const auto& scored : stored) {
      if (top.size() >= static_cast<std::size_t>(options.k)) break;
      top.push_back(scored);
    }
    return to_recommendations(mappings_, top);
  }
  const FactorMatrix& items = model_.factors.item_factors;
  const float own_norm = item_norms_[*video];
  if (ann_index_ != nullptr) {
    std::vector<std::uint32_t> excluded = excluded_videos(mappings_, {}, options);
    std::sort(excluded.begin(), excluded.end());
    excluded.erase(std::unique(excluded.begin(), excluded.end()), excluded.end());
    const auto allowed = [&](std::uint32_t candidate) {
      return (options.eligible == nullptr || options.eligible->allows(candidate)) &&
             !std::binary_search(excluded.begin(), excluded.end(), candidate);
    };
    const bool self_excluded = !allowed(*video);
    const auto others = static_cast<std::size_t>(self_excluded ? options.k : options.k - 1);
    std::size_t wanted = others + excluded.size() + 1;
    // Videos neither excluded nor ineligible, the video itself aside.
    std::size_t eligible = static_cast<std::size_t>(items.rows()) - excluded.size();
    if (options.eligible != nullptr) {
      std::size_t excluded_eligible = 0;
      for (const std::uint32_t candidate : excluded) excluded_eligible += options.eligible->allows(candidate) ? 1 : 0;
      eligible = options.eligible->eligible_count() - excluded_eligible;
      // Ineligible videos take their share of the graph's answers: ask for that many more.
      const double eligible_share =
          std::max<double>(1.0, static_cast<double>(options.eligible->eligible_count())) / static_cast<double>(items.rows());
      wanted = std::min<std::size_t>(static_cast<std::size_t>(items.rows()),
                                     static_cast<std::size_t>(std::ceil(static_cast<double>(wanted) / eligible_share)));
    }
    if (!self_excluded) --eligible;
    std::vector<ScoredVideo> neighbours;
    for (const auto& found : ann_index_->nearest(*video, wanted, std::max(ann_ef_, wanted))) {
      if (found.video == *video || !allowed(found.video)) continue;
      // The same cosine as the exact scan's, from the model's factors.
      const float cosine = items.row(found.video).dot(items.row(*video)) / (item_norms_[found.video] * own_norm);
      neighbours.push_back(ScoredVideo{found.video, std::clamp(cosine, -1.0f, 1.0f)});
    }
    if (neighbours.size() >= std::min(others, eligible)) {
      std::sort(neighbours.begin(), neighbours.end(), ranks_before);
      if (neighbours.size() > others) neighbours.resize(others);
      std::vector<ScoredVideo> top;
      if (!self_excluded) {
        top.push_back(ScoredVideo{*video, std::clamp(items.row(*video).squaredNorm() / (own_norm * own_norm), -1.0f, 1.0f)});
      }
      top.insert(top.end(), neighbours.begin(), neighbours.end());
      return to_recommendations(mappings_, top);
    }
    // Exclusions took too many of the graph's neighbours: the exact scan below answers.
  }
  Eigen::VectorXf cosines = items * items.row(*video).transpose();
  for (Eigen::Index i = 0; i < cosines.size(); ++i) {
    cosines[i] = std::clamp(cosines[i] / (item_norms_[static_cast<std::size_t>(i)] * own_norm), -1.0f, 1.0f);
  }
  std::vector<std::uint32_t> excluded = excluded_videos(mappings_, {}, options);
  if (options.eligible != nullptr) {
    const auto ineligible = options.eligible->ineligible();
    excluded.insert(excluded.end(), ineligible.begin(), ineligible.end());
  }
  const bool self_excluded = std::find(excluded.begin(), excluded.end(), *video) != excluded.end();
  // The video itself goes first by definition, not by a float comparison that a nearly
  // parallel neighbour could win by rounding.
  excluded.push_back(*video);
  const int others = self_excluded ? options.k : options.k - 1;
  std::vector<ScoredVideo> top;
  if (!self_excluded) top.push_back(ScoredVideo{*video, cosines[*video]});
  for (const auto& scored : select_top_k(cosines.data(), static_cast<std::uint32_t>(items.rows()), others, excluded)) {
    top.push_back(scored);
  }
  return to_recommendations(mappings_, top);
}

void Recommender::recommend_all(const RecommendOptions& options, int threads,
                                const std::function<void(std::uint32_t, std::vector<Recommendation>&&)>& consume,
                                std::uint32_t first_user, std::uint32_t end_user) const {
  if (options.k < 1) throw InvalidInput("k must be >= 1");
  threads = resolve_thread_count(threads);
  end_user = std::min(end_user, static_cast<std::uint32_t>(mappings_.users.size()));
  first_user = std::min(first_user, end_user);
  OrderedDelivery delivery(consume, first_user);
  const std::size_t n_users = end_user - first_user;
  if (options.explain || kind_ != ModelKind::Als) {
    // Explanations need one exact solve per user anyway, and EASE / item-knn score from the
    // history rows: no block product to gain. The single-user routine keeps results identical.
    parallel_for_blocks(n_users, 16, threads, [&](std::size_t begin, std::size_t end) {
      for (std::size_t user = first_user + begin; user < first_user + end; ++user) {
        delivery.deliver(static_cast<std::uint32_t>(user), recommend(mappings_.users.id(static_cast<std::uint32_t>(user)), options));
      }
    });
    return;
  }
  std::vector<std::uint32_t> always_excluded;
  for (const auto& id : options.exclude) {
    if (const auto index = mappings_.videos.find(id)) always_excluded.push_back(*index);
  }
  parallel_for_blocks(n_users, kUsersPerBlock, threads, [&](std::size_t begin, std::size_t end) {
    std::uint64_t scored = 0;
    top_videos_in_block(static_cast<std::uint32_t>(first_user + begin), static_cast<std::uint32_t>(first_user + end), options.k,
                        options.include_watched, always_excluded,
                        [&](std::uint32_t user, std::vector<ScoredVideo>&& top) {
                          delivery.deliver(user, to_recommendations(mappings_, top));
                        },
                        &scored, options.eligible);
    count_scan(end - begin, scored);
  });
}

void Recommender::top_videos_for_users(std::uint32_t begin, std::uint32_t end, int k,
                                       const std::function<void(std::uint32_t, std::vector<ScoredVideo>&&)>& consume) const {
  if (k < 1) throw InvalidInput("k must be >= 1");
  if (kind_ != ModelKind::Als) throw InvalidInput("top_videos_for_users needs an als model, not " + model_.info.kind);
  if (begin > end || end > mappings_.users.size()) throw InvalidInput("user range out of bounds");
  for (std::uint32_t block = begin; block < end; block += static_cast<std::uint32_t>(kUsersPerBlock)) {
    const auto block_end = static_cast<std::uint32_t>(std::min<std::size_t>(end, block + kUsersPerBlock));
    top_videos_in_block(block, block_end, k, false, {}, consume, nullptr);
  }
}

void Recommender::top_videos_in_block(std::uint32_t begin, std::uint32_t end, int k, bool include_watched,
                                      const std::vector<std::uint32_t>& always_excluded,
                                      const std::function<void(std::uint32_t, std::vector<ScoredVideo>&&)>& consume,
                                      std::uint64_t* scored, const EligibleVideos* eligible) const {
  const FactorMatrix& user_factors = model_.factors.user_factors;
  std::vector<const float*> users;
  for (std::uint32_t user = begin; user < end; ++user) users.push_back(user_factors.row(static_cast<Eigen::Index>(user)).data());
  video_panels_.top_k_block(
      users, k,
      [&](std::size_t i, std::vector<std::uint32_t>& excluded) {
        excluded = always_excluded;
        if (include_watched) return;
        const std::uint32_t user = begin + static_cast<std::uint32_t>(i);
        excluded.insert(excluded.end(), watched_.col_indices.begin() + static_cast<std::ptrdiff_t>(watched_.row_offsets[user]),
                        watched_.col_indices.begin() + static_cast<std::ptrdiff_t>(watched_.row_offsets[user + 1]));
      },
      [&](std::size_t i, std::vector<ScoredVideo>&& top) { consume(begin + static_cast<std::uint32_t>(i), std::move(top)); },
      scored, eligible);
}

void Recommender::count_scan(std::uint64_t queries, std::uint64_t videos_scored) const {
  scan_queries_.fetch_add(queries, std::memory_order_relaxed);
  scan_videos_scored_.fetch_add(videos_scored, std::memory_order_relaxed);
}

ScanCounters Recommender::scan_counters() const {
  ScanCounters counters;
  counters.queries = scan_queries_.load(std::memory_order_relaxed);
  counters.videos_scored = scan_videos_scored_.load(std::memory_order_relaxed);
  counters.catalog_videos = counters.queries * mappings_.videos.size();
  return counters;
}

}  // namespace vr
