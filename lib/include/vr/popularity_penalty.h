// A re-ranking knob for exposure of the long tail: every video's score is lowered by a penalty
// that grows with the video's popularity in the training data,
//
//   score'(u, i) = score(u, i) - beta * ln(1 + n_i),
//
// n_i the number of users with a positive training rating on video i, beta >= 0. The penalty is
// computed in double and rounded once to float; score' is one float subtraction, so every path
// (full or pruned scan, single query or block) ranks by the same bits. beta = 0 is off: no
// penalty is built and every answer is exactly what it was without the option. Measured on
// nDCG@K and long-tail coverage by vr-evaluate --popularity-penalty (docs/vr-evaluate.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vr/ranking_metrics.h"
#include "vr/ratings.h"
#include "vr/topk.h"

namespace vr {

// The formula as the reports print it.
inline constexpr const char* kPopularityPenaltyFormula =
    "score - beta * ln(1 + n), n = the video's users with a positive training rating";

// The number of users with a positive rating on each video of `train` (users x videos).
std::vector<std::uint32_t> video_rating_counts(const SparseMatrix& train);

// The per-video penalty beta * ln(1 + n_i) as floats, one per video of `train`; empty when
// beta is 0 (off). Throws InvalidInput when beta is negative or not finite.
std::vector<float> popularity_penalties(const SparseMatrix& train, double beta);

// Throws InvalidInput unless `beta` is finite and >= 0 (names it as `what`, e.g. the flag).
void validate_popularity_penalty(double beta, const std::string& what = "popularity penalty");

// Parses one beta ("0.5"); throws InvalidInput naming `what` for text that is not a number,
// and as validate_popularity_penalty(beta, what) does for one that is not finite or below 0.
double parse_popularity_penalty(const std::string& text, const std::string& what = "--popularity-penalty");

// The long tail of `train`: one flag per video, set for the videos outside the 20 % most
// popular by the number of users with a positive rating (ties to the lower index counted
// popular first), as vr-evaluate's report deciles define it.
std::vector<char> long_tail_videos(const SparseMatrix& train);

// Share of the long-tail videos (flags from long_tail_videos) that appear in at least one
// user's first k recommendations; 0 when there is no long tail.
double long_tail_coverage_at(const std::vector<std::vector<ScoredVideo>>& recommended,
                             const std::vector<char>& long_tail, int k);

}  // namespace vr
