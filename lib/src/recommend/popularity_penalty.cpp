#include "vr/popularity_penalty.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <sstream>

#include "vr/errors.h"

namespace vr {

std::vector<std::uint32_t> video_rating_counts(const SparseMatrix& train) {
  std::vector<std::uint32_t> counts(train.cols, 0);
  for (std::uint64_t k = 0; k < train.nnz(); ++k) {
    if (train.values[k] > 0) ++counts[train.col_indices[k]];
  }
  return counts;
}

void validate_popularity_penalty(double beta, const std::string& what) {
  if (!std::isfinite(beta) || beta < 0) {
    // "-1", "inf", "-1e-09" rather than std::to_string's "-1.000000", "-0.000000".
    std::ostringstream shown;
    shown << beta;
    throw InvalidInput(what + " must be a finite number >= 0 (got " + shown.str() + ")");
  }
}

double parse_popularity_penalty(const std::string& text, const std::string& what) {
  const char* begin = text.c_str();
  char* end = nullptr;
  const double beta = std::strtod(begin, &end);
  if (text.empty() || end != begin + text.size()) {
    throw InvalidInput(what + ": '" + text + "' is not a number >= 0 (the penalty's beta; 0 = off)");
  }
  validate_popularity_penalty(beta, what);
  return beta;
}

std::vector<float> popularity_penalties(const SparseMatrix& train, double beta) {
  validate_popularity_penalty(beta);
  if (beta == 0) return {};
  const std::vector<std::uint32_t> counts = video_rating_counts(train);
  std::vector<float> penalties(counts.size());
  for (std::size_t video = 0; video < counts.size(); ++video) {
    penalties[video] = static_cast<float>(beta * std::log1p(static_cast<double>(counts[video])));
  }
  return penalties;
}

std::vector<char> long_tail_videos(const SparseMatrix& train) {
  const std::vector<std::uint32_t> counts = video_rating_counts(train);
  std::vector<std::uint32_t> order(counts.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return counts[a] > counts[b]; });
  // Deciles 2 to 9 of the popularity order, exactly as the report's popularity deciles.
  std::vector<char> long_tail(counts.size(), 0);
  for (std::size_t rank = 0; rank < order.size(); ++rank) long_tail[order[rank]] = rank * 10 / order.size() >= 2;
  return long_tail;
}

double long_tail_coverage_at(const std::vector<std::vector<ScoredVideo>>& recommended,
                             const std::vector<char>& long_tail, int k) {
  std::vector<char> reached(long_tail.size(), 0);
  for (const auto& list : recommended) {
    for (std::size_t rank = 0; rank < list.size() && rank < static_cast<std::size_t>(k); ++rank) {
      if (list[rank].video < reached.size()) reached[list[rank].video] = 1;
    }
  }
  std::uint64_t tail = 0, tail_reached = 0;
  for (std::size_t video = 0; video < long_tail.size(); ++video) {
    if (!long_tail[video]) continue;
    ++tail;
    tail_reached += reached[video] != 0;
  }
  return tail > 0 ? static_cast<double>(tail_reached) / static_cast<double>(tail) : 0.0;
}

}  // namespace vr
