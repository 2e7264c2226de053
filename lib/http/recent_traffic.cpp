#include "recent_traffic.h"

#include <algorithm>
#include <cmath>

namespace vr::http {

void RecentTraffic::record(const std::string& route, int status, double seconds, double now_unix) {
  const auto index = static_cast<std::int64_t>(std::floor(now_unix / kSlotSeconds));
  std::lock_guard lock(mutex_);
  Slot& slot = slots_[static_cast<std::size_t>(index % kSlots)];
  if (slot.index != index) {
    // The slot last held traffic one ring's length ago (or never): start it afresh.
    slot.index = index;
    slot.routes.clear();
  }
  RouteSlot& counts = slot.routes[route];
  ++counts.requests;
  if (status >= 400 && status < 500) ++counts.client_errors;
  if (status >= 500) ++counts.server_errors;
  const auto bucket = std::lower_bound(kBuckets.begin(), kBuckets.end(), seconds) - kBuckets.begin();
  ++counts.latency[static_cast<std::size_t>(bucket)];
}

void RecentTraffic::record_reload(const ReloadEvent& event) {
  std::lock_guard lock(mutex_);
  reloads_.push_front(event);
  if (reloads_.size() > kReloadsKept) reloads_.pop_back();
}

double histogram_quantile(const std::array<std::uint64_t, RecentTraffic::kBuckets.size() + 1>& counts, double q) {
  std::uint64_t total = 0;
  for (const auto count : counts) total += count;
  if (total == 0) return -1;
  const double rank = q * static_cast<double>(total);
  double below = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const double here = static_cast<double>(counts[i]);
    if (here > 0 && below + here >= rank) {
      if (i == RecentTraffic::kBuckets.size()) return RecentTraffic::kBuckets.back();
      const double lower = i == 0 ? 0.0 : RecentTraffic::kBuckets[i - 1];
      const double upper = RecentTraffic::kBuckets[i];
      return lower + (upper - lower) * std::clamp((rank - below) / here, 0.0, 1.0);
    }
    below += here;
  }
  return RecentTraffic::kBuckets.back();
}

nlohmann::json RecentTraffic::window(double now_unix, double started_unix) const {
  const auto newest = static_cast<std::int64_t>(std::floor(now_unix / kSlotSeconds));
  const std::int64_t oldest = newest - kSlots + 1;
  std::map<std::string, RouteSlot> totals;
  nlohmann::json series = nlohmann::json::array();
  nlohmann::json reloads = nlohmann::json::array();
  {
    std::lock_guard lock(mutex_);
    for (std::int64_t index = oldest; index <= newest; ++index) {
      const Slot& slot = slots_[static_cast<std::size_t>(index % kSlots)];
      std::uint64_t requests = 0;
      std::uint64_t errors = 0;
      if (slot.index == index) {
        for (const auto& [route, counts] : slot.routes) {
          RouteSlot& total = totals[route];
          total.requests += counts.requests;
          total.client_errors += counts.client_errors;
          total.server_errors += counts.server_errors;
          for (std::size_t i = 0; i < counts.latency.size(); ++i) total.latency[i] += counts.latency[i];
          requests += counts.requests;
          errors += counts.client_errors + counts.server_errors;
        }
      }
      series.push_back({{"start", index * kSlotSeconds}, {"requests", requests}, {"errors", errors}});
    }
    for (const auto& event : reloads_) {
      reloads.push_back({{"time", event.unix_seconds},
                         {"succeeded", event.succeeded},
                         {"trigger", event.trigger},
                         {"version", event.version}});
    }
  }
  // Requests per second over the part of the window the server has been up, and never over
  // less than one slot (a server up for a second would otherwise show a burst as a rate).
  const double window_start = static_cast<double>(oldest * kSlotSeconds);
  const double covered = std::max<double>(kSlotSeconds, now_unix - std::max(window_start, started_unix));
  nlohmann::json routes = nlohmann::json::array();
  for (const auto& [route, total] : totals) {
    const auto quantile_ms = [&](double q) -> nlohmann::json {
      const double seconds = histogram_quantile(total.latency, q);
      return seconds < 0 ? nlohmann::json(nullptr) : nlohmann::json(seconds * 1000);
    };
    routes.push_back({{"route", route},
                      {"requests", total.requests},
                      {"per_second", static_cast<double>(total.requests) / covered},
                      {"client_errors", total.client_errors},
                      {"server_errors", total.server_errors},
                      {"p50_ms", quantile_ms(0.5)},
                      {"p95_ms", quantile_ms(0.95)},
                      {"p99_ms", quantile_ms(0.99)}});
  }
  return {{"window_seconds", kSlots * kSlotSeconds},
          {"slot_seconds", kSlotSeconds},
          {"routes", routes},
          {"series", series},
          {"reloads", reloads}};
}

}  // namespace vr::http
