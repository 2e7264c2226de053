// The video factors packed for scoring, and exact top-k search over them.
//
// Videos are stored in panels of 64: panel p holds, for each factor k, the k-th factor of 64
// videos contiguously, so one user's 64 scores fill eight vector registers. Every score is
// computed by one kernel (video_panels.cpp), whatever the query path, so a user's score for
// a video is bit for bit the same in a single query, a batch and either scan mode.
//
// Two layouts, chosen once (ScanMode):
//   Full    videos in index order; a query scores the whole catalog (vr's original path).
//   Pruned  videos in descending order of the norm of their factors (ties by index). A query
//           scores panel by panel from the largest norms and stops when no video left can
//           enter the top k: by Cauchy–Schwarz a video's score is at most |x| |y|, and |y| of
//           every later video is at most the norm of the next panel's first video, so once
//           |x| |y_next| (with a margin for float rounding) is below the k-th best eligible
//           score, the answer is final. Equal scores keep the scan going (the bound must be
//           strictly below), so ties are broken by the lower video index exactly as a full
//           scan breaks them. The answers are identical to Full's, byte for byte.
// Pruning helps when norms are skewed (ALS factors usually are: popular videos have long
// factors); when every norm is about equal or the k-th score is negative it scans the whole
// catalog, still exactly (docs/retrieval.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vr/als.h"
#include "vr/topk.h"

namespace vr {

class EligibleVideos;

// How a catalog is scanned for a user's top k.
enum class ScanMode {
  Full,    // score every video
  Pruned,  // score in norm order, stop when nothing left can win (the default)
};

// Parses "full" or "pruned"; throws InvalidInput otherwise.
ScanMode parse_scan_mode(const std::string& text);
// "full" or "pruned".
const char* scan_mode_name(ScanMode mode);

// How much of the catalog the queries scored (for /metrics and --verbose).
struct ScanCounters {
  std::uint64_t queries = 0;         // top-k searches run
  std::uint64_t videos_scored = 0;   // videos whose score was computed, summed over queries
  std::uint64_t catalog_videos = 0;  // the catalog's size, summed over queries
  // videos_scored / catalog_videos, 0 before any query.
  double share_scanned() const {
    return catalog_videos == 0 ? 0.0 : static_cast<double>(videos_scored) / static_cast<double>(catalog_videos);
  }
};

// Videos to leave out for query `i` of a block: appends indices (any order, duplicates and
// indices past the catalog allowed) to `excluded`.
using BlockExclusions = std::function<void(std::size_t i, std::vector<std::uint32_t>& excluded)>;

class VideoPanels {
 public:
  VideoPanels() = default;
  // Packs `item_factors` (videos x factors) for `mode`. With `penalties` (one per video, each
  // >= 0, vr/popularity_penalty.h), every score becomes x.y_i - penalties[i] (one float
  // subtraction after the kernel) on every path; empty = none, the scores as they were. The
  // pruned scan's bound stays |x| |y|: a penalty >= 0 only lowers a score.
  VideoPanels(const FactorMatrix& item_factors, ScanMode mode, std::vector<float> penalties = {});

  ScanMode mode() const { return mode_; }
  std::size_t videos() const { return videos_; }
  std::size_t factors() const { return factors_; }

  // The k best videos for the user factor `user` (factors() floats), best first, ties by the
  // lower video index; `excluded` (any order, duplicates allowed) never appear and do not
  // count toward k. Fewer than k when fewer are eligible. Adds the number of videos scored to
  // *scored when it is not null. With `eligible` (vr/eligibility.h, one flag per video), the
  // videos it does not allow are left out exactly like excluded ones.
  std::vector<ScoredVideo> top_k(const float* user, int k, std::vector<std::uint32_t> excluded,
                                 std::uint64_t* scored = nullptr, const EligibleVideos* eligible = nullptr) const;

  // top_k for each of `users` (pointers to factors() floats each, at most 64 users so their
  // scores share each panel while it is in L1), with exclusions from `exclusions` (may be
  // empty). Calls consume(i, top) for each user in order; adds to *scored and leaves out what
  // `eligible` does not allow as top_k does.
  void top_k_block(const std::vector<const float*>& users, int k, const BlockExclusions& exclusions,
                   const std::function<void(std::size_t i, std::vector<ScoredVideo>&& top)>& consume,
                   std::uint64_t* scored = nullptr, const EligibleVideos* eligible = nullptr) const;

 private:
  std::vector<ScoredVideo> full_top_k(const float* user, int k, std::vector<std::uint32_t>& excluded,
                                      const EligibleVideos* eligible) const;
  // Full mode: subtracts each video's penalty from `scores` (in video order); none when empty.
  void subtract_penalties(float* scores) const;
  void full_block(const std::vector<const float*>& users, int k, const BlockExclusions& exclusions,
                  const std::function<void(std::size_t, std::vector<ScoredVideo>&&)>& consume,
                  const EligibleVideos* eligible) const;
  void pruned_block(const std::vector<const float*>& users, int k, const BlockExclusions& exclusions,
                    const std::function<void(std::size_t, std::vector<ScoredVideo>&&)>& consume,
                    std::uint64_t* scored, const EligibleVideos* eligible) const;

  ScanMode mode_ = ScanMode::Pruned;
  std::size_t videos_ = 0;
  std::size_t factors_ = 0;
  std::vector<float> panels_;                 // panel-major packed factors, zero-padded
  std::vector<std::uint32_t> video_at_;       // Pruned: position in scan order -> video index
  std::vector<std::uint32_t> position_of_;    // Pruned: video index -> position in scan order
  std::vector<double> panel_bound_norm_;      // Pruned: largest |y| in each panel, rounding margin included
  std::vector<float> penalty_at_;             // subtracted from each score, in scan order (empty = none)
};

}  // namespace vr
