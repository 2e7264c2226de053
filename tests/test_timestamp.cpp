// Timestamps, durations and decay factors (vr/timestamp.h), against hand-computed values.
#include <catch2/catch.hpp>

#include <sstream>

#include "vr/errors.h"
#include "vr/timestamp.h"

TEST_CASE("epoch seconds and ISO 8601 timestamps give seconds since the epoch, UTC") {
  CHECK(vr::parse_timestamp("1700000000") == 1700000000.0);
  CHECK(vr::parse_timestamp(" 1700000000.5 ") == 1700000000.5);
  // 2024-03-01 is day 19783 since 1970-01-01: 19783 * 86400 + 12 h.
  CHECK(vr::parse_timestamp("2024-03-01T12:00:00Z") == 1709294400.0);
  CHECK(vr::parse_timestamp("2024-03-01 12:00:00") == 1709294400.0);
  CHECK(vr::parse_timestamp("2024-03-01T12:00:00.25Z") == 1709294400.25);
  CHECK(vr::parse_timestamp("2024-03-01") == 1709251200.0);
  CHECK(vr::parse_timestamp("2024-03-01T14:00:00+02:00") == 1709294400.0);
  CHECK(vr::parse_timestamp("2024-03-01T07:00-0500") == 1709294400.0);
  // The night Europe's clocks go forward: an explicit offset, no local-time rule applies.
  CHECK(vr::parse_timestamp("2024-03-31T00:30:00+02:00") == 1711837800.0);
  CHECK(vr::parse_timestamp("2024-02-29T00:00:00Z") == 1709164800.0);
  CHECK(vr::parse_timestamp("1969-12-31T23:59:59Z") == -1.0);
}

TEST_CASE("impossible or malformed timestamps are rejected") {
  for (const char* bad : {"", "yesterday", "2024-02-30", "2023-02-29", "2024-13-01", "2024-03-01T25:00:00Z",
                          "2024-03-01T12:61", "2024-03-01T12:00:00Q", "2024-03-01T12:00:00+2", "nan", "inf",
                          "2024/03/01"}) {
    INFO(bad);
    CHECK_FALSE(vr::parse_timestamp(bad).has_value());
  }
}

TEST_CASE("durations take a unit: s, m, h, d or w") {
  CHECK(vr::parse_duration("30d", "--half-life") == 30 * 86400.0);
  CHECK(vr::parse_duration("12h", "--half-life") == 43200.0);
  CHECK(vr::parse_duration("90m", "--half-life") == 5400.0);
  CHECK(vr::parse_duration("1.5d", "--half-life") == 129600.0);
  CHECK(vr::parse_duration("2w", "--half-life") == 1209600.0);
  for (const char* bad : {"30", "d", "0d", "-1d", "1y", "abc", "nand"}) {
    INFO(bad);
    CHECK_THROWS_AS(vr::parse_duration(bad, "--half-life"), vr::InvalidInput);
  }
  CHECK_THROWS_WITH(vr::parse_duration("30", "--half-life"), Catch::Contains("--half-life") && Catch::Contains("'30'"));
}

TEST_CASE("the decay factor halves every half-life and never exceeds 1") {
  const double day = 86400;
  CHECK(vr::decay_factor(0, day) == 1.0);
  CHECK(vr::decay_factor(day, day) == 0.5);
  CHECK(vr::decay_factor(3 * day, day) == 0.125);
  CHECK(vr::decay_factor(day / 2, day) == Approx(0.7071067811865476).epsilon(1e-15));
  CHECK(vr::decay_factor(-day, day) == 1.0);
}

TEST_CASE("the newest timestamp of an input is its decay's default reference time") {
  std::istringstream input("user_id,video_id,value,timestamp\nu1,v1,1,2024-01-01T00:00:00Z\nu1,v2,1,1704153600\n"
                           "u2,v1,1,2024-01-01T12:00:00+00:00\n");
  CHECK(vr::newest_timestamp(input, "in.csv", false) == 1704153600.0);
  std::istringstream bad("user_id,video_id,value,timestamp\nu1,v1,1,2024-01-01\nu1,v2,1,soon\n");
  CHECK_THROWS_WITH(vr::newest_timestamp(bad, "in.csv", false), Catch::Contains("in.csv:3") && Catch::Contains("soon"));
  std::istringstream no_column("user_id,video_id,value\nu1,v1,1\n");
  CHECK_THROWS_WITH(vr::newest_timestamp(no_column, "in.csv", false), Catch::Contains("timestamp"));
}
