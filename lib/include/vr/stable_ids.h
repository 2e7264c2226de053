// Stable indices across runs: today's ids numbered so that every id an earlier run knew keeps
// its index (vr-features --mappings-from), and the check that a model's mappings are a prefix
// of today's (vr-train --init-from).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vr/id_map.h"
#include "vr/mappings.h"
#include "vr/ratings.h"

namespace vr {

// Today's ids renumbered against an earlier run's.
struct StableNumbering {
  IdMap ids;                                 // previous ids at their indices, then the new ones
  std::vector<std::uint32_t> stable_index;   // today's index -> index in `ids`
  std::size_t added = 0;                     // ids not in `previous`
  std::size_t absent = 0;                    // ids of `previous` missing today (kept, with no ratings)
};

// Keeps every id of `previous` at its index (also those absent from `today`) and appends the
// ids only `today` has, in `today`'s index order (vr-features sorts ids by bytes, so the order
// is deterministic).
StableNumbering keep_previous_indices(const IdMap& previous, const IdMap& today);

// Rewrites the indices of `ratings` through the two numberings and sorts them by user, then
// video, as ratings.csv is.
void renumber_ratings(std::vector<Rating>& ratings, const std::vector<std::uint32_t>& user_index,
                      const std::vector<std::uint32_t>& video_index);

// Throws InvalidInput, naming both files, unless `previous`'s users and videos are the first
// ids of `today`'s at the same indices (what vr-features --mappings-from guarantees).
void check_mappings_prefix(const Mappings& previous, const std::string& previous_name, const Mappings& today,
                           const std::string& today_name);

}  // namespace vr
