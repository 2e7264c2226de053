#include "vr/video_panels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>

#if defined(__FMA__) && defined(__AVX__)
#include <immintrin.h>
#endif

#include "vr/eligibility.h"
#include "vr/errors.h"

namespace vr {
namespace {

// Videos per panel of the packed item factors: a user's 64 scores fill 8 vector registers.
constexpr std::size_t kVideosPerPanel = 64;

// Eight floats in one vector register (GCC/Clang vector extension).
typedef float Float8 __attribute__((vector_size(32)));
constexpr std::size_t kFloat8PerPanelRow = kVideosPerPanel / 8;

// Loads eight floats from any address (memcpy compiles to one unaligned vector load; a
// Float8* dereference would assume 32-byte alignment).
inline Float8 load_float8(const float* values) {
  Float8 loaded;
  std::memcpy(&loaded, values, sizeof(loaded));
  return loaded;
}

// a + x * r in every lane, rounded once (fused) where the CPU has FMA and twice where it has
// not: as Eigen's products round it (its pmadd is an explicit fused multiply-add under FMA), so
// vr-evaluate's block products (top_k_all_users) and these panels give the same bits. Written
// as `a += x * r`, the fusing would be the optimiser's choice: GCC fuses at -O2 and above but
// not at -O1, where the panels' scores then differed from Eigen's in the last bit.
inline Float8 multiply_add(float x, const Float8& r, const Float8& a) {
#if defined(__FMA__) && defined(__AVX__)
  return _mm256_fmadd_ps(_mm256_set1_ps(x), r, a);
#elif defined(__FP_FAST_FMAF)
  Float8 result;
  for (int lane = 0; lane < 8; ++lane) result[lane] = __builtin_fmaf(x, r[lane], a[lane]);
  return result;
#else
  return a + x * r;  // no fused multiply-add instruction: nothing can fuse it
#endif
}

// Scores are computed by this one kernel for single queries, batches and both scan modes, so
// a user's score for a video is bit for bit the same on every path (Eigen's matrix-matrix and
// matrix-vector products round differently, and differently again by block shape). Each lane
// (video) accumulates over the factors in the same order wherever its panel sits, and the
// kernel is kept out of line so that one compiled copy serves every caller. It scores two
// users against one panel: each panel row loaded feeds 16 independent multiply-adds, enough
// to keep both FMA units busy; a single query passes the same user twice.
__attribute__((noinline)) void score_panel_for_two_users(const float* first_user, const float* second_user,
                                                         const float* panel, std::size_t factors,
                                                         float* first_scores, float* second_scores) {
  Float8 a0 = {}, a1 = {}, a2 = {}, a3 = {}, a4 = {}, a5 = {}, a6 = {}, a7 = {};
  Float8 b0 = {}, b1 = {}, b2 = {}, b3 = {}, b4 = {}, b5 = {}, b6 = {}, b7 = {};
  for (std::size_t k = 0; k < factors; ++k) {
    const float* row = panel + k * kVideosPerPanel;
    const Float8 r0 = load_float8(row), r1 = load_float8(row + 8), r2 = load_float8(row + 16),
                 r3 = load_float8(row + 24), r4 = load_float8(row + 32), r5 = load_float8(row + 40),
                 r6 = load_float8(row + 48), r7 = load_float8(row + 56);
    const float x = first_user[k];
    const float y = second_user[k];
    a0 = multiply_add(x, r0, a0); a1 = multiply_add(x, r1, a1); a2 = multiply_add(x, r2, a2);
    a3 = multiply_add(x, r3, a3); a4 = multiply_add(x, r4, a4); a5 = multiply_add(x, r5, a5);
    a6 = multiply_add(x, r6, a6); a7 = multiply_add(x, r7, a7);
    b0 = multiply_add(y, r0, b0); b1 = multiply_add(y, r1, b1); b2 = multiply_add(y, r2, b2);
    b3 = multiply_add(y, r3, b3); b4 = multiply_add(y, r4, b4); b5 = multiply_add(y, r5, b5);
    b6 = multiply_add(y, r6, b6); b7 = multiply_add(y, r7, b7);
  }
  const Float8 first[kFloat8PerPanelRow] = {a0, a1, a2, a3, a4, a5, a6, a7};
  const Float8 second[kFloat8PerPanelRow] = {b0, b1, b2, b3, b4, b5, b6, b7};
  std::memcpy(first_scores, first, sizeof(first));
  std::memcpy(second_scores, second, sizeof(second));
}

std::size_t panel_count(std::size_t videos) { return (videos + kVideosPerPanel - 1) / kVideosPerPanel; }

// Sorted, duplicate-free, within [0, videos).
void normalise_exclusions(std::vector<std::uint32_t>& excluded, std::size_t videos) {
  std::sort(excluded.begin(), excluded.end());
  excluded.erase(std::unique(excluded.begin(), excluded.end()), excluded.end());
  while (!excluded.empty() && excluded.back() >= videos) excluded.pop_back();
}

// How many videos a query may return: those neither in `excluded` (normalised) nor left out
// by `eligible`.
std::size_t available_videos(std::size_t videos, const std::vector<std::uint32_t>& excluded,
                             const EligibleVideos* eligible) {
  if (eligible == nullptr) return videos - excluded.size();
  std::size_t excluded_eligible = 0;
  for (const std::uint32_t video : excluded) excluded_eligible += eligible->allows(video) ? 1 : 0;
  return eligible->eligible_count() - excluded_eligible;
}

// select_top_k over the videos not in `excluded` (sorted, unique, in range), fast: excluded
// scores become -infinity, and only videos scoring at least the k-th largest of the 64-video
// panels' maxima can be in the top k (those k panels hold k distinct videos at or above it),
// so just those candidates go to select_top_k, in video order so that its tie-breaking by
// lower index is kept. `scores` has panel_count(n_videos) * 64 entries and is overwritten.
// Videos `eligible` (may be null) does not allow are excluded as well.
std::vector<ScoredVideo> top_k_without(float* scores, std::uint32_t n_videos, int k,
                                       const std::vector<std::uint32_t>& excluded, const EligibleVideos* eligible) {
  constexpr float kExcludedScore = -std::numeric_limits<float>::infinity();
  for (const std::uint32_t video : excluded) scores[video] = kExcludedScore;
  if (eligible != nullptr) {
    for (std::uint32_t video = 0; video < n_videos; ++video) {
      if (!eligible->allows(video)) scores[video] = kExcludedScore;
    }
  }
  const std::size_t wanted =
      std::min<std::size_t>(static_cast<std::size_t>(k), available_videos(n_videos, excluded, eligible));
  const std::size_t panels = panel_count(n_videos);
  if (wanted == 0 || wanted > panels / 4) return select_top_k(scores, n_videos, static_cast<int>(wanted), {});

  // The padding past the last video must never be a candidate.
  std::fill(scores + n_videos, scores + panels * kVideosPerPanel, kExcludedScore);
  std::vector<float> panel_maxima(panels);
  for (std::size_t panel = 0; panel < panels; ++panel) {
    const float* values = scores + panel * kVideosPerPanel;
    Float8 maximum = load_float8(values);
    for (std::size_t i = 1; i < kFloat8PerPanelRow; ++i) {
      const Float8 next = load_float8(values + 8 * i);
      maximum = maximum > next ? maximum : next;
    }
    float panel_maximum = maximum[0];
    for (int lane = 1; lane < 8; ++lane) panel_maximum = std::max(panel_maximum, maximum[lane]);
    panel_maxima[panel] = panel_maximum;
  }
  std::vector<float> sorted_maxima = panel_maxima;
  std::nth_element(sorted_maxima.begin(), sorted_maxima.begin() + static_cast<std::ptrdiff_t>(wanted - 1),
                   sorted_maxima.end(), std::greater<float>());
  const float threshold = sorted_maxima[wanted - 1];
  std::vector<float> candidate_scores;
  std::vector<std::uint32_t> candidate_videos;
  for (std::size_t panel = 0; panel < panels; ++panel) {
    if (panel_maxima[panel] < threshold) continue;
    for (std::size_t video = panel * kVideosPerPanel; video < (panel + 1) * kVideosPerPanel; ++video) {
      if (scores[video] >= threshold && scores[video] != kExcludedScore) {
        candidate_scores.push_back(scores[video]);
        candidate_videos.push_back(static_cast<std::uint32_t>(video));
      }
    }
  }
  auto top = select_top_k(candidate_scores.data(), static_cast<std::uint32_t>(candidate_scores.size()),
                          static_cast<int>(wanted), {});
  for (auto& scored : top) scored.video = candidate_videos[scored.video];
  return top;
}

// Euclidean norm in double: exact enough that only the float rounding of the scores needs a
// margin.
double norm_of(const float* values, std::size_t count) {
  double sum = 0;
  for (std::size_t i = 0; i < count; ++i) sum += static_cast<double>(values[i]) * values[i];
  return std::sqrt(sum);
}

// One user's pruned search: the best videos so far as a min-heap by ranks_before (the worst kept
// on top), and a cursor over its excluded scan positions.
struct PrunedSearch {
  const float* user = nullptr;
  double norm = 0;
  std::vector<std::uint32_t> skip;  // excluded videos' positions in scan order, sorted
  std::size_t skip_cursor = 0;
  std::size_t limit = 0;            // k, or fewer when fewer videos are eligible
  std::vector<ScoredVideo> heap;
  bool active = true;
  std::uint64_t scored = 0;

