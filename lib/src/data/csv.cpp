#include "vr/csv.h"

#include <libfccp/csv.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <ostream>

#include "vr/errors.h"

namespace vr {

namespace {

// The stream as LineReader's byte source, always ending in '\n' and refusing NUL bytes.
// LineReader mishandles a last line without a newline when the byte just past the data in its
// buffer happens to be '\n' (stale bytes of an earlier block, in files over 48 MiB): it steps
// past the end of the data and returns stale bytes as more lines, then reads off the buffer.
// Found by tests/fuzz/fuzz_interactions. And it returns C strings, so a NUL byte would silently
// cut a line short ("1\0.5" read as "1").
class TerminatedStreamSource : public io::ByteSourceBase {
 public:
  TerminatedStreamSource(std::istream& input, const std::string& source_name)
      : input_(input), source_name_(source_name) {}

  int read(char* buffer, int size) override {
    if (finished_) return 0;
    input_.read(buffer, size);
    int count = static_cast<int>(input_.gcount());
    if (const void* nul = std::memchr(buffer, '\0', static_cast<std::size_t>(count))) {
      const auto before = std::count(static_cast<const char*>(buffer), static_cast<const char*>(nul), '\n');
      throw InvalidInput(source_name_ + ":" + std::to_string(newlines_ + before + 1) +
                         ": NUL byte in the input (not a text CSV file?)");
    }
    newlines_ += static_cast<std::uint64_t>(std::count(buffer, buffer + count, '\n'));
    if (count > 0) last_byte_ = buffer[count - 1];
    if (count < size) {
      if (input_.bad()) throw IoError(source_name_ + ": read error");
      if (last_byte_ != '\n' && last_byte_ != '\0') buffer[count++] = '\n';
      finished_ = true;
    }
    return count;
  }

