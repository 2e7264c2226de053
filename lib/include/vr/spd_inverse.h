// The inverse of a dense symmetric positive definite float32 matrix, in place, by LAPACK's
// Cholesky factorisation (spotrf) and its inverse from the factor (spotri), from OpenBLAS,
// whose kernels use the threads it is given and the CPU's vector units (picked at run time).
//
// OpenBLAS splits the work among its threads differently for different thread counts, and
// picks its kernels by CPU, so the last bits of the result may change with either; the
// values agree to float32 rounding (EASE's tests check them against the closed form).
#pragma once

#include <cstdint>

namespace vr {

// Replaces the upper triangle (row-major terms: element (row, col) with col >= row at
// matrix[row * n + col]) of the symmetric positive definite n x n `matrix` by that of its
// Cholesky factor, on `threads` threads (>= 1). The strictly lower triangle is left as it was.
// Throws NumericalError when the matrix is not positive definite.
void cholesky_in_place(float* matrix, std::uint32_t n, int threads);

// From cholesky_in_place's factor, replaces the upper triangle by that of the inverse of the
// original matrix (the strictly lower triangle still untouched). Throws NumericalError when
// the factor is singular.
void inverse_from_cholesky_in_place(float* matrix, std::uint32_t n, int threads);

}  // namespace vr