  // Nothing at or after the panel whose largest norm (margin included) is `panel_norm` can
  // enter the heap: the heap is full and |x| times that norm is below its worst score.
  bool finished_before(double panel_norm) const {
    return heap.size() == limit && norm * panel_norm < static_cast<double>(heap.front().score);
  }

  void offer(const ScoredVideo& candidate) { offer_to_top(heap, limit, candidate); }
};

}  // namespace

ScanMode parse_scan_mode(const std::string& text) {
  if (text == "full") return ScanMode::Full;
  if (text == "pruned") return ScanMode::Pruned;
  throw InvalidInput("scan mode must be full or pruned, not '" + text + "'");
}

const char* scan_mode_name(ScanMode mode) { return mode == ScanMode::Full ? "full" : "pruned"; }

VideoPanels::VideoPanels(const FactorMatrix& item_factors, ScanMode mode, std::vector<float> penalties)
    : mode_(mode),
      videos_(static_cast<std::size_t>(item_factors.rows())),
      factors_(static_cast<std::size_t>(item_factors.cols())) {
  std::vector<std::uint32_t> order(videos_);
  std::iota(order.begin(), order.end(), 0u);
  if (mode_ == ScanMode::Pruned) {
    std::vector<double> norms(videos_);
    for (std::size_t video = 0; video < videos_; ++video) {
      norms[video] = item_factors.row(static_cast<Eigen::Index>(video)).cast<double>().norm();
    }
    std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
      return norms[a] > norms[b] || (norms[a] == norms[b] && a < b);
    });
    video_at_ = order;
    position_of_.resize(videos_);
    for (std::size_t position = 0; position < videos_; ++position) position_of_[order[position]] = static_cast<std::uint32_t>(position);
    // A float dot product of n terms is within n * 2^-24 (relative, for n * 2^-24 << 1) of
    // |x| |y| times the exact one; twice that margin covers it with room to spare.
    const double margin = 1.0 + static_cast<double>(factors_ + 2) * std::ldexp(1.0, -23);
    panel_bound_norm_.resize(panel_count(videos_));
    for (std::size_t panel = 0; panel < panel_bound_norm_.size(); ++panel) {
      panel_bound_norm_[panel] = norms[order[panel * kVideosPerPanel]] * margin;
    }
  }
  if (!penalties.empty()) {
    if (penalties.size() != videos_) {
      throw InvalidInput("popularity penalties for " + std::to_string(penalties.size()) + " videos, the model has " +
                         std::to_string(videos_));
    }
    // A negative penalty would raise a score past the |x| |y| bound and break the pruned scan.
    for (const float penalty : penalties) {
      if (!(penalty >= 0.0f && std::isfinite(penalty))) throw InvalidInput("a popularity penalty must be finite and >= 0");
    }
    penalty_at_.resize(videos_);
    for (std::size_t position = 0; position < videos_; ++position) penalty_at_[position] = penalties[order[position]];
  }
  panels_.assign(panel_count(videos_) * factors_ * kVideosPerPanel, 0.0f);
  for (std::size_t position = 0; position < videos_; ++position) {
    float* panel = panels_.data() + (position / kVideosPerPanel) * factors_ * kVideosPerPanel;
    for (std::size_t k = 0; k < factors_; ++k) {
      panel[k * kVideosPerPanel + position % kVideosPerPanel] =
          item_factors(static_cast<Eigen::Index>(order[position]), static_cast<Eigen::Index>(k));
    }
  }
}

