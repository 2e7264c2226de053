// YᵀY in panels of rows, summed as the single-process solver sums it, so that processes each
// holding some rows of Y reproduce regularized_gram (vr/als.h) bit for bit.
//
// regularized_gram forms YᵀY with Eigen's symmetric rank update, which walks the rows of Y
// (the product's depth) in panels of gram_panel_rows() rows: each element is the previous
// total plus that panel's sum, accumulated on its own. A total that starts at zero and adds
// panel_gram() of each panel in row order therefore rounds exactly as regularized_gram
// does, wherever the rows are split between processes, provided every process's range starts
// on a panel boundary. The panels' own sums (panel_gram) can be computed in any order or in
// parallel; only the additions to the total must run in row order. (tests/test_gram_panels.cpp checks the equality on this build.)
#pragma once

#include <Eigen/Dense>
#include <cstdint>

#include "vr/als.h"

namespace vr {

// Rows per depth panel of Eigen's rank update for the Gram matrix of a `rows` x `factors`
// matrix on this machine (from Eigen's own blocking heuristic: it depends on the shape and on
// the CPU's cache sizes). At least 1; `rows` itself when Eigen does not split the depth.
std::uint32_t gram_panel_rows(std::uint64_t rows, Eigen::Index factors);

// The Gram matrix of `panel` (consecutive rows of Y forming one panel, or the last, shorter
// one), factors x factors, both triangles: add it to the running total with `total += ...`.
Eigen::MatrixXf panel_gram(const Eigen::Ref<const FactorMatrix>& panel);

}  // namespace vr
