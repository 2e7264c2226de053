#include "vr/dashboard.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "vr/errors.h"
#include "vr/precomputed.h"
#include "vr/recommend_job.h"
#include "vr/recommender.h"
#include "vr/service.h"

namespace vr {

namespace {

nlohmann::json title_of(const VideoTitles* titles, const std::string& video_id) {
  if (titles == nullptr) return nullptr;
  const auto found = titles->find(video_id);
  return found == titles->end() ? nlohmann::json(nullptr) : nlohmann::json(found->second);
}

std::string iso_utc(std::time_t seconds) {
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

// Holds a scoring permit for its lifetime.
class GatePass {
 public:
  explicit GatePass(ScoringGate* gate) : gate_(gate) {
    if (gate_ != nullptr) gate_->enter();
  }
  ~GatePass() {
    if (gate_ != nullptr) gate_->leave();
  }
  GatePass(const GatePass&) = delete;
  GatePass& operator=(const GatePass&) = delete;

 private:
  ScoringGate* gate_;
};

// metadata.json as pipeline.sh writes it beside the model, or null when absent or unreadable
// (a model made without the pipeline has none; the dashboard then shows no evaluation).
nlohmann::json read_pipeline_metadata(const std::string& directory) {
  std::ifstream input(directory + "/metadata.json");
  if (!input) return nullptr;
  const nlohmann::json metadata = nlohmann::json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (!metadata.is_object()) return nullptr;
  return metadata;
}

}  // namespace

std::shared_ptr<const VideoTitles> load_dashboard_titles(const std::string& path) {
  std::ifstream input(path);
  if (!input) throw IoError("cannot open titles file '" + path + "'");
  return std::make_shared<const VideoTitles>(read_video_titles(input, path));
}

nlohmann::json dashboard_model(const ModelSnapshot& snapshot) {
  const Model& model = snapshot.recommender->model();
  const ModelInfo& info = model.info;
  nlohmann::json hyperparameters;
  switch (model.kind()) {
    case ModelKind::Als:
      hyperparameters = {{"factors", info.config.factors},
                         {"regularization", info.config.regularization},
                         {"alpha", info.config.alpha},
                         {"iterations", info.config.iterations},
                         {"solver", to_string(info.config.solver)},
                         {"cg_steps", info.config.cg_steps},
                         {"scaling", to_string(info.config.scaling)},
                         {"eps", info.config.eps},
                         {"seed", info.config.seed}};
      break;
    case ModelKind::Ease:
      hyperparameters = {{"regularization", info.item_config.ease_regularization}};
      break;
    case ModelKind::ItemKnn:
      hyperparameters = {{"neighbours", info.item_config.neighbours},
                         {"similarity", to_string(info.item_config.similarity)},
                         {"bm25_k1", info.item_config.bm25_k1},
                         {"bm25_b", info.item_config.bm25_b}};
      break;
  }
  nlohmann::json card = {
      {"version", snapshot.version},
      {"kind", info.kind},
      {"vr_version", info.vr_version},
      {"hyperparameters", hyperparameters},
      {"data", {{"users", info.n_users}, {"videos", info.n_videos}, {"ratings", info.n_ratings}}},
      {"final_loss", info.loss_history.empty() ? nlohmann::json(nullptr) : nlohmann::json(info.loss_history.back())},
      {"loaded_at", snapshot.loaded_at_unix},
      {"trained_at", nullptr},
      {"pipeline", nullptr},
      {"precomputed_depth", snapshot.precomputed() != nullptr ? snapshot.precomputed_info().depth : 0}};

  const nlohmann::json metadata = read_pipeline_metadata(snapshot.resolved_directory);
  if (metadata.is_object()) {
    nlohmann::json pipeline = {{"version", metadata.value("version", "")},
                               {"evaluation", metadata.contains("evaluation") ? metadata["evaluation"] : nullptr}};
    // The file's name only: the dashboard never shows a path.
    const std::string input = metadata.value("input", "");
    pipeline["input_name"] = input.empty() ? "" : std::filesystem::path(input).filename().string();
    card["pipeline"] = pipeline;
    if (metadata.contains("created") && metadata["created"].is_string()) card["trained_at"] = metadata["created"];
  }
  if (card["trained_at"].is_null()) {
    std::error_code error;
    const auto written =
        std::filesystem::last_write_time(resolve_artifact_paths(snapshot.resolved_directory).model, error);
    if (!error) {
      const auto system = std::chrono::file_clock::to_sys(written);
      card["trained_at"] = iso_utc(std::chrono::system_clock::to_time_t(
          std::chrono::time_point_cast<std::chrono::system_clock::duration>(system)));
    }
  }
  return card;
}

nlohmann::json dashboard_user(const ModelSnapshot& snapshot, const std::string& user_id, int k,
                              std::size_t history_limit, const VideoTitles* titles, ScoringGate* gate) {
  const Recommender& recommender = *snapshot.recommender;
  const auto user = recommender.mappings().users.find(user_id);
  if (!user) throw NotFound("User '" + user_id + "' not found");

  const SparseMatrix& watched = recommender.watched();
  std::vector<std::pair<float, std::uint32_t>> rows;
  for (std::uint64_t i = watched.row_offsets[*user]; i < watched.row_offsets[*user + 1]; ++i) {
    rows.emplace_back(watched.values[i], watched.col_indices[i]);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  nlohmann::json history = nlohmann::json::array();
  for (std::size_t i = 0; i < rows.size() && i < history_limit; ++i) {
    const std::string& video_id = recommender.mappings().videos.id(rows[i].second);
    history.push_back({{"video_id", video_id}, {"title", title_of(titles, video_id)}, {"weight", rows[i].first}});
  }

  RecommendOptions options;
  options.k = k;
  options.explain = true;
  std::vector<Recommendation> recommendations;
  {
    GatePass pass(gate);
    recommendations = recommender.recommend(user_id, options);
  }
  nlohmann::json answer = nlohmann::json::array();
  for (const auto& recommendation : recommendations) {
    nlohmann::json because = nlohmann::json::array();
    for (const auto& contribution : recommendation.because) {
      because.push_back({{"video_id", contribution.video_id},
                         {"title", title_of(titles, contribution.video_id)},
                         {"contribution", contribution.contribution}});
    }
    answer.push_back({{"video_id", recommendation.video_id},
                      {"title", title_of(titles, recommendation.video_id)},
                      {"score", recommendation.score},
                      {"because", because}});
  }
  return {{"user_id", user_id},
          {"history", history},
          {"history_total", rows.size()},
          {"recommendations", answer}};
}

nlohmann::json dashboard_video(const ModelSnapshot& snapshot, const std::string& video_id, int k,
                               const VideoTitles* titles, ScoringGate* gate) {
  const Recommender& recommender = *snapshot.recommender;
  const auto video = recommender.mappings().videos.find(video_id);
  if (!video) throw NotFound("Video '" + video_id + "' not found");

  nlohmann::json answer = {{"video_id", video_id}, {"title", title_of(titles, video_id)}, {"similar", nullptr},
                           {"recommended", nullptr}};
  if (recommender.kind() == ModelKind::Ease) {
    answer["similar_unavailable"] = "an EASE model has no video factors to compare";
  } else {
    RecommendOptions options;
    options.k = k + 1;  // the video itself comes first
    std::vector<Recommendation> similar;
    {
      GatePass pass(gate);
      similar = recommender.similar(video_id, options);
    }
    nlohmann::json list = nlohmann::json::array();
    for (const auto& neighbour : similar) {
      if (neighbour.video_id == video_id || static_cast<int>(list.size()) == k) continue;
      list.push_back({{"video_id", neighbour.video_id},
                      {"title", title_of(titles, neighbour.video_id)},
                      {"score", neighbour.score}});
    }
    answer["similar"] = list;
  }
  if (const PrecomputedRecommendations* table = snapshot.precomputed()) {
    std::uint64_t users = 0;
    for (std::uint32_t user = 0; user < table->users(); ++user) {
      for (const auto& entry : table->top(user)) {
        if (entry.video == *video) {
          ++users;
          break;
        }
      }
    }
    answer["recommended"] = {{"users", users}, {"of_users", table->users()}, {"depth", table->depth()}};
  } else {
    answer["recommended_unavailable"] =
        "counted from the precomputed table of every user's top videos, which this server has not computed "
        "(an ALS model and --precompute-k > 0 are needed)";
  }
  return answer;
}

}  // namespace vr