std::vector<ScoredVideo> VideoPanels::top_k(const float* user, int k, std::vector<std::uint32_t> excluded,
                                            std::uint64_t* scored, const EligibleVideos* eligible) const {
  if (mode_ == ScanMode::Full) {
    normalise_exclusions(excluded, videos_);
    if (scored != nullptr) *scored += videos_;
    return full_top_k(user, k, excluded, eligible);
  }
  std::vector<ScoredVideo> result;
  pruned_block({user}, k, [&](std::size_t, std::vector<std::uint32_t>& out) { out = excluded; },
               [&](std::size_t, std::vector<ScoredVideo>&& top) { result = std::move(top); }, scored, eligible);
  return result;
}

void VideoPanels::top_k_block(const std::vector<const float*>& users, int k, const BlockExclusions& exclusions,
                              const std::function<void(std::size_t, std::vector<ScoredVideo>&&)>& consume,
                              std::uint64_t* scored, const EligibleVideos* eligible) const {
  if (mode_ == ScanMode::Pruned) {
    pruned_block(users, k, exclusions, consume, scored, eligible);
    return;
  }
  if (scored != nullptr) *scored += videos_ * users.size();
  full_block(users, k, exclusions, consume, eligible);
}

std::vector<ScoredVideo> VideoPanels::full_top_k(const float* user, int k, std::vector<std::uint32_t>& excluded,
                                                 const EligibleVideos* eligible) const {
  const std::size_t panel_size = factors_ * kVideosPerPanel;
  std::vector<float> scores(panel_count(videos_) * kVideosPerPanel);
  for (std::size_t panel = 0; panel * panel_size < panels_.size(); ++panel) {
    float* panel_scores = scores.data() + panel * kVideosPerPanel;
    score_panel_for_two_users(user, user, panels_.data() + panel * panel_size, factors_, panel_scores, panel_scores);
  }
  subtract_penalties(scores.data());
  return top_k_without(scores.data(), static_cast<std::uint32_t>(videos_), k, excluded, eligible);
}

