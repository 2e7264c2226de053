#include "vr/stable_ids.h"

#include <algorithm>

#include "vr/errors.h"

namespace vr {

StableNumbering keep_previous_indices(const IdMap& previous, const IdMap& today) {
  StableNumbering numbering;
  numbering.ids = previous;
  numbering.stable_index.resize(today.size());
  std::size_t kept = 0;
  for (std::uint32_t index = 0; index < today.size(); ++index) {
    const std::size_t before = numbering.ids.size();
    numbering.stable_index[index] = numbering.ids.intern(today.id(index));
    if (numbering.ids.size() > before) {
      ++numbering.added;
    } else {
      ++kept;
    }
  }
  numbering.absent = previous.size() - kept;
  return numbering;
}

void renumber_ratings(std::vector<Rating>& ratings, const std::vector<std::uint32_t>& user_index,
                      const std::vector<std::uint32_t>& video_index) {
  for (Rating& rating : ratings) {
    rating.user = user_index[rating.user];
    rating.video = video_index[rating.video];
  }
  std::sort(ratings.begin(), ratings.end(), [](const Rating& left, const Rating& right) {
    return left.user != right.user ? left.user < right.user : left.video < right.video;
  });
}

namespace {
void check_ids_prefix(const IdMap& previous, const std::string& previous_name, const IdMap& today,
                      const std::string& today_name, const char* kind) {
  const auto mismatch = [&](const std::string& detail) {
    return InvalidInput("'" + previous_name + "' is not a prefix of '" + today_name + "': " + detail +
                        "; make today's mappings with vr-features --mappings-from '" + previous_name +
                        "' (or train from scratch)");
  };
  if (previous.size() > today.size()) {
    throw mismatch(std::string("it has ") + std::to_string(previous.size()) + " " + kind + "s, today's only " +
                   std::to_string(today.size()));
  }
  for (std::uint32_t index = 0; index < previous.size(); ++index) {
    if (previous.id(index) != today.id(index)) {
      throw mismatch(std::string(kind) + " index " + std::to_string(index) + " is '" + previous.id(index) +
                     "' there and '" + today.id(index) + "' today");
    }
  }
}
}  // namespace

void check_mappings_prefix(const Mappings& previous, const std::string& previous_name, const Mappings& today,
                           const std::string& today_name) {
  check_ids_prefix(previous.users, previous_name, today.users, today_name, "user");
  check_ids_prefix(previous.videos, previous_name, today.videos, today_name, "video");
}

}  // namespace vr
