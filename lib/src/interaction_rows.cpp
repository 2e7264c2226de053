#include "vr/interaction_rows.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "vr/csv.h"
#include "vr/errors.h"

namespace vr {
namespace {

// Days from 1970-01-01 to the proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) {
  year -= month <= 2;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto year_of_era = static_cast<unsigned>(year - era * 400);
  const unsigned day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + static_cast<std::int64_t>(day_of_era) - 719468;
}

// Reads exactly `digits` decimal digits at `text[position]`, advancing `position`.
std::optional<unsigned> read_digits(std::string_view text, std::size_t& position, std::size_t digits) {
  if (position + digits > text.size()) return std::nullopt;
  unsigned value = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    const char c = text[position + i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  position += digits;
  return value;
}

std::optional<double> parse_iso8601(std::string_view text) {
  std::size_t position = 0;
  const auto year = read_digits(text, position, 4);
  if (!year || position >= text.size() || text[position++] != '-') return std::nullopt;
  const auto month = read_digits(text, position, 2);
  if (!month || position >= text.size() || text[position++] != '-') return std::nullopt;
  const auto day = read_digits(text, position, 2);
  if (!day || *month < 1 || *month > 12 || *day < 1 || *day > 31) return std::nullopt;
  double seconds = static_cast<double>(days_from_civil(*year, *month, *day)) * 86400.0;
  if (position == text.size()) return seconds;
  if (text[position] != 'T' && text[position] != ' ') return std::nullopt;
  ++position;
  const auto hour = read_digits(text, position, 2);
  if (!hour || position >= text.size() || text[position++] != ':') return std::nullopt;
  const auto minute = read_digits(text, position, 2);
  if (!minute || *hour > 23 || *minute > 59) return std::nullopt;
  seconds += *hour * 3600.0 + *minute * 60.0;
  if (position < text.size() && text[position] == ':') {
    ++position;
    const auto second = read_digits(text, position, 2);
    if (!second || *second > 60) return std::nullopt;
    seconds += *second;
    if (position < text.size() && (text[position] == '.' || text[position] == ',')) {
      ++position;
      double scale = 0.1;
      const std::size_t start = position;
      while (position < text.size() && text[position] >= '0' && text[position] <= '9') {
        seconds += (text[position++] - '0') * scale;
        scale /= 10;
      }
      if (position == start) return std::nullopt;
    }
  }
  if (position == text.size()) return seconds;
  if (text[position] == 'Z' && position + 1 == text.size()) return seconds;
  if (text[position] == '+' || text[position] == '-') {
    const double sign = text[position] == '+' ? 1.0 : -1.0;
    ++position;
    const auto offset_hours = read_digits(text, position, 2);
    if (!offset_hours) return std::nullopt;
    if (position < text.size() && text[position] == ':') ++position;
    const auto offset_minutes = read_digits(text, position, 2);
    if (!offset_minutes || position != text.size()) return std::nullopt;
    // Local time = UTC + offset, so UTC = local - offset.
    return seconds - sign * (*offset_hours * 3600.0 + *offset_minutes * 60.0);
  }
  return std::nullopt;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The largest |value| accepted: beyond it a float is infinite (3.4e38), and a sum of a few
// such weights would be.
constexpr double kLargestValue = 3.0e38;

}  // namespace

std::optional<double> parse_timestamp(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  // A bare number is seconds since the epoch; "2026-01-05" also starts with digits, so a
  // number must parse completely.
  if (const auto number = parse_finite_number(text)) return number;
  return parse_iso8601(text);
}

InteractionColumns find_interaction_columns(const std::vector<std::string_view>& header, const std::string& source_name,
                                            char delimiter) {
  const auto user = find_column(header, "user_id", source_name);
  const auto video = find_column(header, "video_id", source_name);
  InteractionColumns columns;
  columns.event = find_column(header, "event", source_name);
  columns.value = find_column(header, "value", source_name);
  columns.timestamp = find_column(header, "timestamp", source_name);
  const auto missing = [&](const std::string& what) {
    std::string joined;
    for (const auto& name : header) joined += std::string(joined.empty() ? "" : std::string(1, delimiter)) + std::string(name);
    std::string found = "fields separated by " + describe_delimiter(delimiter);
    if (header.size() == 1) {
      found = "a single field: no ',', ';' or tab separates the names (give --delimiter)";
    }
    return InvalidInput(source_name + ":1: missing column '" + what + "' in header '" + joined + "' (" + found +
                        "; expected user_id, video_id and event or value, in any order and letter case)");
  };
  if (!user) throw missing("user_id");
  if (!video) throw missing("video_id");
  if (!columns.event && !columns.value) throw missing("event' or 'value");
  if (columns.event && columns.value) {
    throw InvalidInput(source_name + ":1: both 'event' and 'value' columns present; keep one");
  }
  columns.user = *user;
  columns.video = *video;
  columns.needed_fields =
      std::max({columns.user, columns.video, columns.event.value_or(0), columns.value.value_or(0)}) + 1;
  return columns;
}

InteractionRowParser::InteractionRowParser(InteractionColumns columns, const std::map<std::string, double>& event_weights,
                                           bool read_timestamps)
    : columns_(columns), read_timestamps_(read_timestamps && columns.timestamp.has_value()) {
  for (const auto& [name, weight] : event_weights) event_weights_.emplace_back(name, static_cast<float>(weight));
  if (read_timestamps_) columns_.needed_fields = std::max(columns_.needed_fields, *columns_.timestamp + 1);
}

const float* InteractionRowParser::find_event(std::string_view name) const {
  for (const auto& [known, weight] : event_weights_) {
    if (known == name) return &weight;
  }
  // "Watch" or "WATCH" from another system's log: names match in any letter case.
  for (const auto& [known, weight] : event_weights_) {
    if (equal_ignoring_case(known, name)) return &weight;
  }
  return nullptr;
}

bool InteractionRowParser::parse(const std::vector<std::string_view>& fields, InteractionRow& row,
                                 InteractionRowError& error) const {
  if (fields.size() < columns_.needed_fields) {
    error = {"too few fields", "expected at least " + std::to_string(columns_.needed_fields) + " fields, found " +
                                   std::to_string(fields.size())};
    return false;
  }
  row.user_id = trim(fields[columns_.user]);
  row.video_id = trim(fields[columns_.video]);
  if (row.user_id.empty()) {
    error = {"empty user_id", "field 'user_id' is empty"};
    return false;
  }
  if (row.video_id.empty()) {
    error = {"empty video_id", "field 'video_id' is empty"};
    return false;
  }
  if (columns_.event) {
    const std::string_view event = trim(fields[*columns_.event]);
    const float* known = find_event(event);
    if (known == nullptr) {
      std::string names;
      for (const auto& entry : event_weights_) names += (names.empty() ? "" : ", ") + entry.first;
      error = {"unknown event", "field 'event': unknown event '" + std::string(event) + "' (known: " + names +
                                    "; set --weights)"};
      return false;
    }
    row.weight = *known;
  } else {
    const auto value = parse_finite_number(fields[*columns_.value]);
    if (!value || std::fabs(*value) > kLargestValue) {
      // Beyond 3e38 the value would be infinite as a float: "not a finite number" either way.
      error = {"invalid value", "field 'value': '" + std::string(fields[*columns_.value]) + "' is not a finite number"};
      return false;
    }
    row.weight = static_cast<float>(*value);
  }
  if (read_timestamps_) {
    const auto time = parse_timestamp(fields[*columns_.timestamp]);
    if (!time) {
      error = {"invalid timestamp", "field 'timestamp': '" + std::string(fields[*columns_.timestamp]) +
                                        "' is neither seconds since the epoch nor an ISO 8601 time"};
      return false;
    }
    row.timestamp = *time;
  }
  return true;
}

}  // namespace vr
