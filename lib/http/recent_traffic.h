// The last minutes of traffic, for the dashboard's live panel (/ui): per route and per
// 10-second slot, requests, client and server errors and a latency histogram, in a ring of
// slots covering kSlots * kSlotSeconds seconds; plus the latest model loads and reloads.
// Thread-safe; recording is a short critical section per request.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace vr::http {

// One model load or reload attempt.
struct ReloadEvent {
  std::int64_t unix_seconds = 0;  // when it finished
  bool succeeded = false;
  std::string trigger;            // "start-up", "SIGHUP" or "directory change"
  std::string version;            // the version loaded (empty when it failed)
};

class RecentTraffic {
 public:
  static constexpr int kSlotSeconds = 10;
  static constexpr int kSlots = 30;        // 5 minutes
  static constexpr std::size_t kReloadsKept = 20;
  // Upper bounds of the latency buckets, in seconds (the last bucket is everything above).
  static constexpr std::array<double, 14> kBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                   0.1,    0.25,  0.5,    1.0,   2.5,   5.0,  10.0};

  // Counts one answered request at `now_unix` (seconds since the epoch).
  void record(const std::string& route, int status, double seconds, double now_unix);
  // Remembers a load or reload (the newest kReloadsKept are kept).
  void record_reload(const ReloadEvent& event);

  // The window ending at `now_unix` as JSON:
  //   {"window_seconds", "slot_seconds",
  //    "routes": [{"route", "requests", "per_second", "client_errors", "server_errors",
  //                "p50_ms", "p95_ms", "p99_ms"}...],   (percentiles null without requests)
  //    "series": [{"start": unix seconds, "requests", "errors"}...]  (oldest first, kSlots),
  //    "reloads": [{"time": unix seconds, "succeeded", "trigger", "version"}...]  (newest first)}
  // per_second divides by the part of the window since `started_unix` (at least one slot).
  nlohmann::json window(double now_unix, double started_unix) const;

 private:
  struct RouteSlot {
    std::uint64_t requests = 0;
    std::uint64_t client_errors = 0;  // 4xx
    std::uint64_t server_errors = 0;  // 5xx
    std::array<std::uint64_t, kBuckets.size() + 1> latency{};
  };
  struct Slot {
    std::int64_t index = -1;  // unix seconds / kSlotSeconds; -1 = never used
    std::map<std::string, RouteSlot> routes;
  };

  mutable std::mutex mutex_;
  std::array<Slot, kSlots> slots_;
  std::deque<ReloadEvent> reloads_;  // newest first
};

// The q-quantile (0 < q < 1) of a latency histogram with RecentTraffic::kBuckets' bounds, in
// seconds, interpolated linearly inside the bucket it falls in; the last bound for the
// overflow bucket; negative when the histogram is empty.
double histogram_quantile(const std::array<std::uint64_t, RecentTraffic::kBuckets.size() + 1>& counts, double q);

}  // namespace vr::http
