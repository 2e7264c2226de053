// The dashboard's live figures (lib/http/recent_traffic.h): the window of the last minutes,
// its rates, errors and latency percentiles, and the reload history.
#include <catch2/catch.hpp>

#include "recent_traffic.h"

using vr::http::RecentTraffic;

namespace {

const nlohmann::json* route(const nlohmann::json& window, const std::string& name) {
  for (const auto& entry : window["routes"]) {
    if (entry["route"] == name) return &entry;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("histogram_quantile interpolates inside the bucket the rank falls in") {
  std::array<std::uint64_t, RecentTraffic::kBuckets.size() + 1> counts{};
  CHECK(vr::http::histogram_quantile(counts, 0.5) < 0);
  // 10 requests in (0.001, 0.0025]: the median is halfway through that bucket.
  counts[2] = 10;
  CHECK(vr::http::histogram_quantile(counts, 0.5) == Approx(0.001 + 0.0015 * 0.5));
  // 90 more in [0, 0.0005]: the median is now in the first bucket, p95 in the third.
  counts[0] = 90;
  CHECK(vr::http::histogram_quantile(counts, 0.5) == Approx(0.0005 * 50.0 / 90.0));
  CHECK(vr::http::histogram_quantile(counts, 0.95) == Approx(0.001 + 0.0015 * 0.5));
  // Above the last bound: the last bound.
  counts[RecentTraffic::kBuckets.size()] = 1000;
  CHECK(vr::http::histogram_quantile(counts, 0.99) == Approx(10.0));
}

TEST_CASE("RecentTraffic counts requests, errors and rates per route over its window") {
  RecentTraffic traffic;
  const double start = 1'000'000.0;  // a multiple of the slot length
  for (int i = 0; i < 60; ++i) traffic.record("/invocations", 200, 0.002, start + i);
  traffic.record("/invocations", 404, 0.001, start + 5);
  traffic.record("/invocations", 500, 0.001, start + 6);
  traffic.record("/ping", 200, 0.0001, start + 7);

  const auto window = traffic.window(start + 60, start);
  CHECK(window["window_seconds"] == RecentTraffic::kSlots * RecentTraffic::kSlotSeconds);
  CHECK(window["series"].size() == RecentTraffic::kSlots);
  const auto* invocations = route(window, "/invocations");
  REQUIRE(invocations != nullptr);
  CHECK((*invocations)["requests"] == 62);
  CHECK((*invocations)["client_errors"] == 1);
  CHECK((*invocations)["server_errors"] == 1);
  // Up for 60 s of the window: 62 requests / 60 s.
  CHECK((*invocations)["per_second"].get<double>() == Approx(62.0 / 60.0));
  CHECK((*invocations)["p50_ms"].get<double>() > 1.0);
  CHECK((*invocations)["p50_ms"].get<double>() <= 2.5);
  REQUIRE(route(window, "/ping") != nullptr);
  std::uint64_t in_series = 0;
  for (const auto& slot : window["series"]) in_series += slot["requests"].get<std::uint64_t>();
  CHECK(in_series == 63);

  // Five minutes later every slot has aged out, and a new request reuses a slot afresh.
  const double later = start + RecentTraffic::kSlots * RecentTraffic::kSlotSeconds + 100;
  traffic.record("/ping", 200, 0.0001, later);
  const auto aged = traffic.window(later, start);
  CHECK(route(aged, "/invocations") == nullptr);
  REQUIRE(route(aged, "/ping") != nullptr);
  CHECK((*route(aged, "/ping"))["requests"] == 1);
}

TEST_CASE("RecentTraffic keeps the newest reloads first, at most kReloadsKept") {
  RecentTraffic traffic;
  traffic.record_reload({100, true, "start-up", "v1"});
  for (int i = 0; i < 30; ++i) traffic.record_reload({200 + i, i % 2 == 0, "SIGHUP", i % 2 == 0 ? "v2" : ""});
  const auto reloads = traffic.window(1000, 0)["reloads"];
  REQUIRE(reloads.size() == RecentTraffic::kReloadsKept);
  CHECK(reloads[0]["time"] == 229);
  CHECK(reloads[0]["succeeded"] == false);
  CHECK(reloads[1]["version"] == "v2");
}
