// The ratings matrix: aggregated (user, video, weight) triples, read from and written to
// ratings.csv, and held in compressed sparse row form for training and scoring.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <ostream>
#include <string>
#include <vector>

namespace vr {

// One aggregated interaction: the summed event weight of a user on a video.
struct Rating {
  std::uint32_t user = 0;   // dense user index
  std::uint32_t video = 0;  // dense video index
  float value = 0;          // summed weight r_ui; negative means "disliked"
};

// A sparse matrix in compressed sparse row form. Rows are sorted by column within a row.
struct SparseMatrix {
  std::uint32_t rows = 0;
  std::uint32_t cols = 0;
  std::vector<std::uint64_t> row_offsets;  // size rows+1; row r spans [row_offsets[r], row_offsets[r+1])
  std::vector<std::uint32_t> col_indices;  // column of each stored value
  std::vector<float> values;               // the stored values

  // Number of stored values.
  std::uint64_t nnz() const { return values.size(); }
  // Number of stored values in row r.
  std::uint64_t row_size(std::uint32_t r) const { return row_offsets[r + 1] - row_offsets[r]; }
  // The transpose (videos x users from users x videos), also sorted.
  SparseMatrix transposed() const;
  // Element-wise multiplication of every stored value by `factor`.
  SparseMatrix scaled(float factor) const;
};

// Builds a rows x cols CSR matrix from triples in any order. Duplicate (user, video) pairs are
// summed. Throws InvalidInput if an index is out of range.
SparseMatrix build_sparse_matrix(const std::vector<Rating>& ratings, std::uint32_t rows,
                                 std::uint32_t cols);

// The triples of a matrix, sorted by row then column.
std::vector<Rating> to_ratings(const SparseMatrix& matrix);

// Reads ratings.csv (header user_idx,video_idx,rating in any column order). Throws
// InvalidInput naming `source_name`, the line and the field on a malformed row, a
// non-finite rating or a zero rating.
std::vector<Rating> read_ratings_csv(std::istream& input, const std::string& source_name);

// Writes ratings.csv: header user_idx,video_idx,rating, rows in the given order, ratings
// printed in the shortest form that reads back to the same float.
void write_ratings_csv(std::ostream& output, const std::vector<Rating>& ratings);

// The same format, one rating at a time (for streaming writers).
class RatingsCsvWriter {
 public:
  // Writes the header line. `written_32_mib`, when given, is called after each 32 MiB handed
  // to the stream (to start the file's writeback early).
  explicit RatingsCsvWriter(std::ostream& output, std::function<void()> written_32_mib = {});
  // Flushes what is buffered (errors then show in the stream's state, as a write's would).
  ~RatingsCsvWriter();
  RatingsCsvWriter(const RatingsCsvWriter&) = delete;
  RatingsCsvWriter& operator=(const RatingsCsvWriter&) = delete;
  // Writes one row (buffered: rows go to the stream 64 KiB at a time, one write each, rather
  // than one stream call per row).
  void write(const Rating& rating);
  // Hands everything written so far to the stream. Call before finishing the stream's file.
  void flush();

 private:
  static constexpr std::size_t kBufferBytes = std::size_t{64} << 10;
  std::ostream& output_;
  std::string buffer_;
  std::function<void()> written_32_mib_;
  std::size_t written_since_call_ = 0;
};

// The number of rows/cols needed to hold every index in `ratings` (max index + 1).
std::uint32_t max_user_count(const std::vector<Rating>& ratings);
std::uint32_t max_video_count(const std::vector<Rating>& ratings);

}  // namespace vr
