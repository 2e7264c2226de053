#include "vr/popular.h"

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "vr/atomic_file.h"
#include "vr/csv.h"
#include "vr/eligibility.h"
#include "vr/errors.h"
#include "vr/topk.h"

namespace vr {

UnknownUserPolicy parse_unknown_user_policy(const std::string& text) {
  if (text == "404") return UnknownUserPolicy::NotFound;
  if (text == "popular") return UnknownUserPolicy::Popular;
  throw InvalidInput("unknown --unknown-user '" + text + "' (expected 404 or popular)");
}

PopularVideos::PopularVideos(const SparseMatrix& watched, int depth) {
  std::vector<float> users(watched.cols, 0.0f);
  for (std::size_t k = 0; k < watched.values.size(); ++k) {
    if (watched.values[k] > 0) users[watched.col_indices[k]] += 1.0f;
  }
  ranked_ = select_top_k(users.data(), watched.cols, std::max(1, depth), {});
  // A video nobody rated positively is not popular.
  ranked_.erase(std::find_if(ranked_.begin(), ranked_.end(), [](const ScoredVideo& video) { return video.score <= 0; }),
                ranked_.end());
}

PopularVideos::PopularVideos(const std::string& popular_csv_path, const IdMap& videos, int depth) {
  auto file = open_input_file(popular_csv_path);
  CsvReader reader(file, popular_csv_path, ',');
  std::vector<std::string_view> fields;
  if (!reader.next_row(fields) || fields.size() != 2 || fields[0] != "video_id" || fields[1] != "users") {
    throw InvalidInput(popular_csv_path + ":1: header must be 'video_id,users' (written by vr-features --popular-window)");
  }
  while (reader.next_row(fields) && static_cast<int>(ranked_.size()) < std::max(1, depth)) {
    const std::string where = popular_csv_path + ":" + std::to_string(reader.line_number());
    if (fields.size() != 2) throw InvalidInput(where + ": expected 2 fields (video_id,users), got " + std::to_string(fields.size()));
    std::uint64_t users = 0;
    const auto parsed = std::from_chars(fields[1].data(), fields[1].data() + fields[1].size(), users);
    if (parsed.ec != std::errc() || parsed.ptr != fields[1].data() + fields[1].size() || users == 0) {
      throw InvalidInput(where + ": field 'users': '" + std::string(fields[1]) + "' is not a whole number from 1");
    }
    const auto index = videos.find(fields[0]);
    if (!index) continue;  // a video the model does not have cannot be answered
    ranked_.push_back(ScoredVideo{*index, static_cast<float>(users)});
  }
}

PopularVideos popular_videos_for(const std::string& model_directory, const SparseMatrix& watched, const IdMap& videos) {
  const auto path = std::filesystem::path(model_directory) / kPopularFileName;
  if (std::filesystem::exists(path)) return PopularVideos(path.string(), videos);
  return PopularVideos(watched);
}

std::vector<Recommendation> PopularVideos::top(const IdMap& videos, int k, const std::vector<std::string>& exclude,
                                               const EligibleVideos* eligible) const {
  std::vector<Recommendation> result;
  for (const ScoredVideo& video : ranked_) {
    if (static_cast<int>(result.size()) >= k) break;
    if (eligible != nullptr && !eligible->allows(video.video)) continue;
    const std::string& id = videos.id(video.video);
    if (std::find(exclude.begin(), exclude.end(), id) != exclude.end()) continue;
    result.push_back(Recommendation{id, video.score, {}});
  }
  return result;
}

}  // namespace vr