 private:
  std::istream& input_;
  std::string source_name_;
  std::uint64_t newlines_ = 0;
  char last_byte_ = '\0';  // '\0' until a byte was read (NULs are refused above)
  bool finished_ = false;
};

}  // namespace

struct CsvReader::LineSource {
  LineSource(const std::string& name, std::istream& input)
      : reader(name, std::make_unique<TerminatedStreamSource>(input, name)) {}
  io::LineReader reader;
};

char detect_delimiter(std::string_view header_line) {
  for (const char candidate : kDetectedDelimiters) {
    bool quoted = false;
    for (const char c : header_line) {
      if (c == '"') quoted = !quoted;
      if (c == candidate && !quoted) return candidate;
    }
  }
  return ',';
}

std::string describe_delimiter(char delimiter) {
  if (delimiter == '\t') return "tab";
  return std::string("'") + delimiter + "'";
}

CsvReader::CsvReader(std::istream& input, std::string source_name, char delimiter)
    : lines_(std::make_unique<LineSource>(source_name, input)), source_name_(std::move(source_name)),
      delimiter_(delimiter) {
  if (delimiter_ == '"' || delimiter_ == '\n' || delimiter_ == '\r') {
    throw InvalidInput(std::string("the field delimiter cannot be ") + (delimiter_ == '"' ? "a quote" : "a line break"));
  }
  field_stop_[static_cast<unsigned char>(delimiter_)] = field_stop_['"'] = field_stop_[0] = true;
}

CsvReader::~CsvReader() = default;

bool CsvReader::next_row(std::vector<std::string_view>& fields) {
  fields.clear();
  char* line = nullptr;
  for (;;) {
    try {
      line = lines_->reader.next_line();
    } catch (const io::error::line_length_limit_exceeded&) {
      throw InvalidInput(source_name_ + ":" + std::to_string(line_number_ + 1) +
                         ": line longer than 16 MiB");
    } catch (const InvalidInput&) {
      throw;
    } catch (const IoError&) {
      throw;
    } catch (const std::exception& error) {
      throw IoError(source_name_ + ": " + error.what());
    }
    if (line == nullptr) return false;
    ++line_number_;
    if (delimiter_ == 0) {
      if (*line == '\0') {
        bytes_read_ += 1;
        continue;  // blank line: detect from the first line with text
      }
      delimiter_ = detect_delimiter(line);
      field_stop_[static_cast<unsigned char>(delimiter_)] = true;
    }
    if (split_line(line, fields)) return true;
  }
}

bool CsvReader::split_line(char* line, std::vector<std::string_view>& fields) {
  fields.clear();
  const char delimiter = delimiter_;
  {
    // One pass finds the delimiters and the end, and stops at a quote: strlen, a search for
    // quotes and the split were three passes over every line (~4% of vr-features' time).
    const char* field_start = line;
    const char* cursor = line;
    for (;; ++cursor) {
      while (!field_stop_[static_cast<unsigned char>(*cursor)]) ++cursor;
      if (*cursor != delimiter) break;
      fields.emplace_back(field_start, static_cast<std::size_t>(cursor - field_start));
      field_start = cursor + 1;
    }
    if (*cursor != '"') {
      const auto length = static_cast<std::size_t>(cursor - line);
      bytes_read_ += length + 1;
      if (length == 0) return false;  // blank line
      fields.emplace_back(field_start, static_cast<std::size_t>(cursor - field_start));
      return true;
    }
    bytes_read_ += std::strlen(line) + 1;
    fields.clear();
  }

  // Slow path: unquote into `unquoted_`, remembering field boundaries as offsets first
  // because the buffer may reallocate while it grows.
  unquoted_.clear();
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  const char* cursor = line;
  for (;;) {
    const std::size_t start = unquoted_.size();
    if (*cursor == '"') {
      ++cursor;
      for (;;) {
        if (*cursor == '\0') {
          throw InvalidInput(source_name_ + ":" + std::to_string(line_number_) +
                             ": unterminated quoted field (a quoted field cannot span lines)");
        }
        if (*cursor == '"') {
          if (cursor[1] == '"') {
            unquoted_.push_back('"');
            cursor += 2;
            continue;
          }
          ++cursor;
          break;
        }
        unquoted_.push_back(*cursor++);
      }
      // Text between the closing quote and the next delimiter is kept verbatim (lenient, as
      // Python's csv module is).
      while (*cursor != delimiter && *cursor != '\0') unquoted_.push_back(*cursor++);
    } else {
      while (*cursor != delimiter && *cursor != '\0') unquoted_.push_back(*cursor++);
    }
    spans.emplace_back(start, unquoted_.size() - start);
    if (*cursor == '\0') break;
    ++cursor;  // skip the delimiter
  }
  for (const auto& [start, length] : spans) fields.emplace_back(unquoted_.data() + start, length);
  return true;
}

bool equal_ignoring_case(std::string_view left, std::string_view right) {
  if (left.size() != right.size()) return false;
  for (std::size_t i = 0; i < left.size(); ++i) {
    const auto a = static_cast<unsigned char>(left[i]);
    const auto b = static_cast<unsigned char>(right[i]);
    if (a != b && std::tolower(a) != std::tolower(b)) return false;
  }
  return true;
}

namespace {
std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}
}  // namespace

std::optional<std::size_t> find_column(const std::vector<std::string_view>& header,
                                       std::string_view name, const std::string& source_name) {
  std::optional<std::size_t> found;
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (equal_ignoring_case(trim(header[i]), name)) {
      if (found) {
        throw InvalidInput(source_name + ":1: column '" + std::string(name) +
                           "' appears more than once in the header");
      }
      found = i;
    }
  }
  return found;
}

std::optional<double> parse_finite_number(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  if (text.front() == '+') text.remove_prefix(1);
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<std::uint64_t> parse_unsigned(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

void write_csv_field(std::ostream& out, std::string_view field) {
  if (field.find_first_of(",\"\n\r") == std::string_view::npos) {
    out << field;
    return;
  }
  out << '"';
  for (char c : field) {
    if (c == '"') out << '"';
    out << c;
  }
  out << '"';
}

}  // namespace vr
