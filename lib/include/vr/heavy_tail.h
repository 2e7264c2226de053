// Saying when the defaults are wrong for the data: ratings that look like raw play counts
// with a heavy tail make raw confidences (c = alpha * r) let a few pairs outweigh the rest.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "vr/als.h"
#include "vr/ratings.h"

namespace vr {

// The tail is heavy when the largest positive rating is at least this many times the median
// positive rating: star ratings (5 / 4) and summed event weights (tens / a few) stay far below
// it, play counts and watch seconds (thousands / a few) far above.
inline constexpr double kHeavyTailRatio = 100.0;

// The positive ratings' spread.
struct RatingSpread {
  float median = 0;  // of the positive ratings (0 when there are none)
  float largest = 0;
};
RatingSpread rating_spread(const SparseMatrix& ratings);

// One line (no "warning:" prefix) suggesting --scaling log or tuning, when `config` uses raw
// confidences and `ratings` has a heavy tail (largest >= kHeavyTailRatio * median); nullopt
// otherwise (log or binary scaling, or a light tail).
std::optional<std::string> heavy_tail_warning(const SparseMatrix& ratings, const TrainConfig& config);

// Receives such warnings (one line each) for the caller to print.
using WarningCallback = std::function<void(const std::string&)>;

}  // namespace vr
