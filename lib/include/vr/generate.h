// vr-generate's logic: synthetic interaction logs with a known structure, for tests and
// benchmarks.
#pragma once

#include <cstdint>
#include <ostream>

namespace vr {

struct GenerateConfig {
  std::uint32_t users = 1000;      // distinct users, >= 1
  std::uint32_t videos = 500;      // distinct videos, >= 1
  std::uint64_t events = 20000;    // event rows to aim for (never more; about this many), >= 1
  std::uint32_t tastes = 10;       // planted taste groups (the true rank), >= 1
  double taste_strength = 0.9;     // probability that a user's pick follows their taste, 0..1
  double zipf_exponent = 1.0;      // video popularity ~ 1 / rank^exponent, >= 0
  double activity_sigma = 1.0;     // log-normal sigma of per-user activity, >= 0
  std::uint64_t seed = 1;          // same seed, same output
};

// Writes `user_id,video_id,event,timestamp` rows (ISO 8601 UTC timestamps). Each sampled
// (user, video) pair produces a watch, then a like with probability 0.2 and a complete with
// probability 0.2, so the aggregated weights have mean 2 with the default weights. Users
// pick videos from their taste group with probability taste_strength, otherwise from the
// whole catalog; within a group, by Zipf popularity. Throws InvalidInput on a bad config.
// Returns the number of distinct (user, video) pairs written.
std::uint64_t generate_interactions(std::ostream& output, const GenerateConfig& config);

}  // namespace vr
