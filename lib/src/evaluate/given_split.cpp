#include "vr/given_split.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "vr/atomic_file.h"
#include "vr/csv.h"
#include "vr/errors.h"
#include "vr/id_map.h"
#include "vr/interaction_rows.h"
#include "vr/mappings.h"
#include "vr/timestamp.h"

namespace vr {

GivenSplit make_given_split(const std::vector<Rating>& train, const std::vector<Rating>& test, std::uint32_t users,
                            std::uint32_t videos) {
  const auto without_zeros = [&](const std::vector<Rating>& ratings) {
    std::vector<Rating> kept;
    for (const Rating& rating : to_ratings(build_sparse_matrix(ratings, users, videos))) {
      if (rating.value != 0.0f) kept.push_back(rating);
    }
    return kept;
  };
  GivenSplit given;
  given.split.train = build_sparse_matrix(without_zeros(train), users, videos);
  const SparseMatrix& train_matrix = given.split.train;
  std::vector<char> video_in_train(videos, 0);
  for (const std::uint32_t video : train_matrix.col_indices) video_in_train[video] = 1;

  std::vector<Rating> kept;
  std::uint32_t last_test_only_user = users;
  for (const Rating& rating : without_zeros(test)) {
    if (train_matrix.row_size(rating.user) == 0) {
      given.summary.test_only_users += rating.user != last_test_only_user;
      last_test_only_user = rating.user;
      ++given.summary.test_only_user_ratings;
      continue;
    }
    const auto row_begin = train_matrix.col_indices.begin() + static_cast<std::ptrdiff_t>(train_matrix.row_offsets[rating.user]);
    const auto row_end = train_matrix.col_indices.begin() + static_cast<std::ptrdiff_t>(train_matrix.row_offsets[rating.user + 1]);
    if (std::binary_search(row_begin, row_end, rating.video)) {
      ++given.summary.test_ratings_in_train;
      continue;
    }
    given.summary.test_ratings_on_new_videos += video_in_train[rating.video] == 0;
    kept.push_back(rating);
  }
  given.split.test = build_sparse_matrix(kept, users, videos);
  return given;
}

GivenSplit read_given_split(std::istream& train, const std::string& train_name, std::istream& test,
                            const std::string& test_name, const FeaturesConfig& features) {
  IdMap users, videos;
  // (user, video) -> summed weight, per file, with indices in interning order.
  using Pairs = std::unordered_map<std::uint64_t, float>;
  const auto read = [&](std::istream& input, const std::string& source_name) {
    // vr-features' own parser (interaction_rows.h): the same header rules, delimiters, event
    // names and range checks.
    CsvReader reader(input, source_name, features.delimiter);
    std::vector<std::string_view> fields;
    if (!reader.next_row(fields)) throw InvalidInput(source_name + ": empty input (expected a header line)");
    const std::vector<std::string> header_names(fields.begin(), fields.end());
    const std::vector<std::string_view> header(header_names.begin(), header_names.end());
    const bool decay = features.half_life_seconds > 0;
    const InteractionRowParser parser(find_interaction_columns(header, source_name, reader.delimiter()),
                                      features.event_weights, /*read_timestamps=*/decay);
    if (decay && (!parser.columns().timestamp || !features.decay_now)) {
      throw InvalidInput(source_name + ": --half-life needs a timestamp column");
    }
    Pairs pairs;
    InteractionRow row;
    InteractionRowError error;
    while (reader.next_row(fields)) {
      if (!parser.parse(fields, row, error)) {
        throw InvalidInput(source_name + ":" + std::to_string(reader.line_number()) + ": " + error.detail);
      }
      if (decay) row.weight = static_cast<float>(row.weight * decay_factor(*features.decay_now - row.timestamp, features.half_life_seconds));
      float& weight = pairs[(static_cast<std::uint64_t>(users.intern(row.user_id)) << 32) | videos.intern(row.video_id)];
      weight += row.weight;
      if (!std::isfinite(weight)) {
        throw InvalidInput(source_name + ":" + std::to_string(reader.line_number()) + ": the summed weight of user '" +
                           std::string(row.user_id) + "' on video '" + std::string(row.video_id) +
                           "' overflows a float");
      }
    }
    return pairs;
  };
  const Pairs train_pairs = read(train, train_name);
  const Pairs test_pairs = read(test, test_name);
  // Number users and videos by sorted id over both files, as vr-features numbers one file.
  const auto user_renumbering = users.sort_ids();
  const auto video_renumbering = videos.sort_ids();
  const auto ratings = [&](const Pairs& pairs) {
    std::vector<Rating> result;
    result.reserve(pairs.size());
    for (const auto& [key, weight] : pairs) {
      result.push_back(Rating{user_renumbering[key >> 32], video_renumbering[key & 0xffffffffu], weight});
    }
    return result;
  };
  GivenSplit given = make_given_split(ratings(train_pairs), ratings(test_pairs), static_cast<std::uint32_t>(users.size()),
                                      static_cast<std::uint32_t>(videos.size()));
  given.video_ids = videos.ids();
  return given;
}

GivenSplitFormat detect_given_split_format(const std::string& path) {
  std::ifstream input(path);
  std::string header;
  if (!input || !std::getline(input, header)) throw IoError("cannot read '" + path + "' (or it is empty)");
  std::transform(header.begin(), header.end(), header.begin(), [](unsigned char c) { return std::tolower(c); });
  return header.find("user_idx") != std::string::npos ? GivenSplitFormat::Ratings : GivenSplitFormat::Interactions;
}

GivenSplit load_given_split(const std::string& train_path, const std::string& test_path,
                            const std::string& mappings_path, const FeaturesConfig& features) {
  const GivenSplitFormat format = detect_given_split_format(train_path);
  if (detect_given_split_format(test_path) != format) {
    throw InvalidInput("'" + train_path + "' and '" + test_path +
                       "' are not of one format: give two ratings files (user_idx,video_idx,rating) or two "
                       "interaction logs (user_id,video_id,...)");
  }
  if (format == GivenSplitFormat::Interactions) {
    FeaturesConfig settings = features;
    if (settings.half_life_seconds > 0 && !settings.decay_now) {
      auto input = open_input_file(train_path);
      settings.decay_now = newest_timestamp(input, train_path, false);
    }
    auto train = open_input_file(train_path);
    auto test = open_input_file(test_path);
    return read_given_split(train, train_path, test, test_path, settings);
  }
  const auto read = [](const std::string& path) {
    auto input = open_input_file(path);
    return read_ratings_csv(input, path);
  };
  const std::vector<Rating> train = read(train_path);
  const std::vector<Rating> test = read(test_path);
  std::uint32_t users = std::max(max_user_count(train), max_user_count(test));
  std::uint32_t videos = std::max(max_video_count(train), max_video_count(test));
  std::vector<std::string> video_ids;
  if (!mappings_path.empty()) {
    const Mappings mappings = load_mappings(mappings_path);
    if (users > mappings.users.size() || videos > mappings.videos.size()) {
      throw InvalidInput("'" + train_path + "' or '" + test_path + "' refers to user or video indices that '" +
                         mappings_path + "' does not have (" + std::to_string(users) + " users, " +
                         std::to_string(videos) + " videos needed; mappings hold " +
                         std::to_string(mappings.users.size()) + " and " + std::to_string(mappings.videos.size()) +
                         ")");
    }
    users = static_cast<std::uint32_t>(mappings.users.size());
    videos = static_cast<std::uint32_t>(mappings.videos.size());
    video_ids = mappings.videos.ids();
  }
  GivenSplit given = make_given_split(train, test, users, videos);
  given.video_ids = std::move(video_ids);
  return given;
}

}  // namespace vr
