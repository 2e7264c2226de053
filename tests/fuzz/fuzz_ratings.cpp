// Fuzzes vr-train's input: ratings.csv (read_ratings_csv). Properties checked on every input:
//   1. Only vr::InvalidInput escapes, and its message names the input ("<fuzz>:LINE: ...").
//   2. Accepted ratings are finite, non-zero, with indices below 2^32 - 1.
//   3. Written back with write_ratings_csv they read back identical.
//   4. When the shape is small, the CSR matrix holds every rating once, duplicates summed.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "fuzz_common.h"
#include "vr/errors.h"
#include "vr/ratings.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using vr::fuzz::check;
  constexpr const char* kSource = "<fuzz>";
  std::vector<vr::Rating> ratings;
  try {
    std::istringstream input(std::string(reinterpret_cast<const char*>(data), size));
    ratings = vr::read_ratings_csv(input, kSource);
  } catch (const vr::InvalidInput& error) {
    vr::fuzz::check_names_source(error.what(), kSource);
    return 0;
  }
  for (const auto& rating : ratings) {
    check(std::isfinite(rating.value) && rating.value != 0.0f, "rating not finite or zero");
    check(rating.user != UINT32_MAX && rating.video != UINT32_MAX, "index 2^32-1 accepted");
  }

  std::stringstream written;
  vr::write_ratings_csv(written, ratings);
  const auto read_back = vr::read_ratings_csv(written, "<written>");
  check(read_back.size() == ratings.size(), "round trip changed the row count");
  for (std::size_t i = 0; i < ratings.size(); ++i) {
    check(read_back[i].user == ratings[i].user && read_back[i].video == ratings[i].video &&
              read_back[i].value == ratings[i].value,
          "round trip changed a rating");
  }

  // The matrix vr-train builds when no mappings give the shape; only for shapes that fit in
  // the fuzzer's memory (a single index near 2^32 asks for a 32 GiB row-offset array).
  const std::uint32_t rows = vr::max_user_count(ratings);
  const std::uint32_t cols = vr::max_video_count(ratings);
  if (rows <= (1u << 16) && cols <= (1u << 16)) {
    const auto matrix = vr::build_sparse_matrix(ratings, rows, cols);
    check(matrix.row_offsets.size() == static_cast<std::size_t>(rows) + 1, "row offsets size");
    check(matrix.nnz() <= ratings.size(), "more stored values than ratings");
    const auto transposed = matrix.transposed();
    check(transposed.nnz() == matrix.nnz(), "transpose changed the stored values");
    for (std::uint32_t r = 0; r < matrix.rows; ++r) {
      for (std::uint64_t k = matrix.row_offsets[r] + 1; k < matrix.row_offsets[r + 1]; ++k) {
        check(matrix.col_indices[k - 1] < matrix.col_indices[k], "row not strictly sorted");
      }
    }
  }
  return 0;
}
