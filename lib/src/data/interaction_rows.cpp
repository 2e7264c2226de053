#include "vr/interaction_rows.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "vr/csv.h"
#include "vr/errors.h"
#include "vr/timestamp.h"

namespace vr {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The largest |value| accepted: beyond it a float is infinite (3.4e38), and a sum of a few
// such weights would be.
constexpr double kLargestValue = 3.0e38;

}  // namespace

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
