// Request counters and latency histograms for GET /metrics, in Prometheus text format.
// Thread-safe; recording is a short critical section per request.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "recent_traffic.h"

namespace vr::http {

// What /metrics reports about the model being served.
struct ModelGauges {
  bool ready = false;            // a model is loaded
  std::string version;           // als_model.bin's checksum
  std::string directory;         // the resolved model directory (only its last component is shown)
  double load_seconds = 0;       // time taken to load it
  std::int64_t loaded_at_unix = 0;
  std::uint64_t users = 0;
  std::uint64_t videos = 0;
  bool precomputed = false;      // its table of every user's top videos is ready
  int precomputed_depth = 0;     // videos per user in it
  std::size_t precomputed_bytes = 0;
  double precomputed_seconds = 0;
  std::uint64_t scan_queries = 0;         // scored top-k searches since the model was loaded
  std::uint64_t scan_videos_scored = 0;   // scores they computed
  std::uint64_t scan_catalog_videos = 0;  // the catalog's size times scan_queries
};

class Metrics {
 public:
  // Upper bounds of the latency histogram's buckets, in seconds.
  static constexpr std::array<double, 14> kBuckets = RecentTraffic::kBuckets;

  // Counts one answered request. `route` is a bounded label (a known path or "other").
  void record(const std::string& route, int status, double seconds);
  // Counts one model reload attempt; `trigger` and `version` go into the dashboard's reload
  // history (vr_model_reloads_total counts reloads only, not the load at start-up).
  void record_reload(bool succeeded, const std::string& trigger = "reload", const std::string& version = "");
  // Remembers the model loaded at start-up in the dashboard's reload history.
  void record_first_load(const std::string& version);
  // Counts answers to /invocations (a batch counts each of its requests) by where they came
  // from: the precomputed table, scoring the catalog, or (--unknown-user popular) the most
  // popular videos for an unknown user.
  void record_answers(std::size_t precomputed, std::size_t scored, std::size_t popular = 0);
  // Adds the source="popular" series to render() (vr-serve --unknown-user popular); without it
  // /metrics reads exactly as before.
  void show_popular_answers() { show_popular_ = true; }
  // The Prometheus text exposition of everything recorded plus the model gauges.
  std::string render(const ModelGauges& model) const;
  // The last minutes of traffic and the reload history (RecentTraffic::window), now.
  nlohmann::json recent() const;

 private:
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> buckets{};  // non-cumulative counts
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;  // (route, status) -> count
  std::map<std::string, Histogram> latency_;                       // route -> histogram
  std::uint64_t reloads_ok_ = 0;
  std::uint64_t reloads_failed_ = 0;
  // Counted on every /invocations request, apart from the lock: one lock per request is enough.
  std::atomic<std::uint64_t> answers_precomputed_{0};
  std::atomic<std::uint64_t> answers_scored_{0};
  std::atomic<std::uint64_t> answers_popular_{0};
  bool show_popular_ = false;  // set before serving starts
  RecentTraffic recent_;
  const double started_unix_ = unix_now();

  static double unix_now();
};

}  // namespace vr::http
