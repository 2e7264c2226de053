#include "vr/spd_inverse.h"

#include <cstddef>
#include <string>

#include "vr/errors.h"

// LAPACK's Fortran entry points and OpenBLAS's thread setting, declared here: Debian's
// OpenBLAS ships no C header for them that coexists with Eigen's own BLAS declarations.
// The trailing length is the hidden length of the character argument (gfortran's ABI).
extern "C" {
void spotrf_(const char* uplo, const int* n, float* a, const int* lda, int* info, std::size_t uplo_length);
void spotri_(const char* uplo, const int* n, float* a, const int* lda, int* info, std::size_t uplo_length);
void openblas_set_num_threads(int threads);
}

namespace vr {
namespace {

// LAPACK is column-major: a row-major buffer is the transposed matrix, so Fortran's lower
// triangle ('L') is the row-major upper triangle.
constexpr char kRowMajorUpper = 'L';

}  // namespace

void cholesky_in_place(float* matrix, std::uint32_t n, int threads) {
  if (n == 0) return;
  openblas_set_num_threads(threads);
  const int size = static_cast<int>(n);
  int info = 0;
  spotrf_(&kRowMajorUpper, &size, matrix, &size, &info, 1);
  if (info > 0) {
    throw NumericalError("the matrix is not positive definite (Cholesky failed at row " + std::to_string(info) + ")");
  }
  if (info < 0) throw NumericalError("spotrf rejected argument " + std::to_string(-info));
}

void inverse_from_cholesky_in_place(float* matrix, std::uint32_t n, int threads) {
  if (n == 0) return;
  openblas_set_num_threads(threads);
  const int size = static_cast<int>(n);
  int info = 0;
  spotri_(&kRowMajorUpper, &size, matrix, &size, &info, 1);
  if (info > 0) {
    throw NumericalError("the Cholesky factor is singular (zero at row " + std::to_string(info) + ")");
  }
  if (info < 0) throw NumericalError("spotri rejected argument " + std::to_string(-info));
}

}  // namespace vr
