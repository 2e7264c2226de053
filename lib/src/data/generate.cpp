#include "vr/generate.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "vr/errors.h"

namespace vr {
namespace {

// xoshiro-style speed matters here (tens of millions of rows); mt19937_64 is fast enough and
// specified bit for bit by the standard, so the same seed gives the same file everywhere.
class Random {
 public:
  explicit Random(std::uint64_t seed) : engine_(seed) {}
  double unit() { return static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0); }
  std::uint64_t below(std::uint64_t n) { return engine_() % n; }
  double normal() {
    // Box-Muller, so the output does not depend on the library's normal_distribution.
    const double u1 = std::max(unit(), 1e-300);
    const double u2 = unit();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  std::mt19937_64 engine_;
};

// Samples an index with probability proportional to the weights, by binary search over
// the cumulative sum.
class Sampler {
 public:
  Sampler() = default;
  explicit Sampler(const std::vector<double>& weights) : cumulative_(weights.size()) {
    std::partial_sum(weights.begin(), weights.end(), cumulative_.begin());
  }
  std::size_t sample(Random& random) const {
    const double target = random.unit() * cumulative_.back();
    const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), target);
    return std::min<std::size_t>(static_cast<std::size_t>(it - cumulative_.begin()), cumulative_.size() - 1);
  }
  bool empty() const { return cumulative_.empty(); }

 private:
  std::vector<double> cumulative_;
};

// Formats seconds since 1970 as 2026-01-02T03:04:05Z (Howard Hinnant's civil_from_days).
char* format_timestamp(char* out, std::int64_t seconds) {
  const std::int64_t days = seconds / 86400;
  std::int64_t rest = seconds % 86400;
  const std::int64_t z = days + 719468;
  const std::int64_t era = z / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t year = yoe + era * 400 + (month <= 2);
  auto two = [&](std::int64_t value) {
    *out++ = static_cast<char>('0' + value / 10);
    *out++ = static_cast<char>('0' + value % 10);
  };
  two(year / 100);
  two(year % 100);
  *out++ = '-';
  two(month);
  *out++ = '-';
  two(day);
  *out++ = 'T';
  two(rest / 3600);
  rest %= 3600;
  *out++ = ':';
  two(rest / 60);
  *out++ = ':';
  two(rest % 60);
  *out++ = 'Z';
  return out;
}

}  // namespace

std::uint64_t generate_interactions(std::ostream& output, const GenerateConfig& config) {
  if (config.users == 0 || config.videos == 0 || config.events == 0 || config.tastes == 0) {
    throw InvalidInput("users, videos, events and tastes must all be at least 1");
  }
  if (config.taste_strength < 0 || config.taste_strength > 1) throw InvalidInput("taste strength must be in [0, 1]");
  if (config.zipf_exponent < 0 || config.activity_sigma < 0) throw InvalidInput("exponents must be >= 0");
  Random random(config.seed);
  const std::uint32_t tastes = std::min(config.tastes, config.videos);

  // Popularity rank: a random permutation, so popular videos are spread over taste groups.
  std::vector<std::uint32_t> rank(config.videos);
  std::iota(rank.begin(), rank.end(), 0u);
  for (std::uint32_t i = config.videos; i > 1; --i) std::swap(rank[i - 1], rank[random.below(i)]);
  std::vector<double> popularity(config.videos);
  for (std::uint32_t v = 0; v < config.videos; ++v) {
    popularity[v] = 1.0 / std::pow(static_cast<double>(rank[v]) + 1.0, config.zipf_exponent);
  }
  // Video v belongs to taste group v % tastes.
  std::vector<std::vector<std::uint32_t>> group_videos(tastes);
  std::vector<Sampler> group_samplers(tastes);
  for (std::uint32_t v = 0; v < config.videos; ++v) group_videos[v % tastes].push_back(v);
  for (std::uint32_t g = 0; g < tastes; ++g) {
    std::vector<double> weights;
    for (std::uint32_t v : group_videos[g]) weights.push_back(popularity[v]);
    group_samplers[g] = Sampler(weights);
  }
  const Sampler catalog_sampler(popularity);

  // Pairs per user: log-normal activity, scaled so the expected total matches the events.
  constexpr double kEventsPerPair = 1.4;  // watch, plus like (0.2) and complete (0.2)
  std::vector<double> activity(config.users);
  for (auto& a : activity) a = std::exp(config.activity_sigma * random.normal());
  const double activity_sum = std::accumulate(activity.begin(), activity.end(), 0.0);
  const double target_pairs = static_cast<double>(config.events) / kEventsPerPair;

  const std::int64_t start_time = 1767225600;  // 2026-01-01T00:00:00Z
  std::string buffer;
  buffer.reserve(1 << 21);
  buffer += "user_id,video_id,event,timestamp\n";
  const int user_width = static_cast<int>(std::to_string(config.users).size());
  const int video_width = static_cast<int>(std::to_string(config.videos).size());
  auto append_id = [&](char prefix, std::uint64_t number, int width) {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, number).ptr;
    buffer.push_back(prefix);
    for (int pad = width - static_cast<int>(end - digits); pad > 0; --pad) buffer.push_back('0');
    buffer.append(digits, end);
  };

  std::uint64_t rows = 0, pairs = 0;
  std::unordered_set<std::uint32_t> seen;
  for (std::uint32_t user = 0; user < config.users && rows < config.events; ++user) {
    const std::uint32_t taste = static_cast<std::uint32_t>(random.below(tastes));
    const auto& own_group = group_videos[taste];
    std::uint64_t wanted = static_cast<std::uint64_t>(std::llround(activity[user] / activity_sum * target_pairs));
    wanted = std::clamp<std::uint64_t>(wanted, 1, std::max<std::uint64_t>(1, config.videos / 2));
    seen.clear();
    std::int64_t time = start_time + static_cast<std::int64_t>(random.below(30 * 86400));
    for (std::uint64_t attempt = 0; seen.size() < wanted && attempt < wanted * 20 && rows < config.events; ++attempt) {
      const bool follows_taste = random.unit() < config.taste_strength;
      const std::uint32_t video = follows_taste ? own_group[group_samplers[taste].sample(random)]
                                                : static_cast<std::uint32_t>(catalog_sampler.sample(random));
      if (!seen.insert(video).second) continue;
      ++pairs;
      const bool liked = random.unit() < 0.2;
      const bool completed = random.unit() < 0.2;
      const char* events[3] = {"watch", liked ? "like" : nullptr, completed ? "complete" : nullptr};
      for (const char* event : events) {
        if (event == nullptr || rows >= config.events) continue;
        append_id('u', user + 1, user_width);
        buffer.push_back(',');
        append_id('v', video + 1, video_width);
        buffer.push_back(',');
        buffer += event;
        buffer.push_back(',');
        time += 1 + static_cast<std::int64_t>(random.below(600));
        char stamp[32];
        buffer.append(stamp, format_timestamp(stamp, time));
        buffer.push_back('\n');
        ++rows;
      }
      if (buffer.size() > (1 << 20)) {
        output.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        buffer.clear();
      }
    }
  }
  output.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
  return pairs;
}

}  // namespace vr
