// Event times and durations as vr-features reads them, for time decay (--half-life, --now).
#pragma once

#include <istream>
#include <optional>
#include <string>
#include <string_view>

namespace vr {

// Parses a timestamp into seconds since the Unix epoch (UTC). Accepted forms:
//   epoch seconds: "1700000000", "1700000000.25" (a finite number, possibly negative);
//   ISO 8601: "2024-03-01", "2024-03-01T12:30:00", "2024-03-01 12:30:00.5", each with an
//   optional zone "Z", "+02:00", "+0200" or "-05" (no zone = UTC).
// Calendar arithmetic is proleptic Gregorian with no leap seconds and no local time, so no
// daylight-saving rule can change a result. Returns nullopt for anything else, including an
// impossible date ("2024-02-30") or time ("25:00").
std::optional<double> parse_timestamp(std::string_view text);

// Parses a duration: a positive number and a unit, s, m, h, d or w ("30d", "12h", "1.5d").
// Throws InvalidInput naming `what` (e.g. "--half-life") otherwise. Returns seconds.
double parse_duration(const std::string& text, const std::string& what);

// The decay factor 0.5^(age / half_life) of an event `age_seconds` old; an event newer than
// the reference time (negative age) counts as new (factor 1).
double decay_factor(double age_seconds, double half_life_seconds);

// The newest event time in an interactions CSV (its `timestamp` column), the default
// reference time of time decay: the same input then always gives the same weights. Throws
// InvalidInput naming `source_name` when the column is missing, no row has a timestamp, or
// (unless skip_invalid) a timestamp does not parse, with its line.
double newest_timestamp(std::istream& input, const std::string& source_name, bool skip_invalid);

}  // namespace vr
