#include "vr/gram_panels.h"

#include <algorithm>

namespace vr {

std::uint32_t gram_panel_rows(std::uint64_t rows, Eigen::Index factors) {
  if (rows == 0) return 1;
  // The blocking regularized_gram's rankUpdate constructs: gemm_blocking_space(size, size,
  // depth, 1 thread, no L3 blocking), i.e. this call with k = depth, m = n = size.
  Eigen::Index depth = static_cast<Eigen::Index>(rows);
  Eigen::Index m = factors;
  Eigen::Index n = factors;
  Eigen::internal::computeProductBlockingSizes<float, float, 1>(depth, m, n, Eigen::Index{1});
  return static_cast<std::uint32_t>(std::clamp<Eigen::Index>(depth, 1, static_cast<Eigen::Index>(rows)));
}

Eigen::MatrixXf panel_gram(const Eigen::Ref<const FactorMatrix>& panel) {
  const Eigen::Index factors = panel.cols();
  Eigen::MatrixXf gram = Eigen::MatrixXf::Zero(factors, factors);
  gram.selfadjointView<Eigen::Lower>().rankUpdate(panel.transpose());
  gram.triangularView<Eigen::StrictlyUpper>() = gram.transpose();
  return gram;
}

}  // namespace vr
