// One parser for interaction logs (user_id, video_id, event or value, optional timestamp),
// shared by vr-features (aggregate_interactions) and vr-evaluate --interactions
// (read_timed_interactions), so both apply the same header rules, range checks and messages.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vr {


// Where the columns of an interactions file are, found by header name in any order and any
// letter case.
struct InteractionColumns {
  std::size_t user = 0;
  std::size_t video = 0;
  std::optional<std::size_t> event;      // exactly one of event and value is set
  std::optional<std::size_t> value;
  std::optional<std::size_t> timestamp;  // optional column
  std::size_t needed_fields = 0;         // fields a row must have to reach every column used
};

// Finds the columns in `header` (the first row, split with `delimiter`). Throws InvalidInput
// naming `source_name`, the missing column, the header as read and the delimiter it was split
// with (so that a file separated by another character says so).
InteractionColumns find_interaction_columns(const std::vector<std::string_view>& header, const std::string& source_name,
                                            char delimiter);

// One data row, parsed. The ids are views into the row's fields.
struct InteractionRow {
  std::string_view user_id;
  std::string_view video_id;
  float weight = 0;        // the event's weight, or the value
  double timestamp = 0;    // seconds since the epoch; set only when timestamps are read
};

// Why a row was refused: `reason` counts rows under --skip-invalid ("unknown event"),
// `detail` is the message after "file:line: ".
struct InteractionRowError {
  std::string reason;
  std::string detail;
};

// Parses data rows against the columns found in the header.
class InteractionRowParser {
 public:
  // Event names match in any letter case. `read_timestamps` requires a timestamp column's
  // value on every row (when the file has one).
  InteractionRowParser(InteractionColumns columns, const std::map<std::string, double>& event_weights,
                       bool read_timestamps);

  // Fills `row` from `fields` and returns true, or fills `error` and returns false: too few
  // fields, an empty id, an unknown event, a value that is not a finite number within float
  // range (|v| <= 3e38), a timestamp that does not parse.
  bool parse(const std::vector<std::string_view>& fields, InteractionRow& row, InteractionRowError& error) const;

  const InteractionColumns& columns() const { return columns_; }

 private:
  const float* find_event(std::string_view name) const;

  InteractionColumns columns_;
  std::vector<std::pair<std::string, float>> event_weights_;
  bool read_timestamps_;
};

}  // namespace vr
