#include "vr/heavy_tail.h"

#include <algorithm>
#include <sstream>
#include <vector>

namespace vr {

RatingSpread rating_spread(const SparseMatrix& ratings) {
  std::vector<float> positive;
  positive.reserve(ratings.values.size());
  for (const float value : ratings.values) {
    if (value > 0) positive.push_back(value);
  }
  RatingSpread spread;
  if (positive.empty()) return spread;
  const auto middle = positive.begin() + static_cast<std::ptrdiff_t>(positive.size() / 2);
  std::nth_element(positive.begin(), middle, positive.end());
  spread.median = *middle;
  spread.largest = *std::max_element(positive.begin(), positive.end());
  return spread;
}

std::optional<std::string> heavy_tail_warning(const SparseMatrix& ratings, const TrainConfig& config) {
  if (config.scaling != ConfidenceScaling::Raw) return std::nullopt;
  const RatingSpread spread = rating_spread(ratings);
  if (!(spread.median > 0) || spread.largest < kHeavyTailRatio * spread.median) return std::nullopt;
  std::ostringstream line;
  line << "the ratings look like raw counts with a heavy tail (median " << spread.median << ", largest "
       << spread.largest << "): with --scaling raw a few pairs' confidences (alpha * r) outweigh all the others; "
       << "try --scaling log, or vr-evaluate --tune";
  return line.str();
}

}  // namespace vr
