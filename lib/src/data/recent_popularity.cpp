#include "vr/recent_popularity.h"

#include <algorithm>
#include <numeric>

namespace vr {

void write_popular_csv(std::ostream& output, const IdMap& videos, const std::vector<std::uint32_t>& users_per_video) {
  std::vector<std::uint32_t> order(users_per_video.size());
  std::iota(order.begin(), order.end(), 0u);
  order.erase(std::remove_if(order.begin(), order.end(), [&](std::uint32_t video) { return users_per_video[video] == 0; }),
              order.end());
  std::stable_sort(order.begin(), order.end(),
                   [&](std::uint32_t a, std::uint32_t b) { return users_per_video[a] > users_per_video[b]; });
  output << "video_id,users\n";
  for (const std::uint32_t video : order) {
    const std::string& id = videos.id(video);
    if (id.find_first_of(",\"\r\n") == std::string::npos) {
      output << id;
    } else {
      output << '"';
      for (const char c : id) output << (c == '"' ? "\"\"" : std::string(1, c));
      output << '"';
    }
    output << ',' << users_per_video[video] << '\n';
  }
}

}  // namespace vr
