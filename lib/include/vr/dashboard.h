// What vr-serve's dashboard (/ui) shows of the model being served, as JSON: its card, one
// user's history and recommendations, one video's neighbours. Read-only, and free of file
// paths (the card names the pipeline's input file by its name only). Kept apart from the HTTP
// layer, which must not include Eigen.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace vr {

struct ModelSnapshot;
class ScoringGate;

// video id -> title (as read by read_video_titles in vr/recommend_job.h).
using VideoTitles = std::unordered_map<std::string, std::string>;

// Reads a videos CSV (video_id,title,...) for the dashboard's titles. Throws IoError or
// InvalidInput naming the file.
std::shared_ptr<const VideoTitles> load_dashboard_titles(const std::string& path);

// The model card: {"version", "kind", "vr_version", "hyperparameters": {...}, "data": {"users",
// "videos", "ratings"}, "final_loss" (or null), "loaded_at" (unix seconds), "trained_at" (ISO
// 8601: metadata.json's "created", else als_model.bin's modification time), "pipeline": null or
// {"version", "input_name", "evaluation"} from metadata.json beside the model (pipeline.sh),
// "precomputed_depth" (0 when requests are scored)}.
nlohmann::json dashboard_model(const ModelSnapshot& snapshot);

// One user: {"user_id", "history": [{"video_id", "title", "weight"}...] (heaviest first, at
// most `history_limit`), "history_total", "recommendations": [{"video_id", "title", "score",
// "because": [{"video_id", "title", "contribution"}...]}...] (k of them)}. Titles are null
// without `titles`. Throws NotFound for an unknown user. Scoring waits for `gate` when given.
nlohmann::json dashboard_user(const ModelSnapshot& snapshot, const std::string& user_id, int k,
                              std::size_t history_limit, const VideoTitles* titles, ScoringGate* gate);

// One video: {"video_id", "title", "similar": [{"video_id", "title", "score"}...] (k, itself
// left out) or null with "similar_unavailable": reason (an EASE model has no video factors),
// "recommended": null, or {"users": how many users have it in their top "depth", "of_users",
// "depth"} from the precomputed table}. Throws NotFound for an unknown video.
nlohmann::json dashboard_video(const ModelSnapshot& snapshot, const std::string& video_id, int k,
                               const VideoTitles* titles, ScoringGate* gate);

}  // namespace vr
