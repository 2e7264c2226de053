// ratings.csv and the sparse matrix.
#include <catch2/catch.hpp>

#include <sstream>

#include "vr/errors.h"
#include "vr/ratings.h"

TEST_CASE("ratings.csv round-trips exactly") {
  const std::vector<vr::Rating> ratings{{0, 0, 3.0f}, {0, 1, 0.1f}, {2, 7, -1.5f}, {5, 3, 1e-7f}};
  std::ostringstream out;
  vr::write_ratings_csv(out, ratings);
  CHECK(out.str().rfind("user_idx,video_idx,rating\n0,0,3\n0,1,0.1\n", 0) == 0);
  std::istringstream in(out.str());
  const auto back = vr::read_ratings_csv(in, "ratings.csv");
  REQUIRE(back.size() == ratings.size());
  for (std::size_t i = 0; i < ratings.size(); ++i) {
    CHECK(back[i].user == ratings[i].user);
    CHECK(back[i].video == ratings[i].video);
    CHECK(back[i].value == ratings[i].value);
  }
}

TEST_CASE("malformed ratings.csv rows name the file, line and field") {
  auto error_of = [](const std::string& text) {
    std::istringstream in(text);
    try {
      vr::read_ratings_csv(in, "r.csv");
    } catch (const vr::InvalidInput& error) {
      return std::string(error.what());
    }
    return std::string();
  };
  CHECK_THAT(error_of("user_idx,video_idx,rating\n0,0,1\n-1,0,1\n"), Catch::Contains("r.csv:3") && Catch::Contains("user_idx"));
  CHECK_THAT(error_of("user_idx,video_idx,rating\n0,x,1\n"), Catch::Contains("r.csv:2") && Catch::Contains("video_idx"));
  CHECK_THAT(error_of("user_idx,video_idx,rating\n0,1,inf\n"), Catch::Contains("r.csv:2") && Catch::Contains("rating"));
  CHECK_THAT(error_of("user_idx,video_idx,rating\n0,1,0\n"), Catch::Contains("zero"));
  CHECK_THAT(error_of("user,video_idx,rating\n"), Catch::Contains("r.csv:1"));
}

TEST_CASE("build_sparse_matrix sorts rows, sums duplicates and transposes") {
  const std::vector<vr::Rating> ratings{{1, 2, 1.0f}, {0, 1, 2.0f}, {1, 0, 3.0f}, {1, 2, 4.0f}};
  const auto matrix = vr::build_sparse_matrix(ratings, 3, 3);
  CHECK(matrix.rows == 3);
  CHECK(matrix.nnz() == 3);
  CHECK(matrix.row_offsets == std::vector<std::uint64_t>{0, 1, 3, 3});
  CHECK(matrix.col_indices == std::vector<std::uint32_t>{1, 0, 2});
  CHECK(matrix.values == std::vector<float>{2.0f, 3.0f, 5.0f});
  const auto transposed = matrix.transposed();
  CHECK(transposed.row_offsets == std::vector<std::uint64_t>{0, 1, 2, 3});
  CHECK(transposed.col_indices == std::vector<std::uint32_t>{1, 0, 1});
  CHECK(transposed.values == std::vector<float>{3.0f, 2.0f, 5.0f});
  CHECK_THROWS_AS(vr::build_sparse_matrix(ratings, 1, 3), vr::InvalidInput);
}

TEST_CASE("RatingsCsvWriter buffers rows, calls back after each 32 MiB and loses nothing") {
  std::ostringstream output;
  int callbacks = 0;
  std::size_t written_at_first_callback = 0;
  constexpr std::uint32_t kRows = 3'000'000;  // ~14 bytes each: one callback past 32 MiB
  std::size_t before_destructor = 0;
  {
    vr::RatingsCsvWriter writer(output, [&] {
      if (++callbacks == 1) written_at_first_callback = output.str().size();
    });
    for (std::uint32_t row = 0; row < kRows; ++row) writer.write(vr::Rating{row, row % 7, 1.5f});
    before_destructor = output.str().size();
  }  // the destructor flushes the last rows, still buffered until then
  CHECK(before_destructor < output.str().size());
  CHECK(callbacks == 1);
  CHECK(written_at_first_callback >= std::size_t{32} << 20);
  std::istringstream input(output.str());
  const auto rows = vr::read_ratings_csv(input, "written");
  REQUIRE(rows.size() == kRows);
  CHECK(rows.back().user == kRows - 1);
  CHECK(rows.back().video == (kRows - 1) % 7);
}
