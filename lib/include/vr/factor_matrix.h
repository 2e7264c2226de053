// The dense factor matrices of a model: row u is the factor vector of user (or video) u.
#pragma once

#include <Eigen/Core>

namespace vr {

// Row-major float32, so that one user's or video's factors are contiguous.
using FactorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace vr
