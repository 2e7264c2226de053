#include "vr/ratings.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "vr/csv.h"
#include "vr/errors.h"

namespace vr {

SparseMatrix build_sparse_matrix(const std::vector<Rating>& ratings, std::uint32_t rows,
                                 std::uint32_t cols) {
  SparseMatrix matrix;
  matrix.rows = rows;
  matrix.cols = cols;
  // Counting sort by row straight into the CSR arrays (no intermediate copy: this is the
  // peak of vr-train's memory), then sort each row by column and merge duplicates in place.
  matrix.row_offsets.assign(static_cast<std::size_t>(rows) + 1, 0);
  for (const auto& rating : ratings) {
    if (rating.user >= rows || rating.video >= cols) {
      throw InvalidInput("rating (" + std::to_string(rating.user) + ", " +
                         std::to_string(rating.video) + ") outside a " + std::to_string(rows) +
                         " x " + std::to_string(cols) + " matrix");
    }
    ++matrix.row_offsets[rating.user + 1];
  }
  for (std::uint32_t r = 0; r < rows; ++r) matrix.row_offsets[r + 1] += matrix.row_offsets[r];
  matrix.col_indices.resize(ratings.size());
  matrix.values.resize(ratings.size());
  {
    std::vector<std::uint64_t> next(matrix.row_offsets.begin(), matrix.row_offsets.end() - 1);
    for (const auto& rating : ratings) {
      const std::uint64_t position = next[rating.user]++;
      matrix.col_indices[position] = rating.video;
      matrix.values[position] = rating.value;
    }
  }
  std::vector<std::pair<std::uint32_t, float>> row_entries;
  std::uint64_t write = 0;
  for (std::uint32_t r = 0; r < rows; ++r) {
    const std::uint64_t begin = matrix.row_offsets[r];
    const std::uint64_t end = matrix.row_offsets[r + 1];
    matrix.row_offsets[r] = write;
    if (!std::is_sorted(matrix.col_indices.begin() + static_cast<std::ptrdiff_t>(begin),
                        matrix.col_indices.begin() + static_cast<std::ptrdiff_t>(end))) {
      row_entries.clear();
      for (std::uint64_t k = begin; k < end; ++k) row_entries.emplace_back(matrix.col_indices[k], matrix.values[k]);
      std::stable_sort(row_entries.begin(), row_entries.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      for (std::uint64_t k = begin; k < end; ++k) {
        matrix.col_indices[k] = row_entries[k - begin].first;
        matrix.values[k] = row_entries[k - begin].second;
      }
    }
    for (std::uint64_t k = begin; k < end; ++k) {
      if (write > matrix.row_offsets[r] && matrix.col_indices[write - 1] == matrix.col_indices[k]) {
        matrix.values[write - 1] += matrix.values[k];  // a duplicate pair: sum it
      } else {
        matrix.col_indices[write] = matrix.col_indices[k];
        matrix.values[write] = matrix.values[k];
        ++write;
      }
    }
  }
  matrix.row_offsets[rows] = write;
  matrix.col_indices.resize(write);
  matrix.values.resize(write);
  return matrix;
}

SparseMatrix SparseMatrix::transposed() const {
  SparseMatrix result;
  result.rows = cols;
  result.cols = rows;
  result.row_offsets.assign(static_cast<std::size_t>(cols) + 1, 0);
  for (std::uint32_t column : col_indices) ++result.row_offsets[column + 1];
  for (std::uint32_t c = 0; c < cols; ++c) result.row_offsets[c + 1] += result.row_offsets[c];
  result.col_indices.resize(col_indices.size());
  result.values.resize(values.size());
  std::vector<std::uint64_t> next(result.row_offsets.begin(), result.row_offsets.end() - 1);
  // Walking rows in order keeps each transposed row sorted by column.
  for (std::uint32_t r = 0; r < rows; ++r) {
    for (std::uint64_t k = row_offsets[r]; k < row_offsets[r + 1]; ++k) {
      const std::uint64_t destination = next[col_indices[k]]++;
      result.col_indices[destination] = r;
      result.values[destination] = values[k];
    }
  }
  return result;
}

SparseMatrix SparseMatrix::scaled(float factor) const {
  SparseMatrix result = *this;
  for (float& value : result.values) value *= factor;
  return result;
}

std::vector<Rating> to_ratings(const SparseMatrix& matrix) {
  std::vector<Rating> ratings;
  ratings.reserve(matrix.nnz());
  for (std::uint32_t r = 0; r < matrix.rows; ++r) {
    for (std::uint64_t k = matrix.row_offsets[r]; k < matrix.row_offsets[r + 1]; ++k) {
      ratings.push_back(Rating{r, matrix.col_indices[k], matrix.values[k]});
    }
  }
  return ratings;
}

std::vector<Rating> read_ratings_csv(std::istream& input, const std::string& source_name) {
  CsvReader reader(input, source_name);
  std::vector<std::string_view> fields;
  if (!reader.next_row(fields)) {
    throw InvalidInput(source_name + ": empty ratings file (expected header user_idx,video_idx,rating)");
  }
  const std::vector<std::string> header_names(fields.begin(), fields.end());
  const std::vector<std::string_view> header(header_names.begin(), header_names.end());
  const auto user_column = find_column(header, "user_idx", source_name);
  const auto video_column = find_column(header, "video_idx", source_name);
  const auto rating_column = find_column(header, "rating", source_name);
  if (!user_column || !video_column || !rating_column) {
    throw InvalidInput(source_name + ":1: expected columns user_idx, video_idx and rating");
  }
  const std::size_t needed = std::max({*user_column, *video_column, *rating_column}) + 1;
  std::vector<Rating> ratings;
  auto fail = [&](const std::string& detail) {
    return InvalidInput(source_name + ":" + std::to_string(reader.line_number()) + ": " + detail);
  };
  while (reader.next_row(fields)) {
    if (fields.size() < needed) {
      throw fail("expected " + std::to_string(needed) + " fields, found " + std::to_string(fields.size()));
    }
    const auto user = parse_unsigned(fields[*user_column]);
    if (!user || *user >= UINT32_MAX) throw fail("field 'user_idx': '" + std::string(fields[*user_column]) + "' is not an index");
    const auto video = parse_unsigned(fields[*video_column]);
    if (!video || *video >= UINT32_MAX) throw fail("field 'video_idx': '" + std::string(fields[*video_column]) + "' is not an index");
    const auto value = parse_finite_number(fields[*rating_column]);
    if (!value || std::fabs(*value) > 3.0e38) {
      throw fail("field 'rating': '" + std::string(fields[*rating_column]) + "' is not a finite number");
    }
    if (*value == 0.0) throw fail("field 'rating': a zero rating carries no information");
    // Ratings are stored as float32: a value like 1e-98 is not zero as a double but is as a
    // float, and would reach training as a zero rating (found by fuzz_ratings).
    const auto rating = static_cast<float>(*value);
    if (rating == 0.0f) {
      throw fail("field 'rating': '" + std::string(fields[*rating_column]) +
                 "' is zero as a 32-bit float; a zero rating carries no information");
    }
    ratings.push_back(Rating{static_cast<std::uint32_t>(*user), static_cast<std::uint32_t>(*video), rating});
  }
  return ratings;
}

RatingsCsvWriter::RatingsCsvWriter(std::ostream& output, std::function<void()> written_32_mib)
    : output_(output), written_32_mib_(std::move(written_32_mib)) {
  buffer_.reserve(kBufferBytes + 80);
  buffer_ = "user_idx,video_idx,rating\n";
}

RatingsCsvWriter::~RatingsCsvWriter() { flush(); }

void RatingsCsvWriter::flush() {
  if (buffer_.empty()) return;
  output_.write(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
  written_since_call_ += buffer_.size();
  buffer_.clear();
  if (written_32_mib_ && written_since_call_ >= (std::size_t{32} << 20)) {
    written_since_call_ = 0;
    written_32_mib_();
  }
}

void RatingsCsvWriter::write(const Rating& rating) {
  // 10 + 1 + 10 + 1 + at most 15 (shortest round-trip float) + 1 bytes: 80 is ample.
  char buffer[80];
  char* const end = buffer + sizeof buffer;
  auto append = [end](char* cursor, auto value, char separator) {
    cursor = std::to_chars(cursor, end - 1, value).ptr;
    *cursor = separator;
    return cursor + 1;
  };
  char* cursor = append(buffer, rating.user, ',');
  cursor = append(cursor, rating.video, ',');
  // Shortest representation that round-trips: "3" for 3.0f, "0.1" for 0.1f.
  cursor = append(cursor, rating.value, '\n');
  buffer_.append(buffer, cursor);
  if (buffer_.size() >= kBufferBytes) flush();
}

void write_ratings_csv(std::ostream& output, const std::vector<Rating>& ratings) {
  RatingsCsvWriter writer(output);
  for (const auto& rating : ratings) writer.write(rating);
  writer.flush();
}

std::uint32_t max_user_count(const std::vector<Rating>& ratings) {
  std::uint32_t count = 0;
  for (const auto& rating : ratings) count = std::max(count, rating.user + 1);
  return count;
}

std::uint32_t max_video_count(const std::vector<Rating>& ratings) {
  std::uint32_t count = 0;
  for (const auto& rating : ratings) count = std::max(count, rating.video + 1);
  return count;
}

}  // namespace vr