void VideoPanels::subtract_penalties(float* scores) const {
  // Full mode's scan order is the video order.
  for (std::size_t video = 0; video < penalty_at_.size(); ++video) scores[video] -= penalty_at_[video];
}

void VideoPanels::full_block(const std::vector<const float*>& users, int k, const BlockExclusions& exclusions,
                             const std::function<void(std::size_t, std::vector<ScoredVideo>&&)>& consume,
                             const EligibleVideos* eligible) const {
  // Panel-major over the block: each panel is reused from L1 by every user of the block.
  const std::size_t panels = panel_count(videos_);
  const std::size_t panel_size = factors_ * kVideosPerPanel;
  const std::size_t stride = panels * kVideosPerPanel;
  std::vector<float> scores(users.size() * stride);
  for (std::size_t panel = 0; panel < panels; ++panel) {
    for (std::size_t first = 0; first < users.size(); first += 2) {
      const std::size_t second = first + 1 < users.size() ? first + 1 : first;
      score_panel_for_two_users(users[first], users[second], panels_.data() + panel * panel_size, factors_,
                                scores.data() + first * stride + panel * kVideosPerPanel,
                                scores.data() + second * stride + panel * kVideosPerPanel);
    }
  }
  std::vector<std::uint32_t> excluded;
  for (std::size_t i = 0; i < users.size(); ++i) {
    excluded.clear();
    if (exclusions) exclusions(i, excluded);
    normalise_exclusions(excluded, videos_);
    subtract_penalties(scores.data() + i * stride);
    consume(i, top_k_without(scores.data() + i * stride, static_cast<std::uint32_t>(videos_), k, excluded, eligible));
  }
}

