// Minimal, fast CSV reading on top of fast-cpp-csv-parser's LineReader (which handles CRLF,
// a UTF-8 BOM and streaming). Fields are split here so that columns can be looked up by
// header name in any order and quoted fields ("a,b", "say ""hi""") are handled.
#pragma once

#include <array>
#include <cstdint>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vr {

// The delimiters detect_delimiter recognises, in order of preference.
inline constexpr char kDetectedDelimiters[] = {',', ';', '\t'};

// The delimiter of a header line: the first of ',', ';' and tab that occurs in it (outside
// quotes), or ',' when none does.
char detect_delimiter(std::string_view header_line);

// How a delimiter is written in messages: "','", "';'", "tab".
std::string describe_delimiter(char delimiter);

// Reads a CSV stream line by line. Blank lines are skipped. Fields may be quoted with
// double quotes; a quoted field cannot span lines.
class CsvReader {
 public:
  // `source_name` names the input in error messages (a path, or "<stdin>"). `delimiter`
  // separates fields (',' for CSV, ';' or '\t'); 0 = detect it from the first line read
  // (detect_delimiter).
  CsvReader(std::istream& input, std::string source_name, char delimiter = ',');
  ~CsvReader();
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  // Reads the next non-blank line and splits it into fields. Returns false at end of input.
  // The views stay valid until the next call. Throws InvalidInput for an unterminated quote,
  // a line over 16 MiB or a NUL byte (the constructor may throw that too: it reads ahead).
  bool next_row(std::vector<std::string_view>& fields);
  // 1-based line number of the row last returned (header = line 1).
  std::uint64_t line_number() const { return line_number_; }
  // Bytes consumed so far (approximate: line lengths plus newlines), for progress output.
  std::uint64_t bytes_read() const { return bytes_read_; }
  const std::string& source_name() const { return source_name_; }
  // The field delimiter (after detection, once a row has been read).
  char delimiter() const { return delimiter_; }

 private:
  // Splits `line` (NUL-terminated) into `fields`; false for a blank line.
  bool split_line(char* line, std::vector<std::string_view>& fields);

  struct LineSource;
  std::unique_ptr<LineSource> lines_;
  std::string source_name_;
  std::string unquoted_;  // backing storage for fields that had quotes to remove
  std::uint64_t line_number_ = 0;
  std::uint64_t bytes_read_ = 0;
  char delimiter_ = ',';         // 0 until detected
  std::array<bool, 256> field_stop_{};  // the bytes that end plain field text
};

// Index of the column named `name` in `header`, or nullopt. Names match in any case
// ("User_ID" is user_id); leading and trailing spaces in header names are ignored. Throws InvalidInput if the name occurs twice.
std::optional<std::size_t> find_column(const std::vector<std::string_view>& header,
                                       std::string_view name, const std::string& source_name);

// True when the two texts are equal but for ASCII letter case.
bool equal_ignoring_case(std::string_view left, std::string_view right);

// Parses a finite decimal number (e.g. "3", "-1.5", "2e3"). Returns nullopt for anything
// else, including "nan", "inf" and values that overflow a double.
std::optional<double> parse_finite_number(std::string_view text);

// Parses a non-negative integer that fits in 64 bits. Returns nullopt otherwise.
std::optional<std::uint64_t> parse_unsigned(std::string_view text);

// Writes `field` to `out`, quoting it if it contains a comma, quote or newline.
void write_csv_field(std::ostream& out, std::string_view field);

}  // namespace vr
