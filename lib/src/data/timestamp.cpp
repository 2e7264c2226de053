#include "vr/timestamp.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "vr/csv.h"
#include "vr/errors.h"

namespace vr {
namespace {

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's
// days_from_civil): exact integer arithmetic, no time zone database involved.
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) {
  year -= month <= 2 ? 1 : 0;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto year_of_era = static_cast<unsigned>(year - era * 400);
  const unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + static_cast<std::int64_t>(day_of_era) - 719468;
}

bool is_leap(std::int64_t year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

unsigned days_in_month(std::int64_t year, unsigned month) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap(year) ? 29 : kDays[month - 1];
}

// Reads exactly `count` digits at `position`, advancing it.
std::optional<unsigned> digits(std::string_view text, std::size_t& position, std::size_t count) {
  if (position + count > text.size()) return std::nullopt;
  unsigned value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const char c = text[position + i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  position += count;
  return value;
}

std::optional<double> parse_iso8601(std::string_view text) {
  std::size_t position = 0;
  const auto year = digits(text, position, 4);
  if (!year || position >= text.size() || text[position++] != '-') return std::nullopt;
  const auto month = digits(text, position, 2);
  if (!month || position >= text.size() || text[position++] != '-') return std::nullopt;
  const auto day = digits(text, position, 2);
  if (!day || *month < 1 || *month > 12 || *day < 1 || *day > days_in_month(*year, *month)) return std::nullopt;
  double seconds_of_day = 0;
  if (position < text.size() && (text[position] == 'T' || text[position] == 't' || text[position] == ' ')) {
    ++position;
    const auto hour = digits(text, position, 2);
    if (!hour || position >= text.size() || text[position++] != ':') return std::nullopt;
    const auto minute = digits(text, position, 2);
    if (!minute) return std::nullopt;
    unsigned second = 0;
    double fraction = 0;
    if (position < text.size() && text[position] == ':') {
      ++position;
      const auto whole = digits(text, position, 2);
      if (!whole) return std::nullopt;
      second = *whole;
      if (position < text.size() && (text[position] == '.' || text[position] == ',')) {
        ++position;
        double scale = 0.1;
        const std::size_t start = position;
        while (position < text.size() && text[position] >= '0' && text[position] <= '9') {
          fraction += scale * (text[position] - '0');
          scale /= 10;
          ++position;
        }
        if (position == start) return std::nullopt;
      }
    }
    if (*hour > 23 || *minute > 59 || second > 60) return std::nullopt;  // 60: a leap second
    seconds_of_day = *hour * 3600.0 + *minute * 60.0 + second + fraction;
  }
  double offset = 0;
  if (position < text.size()) {
    const char sign = text[position++];
    if (sign == 'Z' || sign == 'z') {
      if (position != text.size()) return std::nullopt;
    } else if (sign == '+' || sign == '-') {
      const auto hours = digits(text, position, 2);
      if (!hours) return std::nullopt;
      unsigned minutes = 0;
      if (position < text.size()) {
        if (text[position] == ':') ++position;
        const auto parsed = digits(text, position, 2);
        if (!parsed) return std::nullopt;
        minutes = *parsed;
      }
      if (position != text.size() || *hours > 23 || minutes > 59) return std::nullopt;
      offset = (sign == '+' ? 1.0 : -1.0) * (*hours * 3600.0 + minutes * 60.0);
    } else {
      return std::nullopt;
    }
  }
  return static_cast<double>(days_from_civil(*year, *month, *day)) * 86400.0 + seconds_of_day - offset;
}

}  // namespace

std::optional<double> parse_timestamp(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  // "2024-..." has a '-' after four digits; an epoch number never does.
  if (text.size() >= 10 && text[4] == '-') return parse_iso8601(text);
  return parse_finite_number(text);
}

double parse_duration(const std::string& text, const std::string& what) {
  const auto fail = [&]() {
    return InvalidInput(what + ": expected a positive duration such as 30d, 12h, 90m, 3600s or 2w, got '" + text + "'");
  };
  if (text.size() < 2) throw fail();
  double unit = 0;
  switch (text.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 7 * 86400; break;
    default: throw fail();
  }
  const auto number = parse_finite_number(std::string_view(text).substr(0, text.size() - 1));
  if (!number || !(*number > 0) || !std::isfinite(*number * unit)) throw fail();
  return *number * unit;
}

double decay_factor(double age_seconds, double half_life_seconds) {
  if (!(age_seconds > 0)) return 1.0;
  return std::exp2(-age_seconds / half_life_seconds);
}

double newest_timestamp(std::istream& input, const std::string& source_name, bool skip_invalid) {
  CsvReader reader(input, source_name);
  std::vector<std::string_view> fields;
  if (!reader.next_row(fields)) throw InvalidInput(source_name + ": empty input (expected a header line)");
  const auto column = find_column(fields, "timestamp", source_name);
  if (!column) throw InvalidInput(source_name + ":1: missing column 'timestamp' (needed by --half-life or --popular-window)");
  double newest = -std::numeric_limits<double>::infinity();
  while (reader.next_row(fields)) {
    if (fields.size() <= *column) continue;  // reported with its line by the aggregation
    const auto time = parse_timestamp(fields[*column]);
    if (!time) {
      if (skip_invalid) continue;
      throw InvalidInput(source_name + ":" + std::to_string(reader.line_number()) + ": field 'timestamp': '" +
                         std::string(fields[*column]) + "' is not an ISO 8601 time or epoch seconds");
    }
    newest = std::max(newest, *time);
  }
  if (!std::isfinite(newest)) throw InvalidInput(source_name + ": no row has a timestamp; --half-life needs them");
  return newest;
}

}  // namespace vr