void VideoPanels::pruned_block(const std::vector<const float*>& users, int k, const BlockExclusions& exclusions,
                               const std::function<void(std::size_t, std::vector<ScoredVideo>&&)>& consume,
                               std::uint64_t* scored, const EligibleVideos* eligible) const {
  std::vector<PrunedSearch> searches(users.size());
  std::vector<std::uint32_t> excluded;
  for (std::size_t i = 0; i < users.size(); ++i) {
    PrunedSearch& search = searches[i];
    search.user = users[i];
    search.norm = norm_of(users[i], factors_);
    excluded.clear();
    if (exclusions) exclusions(i, excluded);
    normalise_exclusions(excluded, videos_);
    search.skip.reserve(excluded.size());
    for (const std::uint32_t video : excluded) search.skip.push_back(position_of_[video]);
    std::sort(search.skip.begin(), search.skip.end());
    search.limit = k <= 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(k), available_videos(videos_, excluded, eligible));
    search.active = search.limit > 0;
    search.heap.reserve(search.limit + 1);
  }
  const std::size_t panels = panel_count(videos_);
  const std::size_t panel_size = factors_ * kVideosPerPanel;
  std::vector<std::size_t> active;
  float first_scores[kVideosPerPanel];
  float second_scores[kVideosPerPanel];
  const auto offer_panel = [&](PrunedSearch& search, std::size_t panel, const float* scores) {
    const std::size_t begin = panel * kVideosPerPanel;
    const std::size_t lanes = std::min(kVideosPerPanel, videos_ - begin);
    search.scored += lanes;
    for (std::size_t lane = 0; lane < lanes; ++lane) {
      const std::size_t position = begin + lane;
      if (search.skip_cursor < search.skip.size() && search.skip[search.skip_cursor] == position) {
        ++search.skip_cursor;
        continue;
      }
      // Ineligible videos are skipped like excluded ones: they never enter the heap, so they
      // never count toward k nor raise the bound that stops the scan.
      if (eligible != nullptr && !eligible->allows(video_at_[position])) continue;
      // A penalty >= 0 only lowers the score, so the |x| |y| bound that stops the scan holds.
      const float score = penalty_at_.empty() ? scores[lane] : scores[lane] - penalty_at_[position];
      // Most videos lose to the heap's worst at once; only the rest pay for the comparison.
      if (search.heap.size() == search.limit && score < search.heap.front().score) continue;
      search.offer(ScoredVideo{video_at_[position], score});
    }
  };
  for (std::size_t panel = 0; panel < panels; ++panel) {
    active.clear();
    for (std::size_t i = 0; i < searches.size(); ++i) {
      PrunedSearch& search = searches[i];
      if (search.active && search.finished_before(panel_bound_norm_[panel])) search.active = false;
      if (search.active) active.push_back(i);
    }
    if (active.empty()) break;
    const float* panel_factors = panels_.data() + panel * panel_size;
    for (std::size_t a = 0; a < active.size(); a += 2) {
      PrunedSearch& first = searches[active[a]];
      PrunedSearch* second = a + 1 < active.size() ? &searches[active[a + 1]] : nullptr;
      score_panel_for_two_users(first.user, second != nullptr ? second->user : first.user, panel_factors, factors_,
                                first_scores, second_scores);
      offer_panel(first, panel, first_scores);
      if (second != nullptr) offer_panel(*second, panel, second_scores);
    }
  }
  for (std::size_t i = 0; i < searches.size(); ++i) {
    PrunedSearch& search = searches[i];
    if (scored != nullptr) *scored += search.scored;
    std::sort(search.heap.begin(), search.heap.end(), ranks_before);
    consume(i, std::move(search.heap));
  }
}

}  // namespace vr
