// popular.csv, written by vr-features --popular-window: the videos ranked by the number of
// distinct users with a positive event in the last DURATION, for the popular answer of
// vr-serve and vr-recommend --unknown-user popular (vr/popular.h reads it).
//
//   video_id,users        header
//   v042,17               one row per video with at least one recent user, most users
//   v007,12               first, ties in id byte order; ids with a comma, a double quote
//   ...                   or a line break are quoted ("a,b", "say ""hi""")
#pragma once

#include <cstdint>
#include <ostream>
#include <vector>

#include "vr/id_map.h"

namespace vr {

inline constexpr const char* kPopularFileName = "popular.csv";

// Writes popular.csv from `users_per_video` (index i = video i of `videos`, whose index order
// is id order).
void write_popular_csv(std::ostream& output, const IdMap& videos, const std::vector<std::uint32_t>& users_per_video);

}  // namespace vr
