// YtY summed panel by panel (vr/gram_panels.h) against the single-process regularized_gram:
// equal bit for bit, which is what lets `mpirun -np N vr-train` give -np 1's factors.
#include <catch2/catch.hpp>

#include <random>

#include "vr/als.h"
#include "vr/gram_panels.h"

namespace {

vr::FactorMatrix random_factors(Eigen::Index rows, Eigen::Index factors, unsigned seed) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  vr::FactorMatrix matrix(rows, factors);
  for (Eigen::Index row = 0; row < rows; ++row) {
    for (Eigen::Index column = 0; column < factors; ++column) matrix(row, column) = uniform(generator);
  }
  return matrix;
}

Eigen::MatrixXf summed_in_panels(const vr::FactorMatrix& rows, Eigen::Index panel_rows) {
  Eigen::MatrixXf total = Eigen::MatrixXf::Zero(rows.cols(), rows.cols());
  for (Eigen::Index begin = 0; begin < rows.rows(); begin += panel_rows) {
    total += vr::panel_gram(rows.middleRows(begin, std::min(panel_rows, rows.rows() - begin)));
  }
  return total;
}

}  // namespace

TEST_CASE("YtY summed in gram_panel_rows panels is regularized_gram bit for bit") {
  const auto shape = GENERATE(std::make_pair(1, 4), std::make_pair(47, 8), std::make_pair(300, 16),
                              std::make_pair(943, 20), std::make_pair(1682, 64), std::make_pair(5000, 13),
                              std::make_pair(20000, 64), std::make_pair(3001, 100));
  const vr::FactorMatrix rows = random_factors(shape.first, shape.second, static_cast<unsigned>(shape.first));
  const std::uint32_t panel_rows = vr::gram_panel_rows(static_cast<std::uint64_t>(shape.first), shape.second);
  INFO(shape.first << " x " << shape.second << ": panels of " << panel_rows << " rows");
  CHECK(panel_rows >= 1);
  CHECK(panel_rows <= static_cast<std::uint32_t>(shape.first));
  const Eigen::MatrixXf single = vr::regularized_gram(rows, 0.0f);
  CHECK(summed_in_panels(rows, panel_rows) == single);
}

TEST_CASE("gram_panel_rows: the panels matter (other panel sizes round differently) and an empty matrix has one") {
  const vr::FactorMatrix rows = random_factors(20000, 64, 11);
  const std::uint32_t panel_rows = vr::gram_panel_rows(20000, 64);
  const Eigen::MatrixXf single = vr::regularized_gram(rows, 0.0f);
  CHECK(panel_rows < 20000);  // Eigen splits a depth this long
  CHECK(summed_in_panels(rows, panel_rows) == single);
  CHECK(summed_in_panels(rows, panel_rows == 256 ? 248 : 256) != single);
  CHECK(vr::gram_panel_rows(0, 64) == 1);
}
