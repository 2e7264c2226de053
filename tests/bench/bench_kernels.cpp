// Benchmark (not a test): ALS solver throughput beside the machine's practical ceiling, an
// Eigen float matrix multiply on the same threads. Prints figures; never passes or fails.
//
// Usage: bench_kernels RATINGS_CSV FACTORS THREADS ITERATIONS
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>
#include <vector>

#include "vr/als.h"
#include "vr/training.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Floating-point operations of one CG half-iteration, counted as the kernel does them:
// per row, (steps + 1) products with the Gram matrix (2 f^2 each) and, per stored entry,
// (steps + 1) dot products plus axpys (4 f each); vector updates are negligible.
double cg_half_iteration_flops(const vr::SparseMatrix& matrix, int factors, int steps) {
  const double f = factors;
  return (steps + 1) * (static_cast<double>(matrix.rows) * 2 * f * f + static_cast<double>(matrix.nnz()) * 4 * f);
}

// GFLOP/s of `threads` concurrent float GEMMs of n x n (Eigen is single-threaded here).
double gemm_gflops(int threads, int n) {
  std::vector<Eigen::MatrixXf> a(threads), b(threads), c(threads);
  for (int t = 0; t < threads; ++t) {
    a[t] = Eigen::MatrixXf::Random(n, n);
    b[t] = Eigen::MatrixXf::Random(n, n);
    c[t] = Eigen::MatrixXf::Zero(n, n);
  }
  const int repeats = 5;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int r = 0; r < repeats; ++r) c[t].noalias() += a[t] * b[t];
    });
  }
  for (auto& thread : pool) thread.join();
  const double elapsed = seconds_since(start);
  return 2.0 * n * n * static_cast<double>(n) * repeats * threads / elapsed / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s RATINGS_CSV FACTORS THREADS ITERATIONS\n", argv[0]);
    return 2;
  }
  const std::string ratings_path = argv[1];
  vr::TrainConfig config;
  config.factors = std::atoi(argv[2]);
  config.threads = std::atoi(argv[3]);
  config.iterations = std::atoi(argv[4]);
  config.compute_loss = false;

  const auto load_start = std::chrono::steady_clock::now();
  vr::SparseMatrix ratings = vr::load_ratings_matrix(ratings_path, "");
  const double load_seconds = seconds_since(load_start);
  const vr::SparseMatrix transposed = ratings.transposed();
  const double flops_per_iteration = cg_half_iteration_flops(ratings, config.factors, config.cg_steps) +
                                     cg_half_iteration_flops(transposed, config.factors, config.cg_steps);
  std::vector<double> iteration_seconds;
  vr::train_als(std::move(ratings), config,
                [&](const vr::IterationReport& report) { iteration_seconds.push_back(report.seconds); });
  double total = 0, best = 1e300;
  for (double s : iteration_seconds) {
    total += s;
    best = std::min(best, s);
  }
  const double mean = total / static_cast<double>(iteration_seconds.size());
  std::printf("shape: %u users x %u videos, %llu ratings, %d factors, %d threads (load %.2f s)\n", transposed.cols,
              transposed.rows, static_cast<unsigned long long>(transposed.nnz()), config.factors, config.threads,
              load_seconds);
  std::printf("ALS CG iteration: mean %.3f s, best %.3f s over %zu iterations\n", mean, best, iteration_seconds.size());
  std::printf("ALS solver: %.1f GFLOP/s (%.2f GFLOP per iteration, best iteration)\n", flops_per_iteration / best / 1e9,
              flops_per_iteration / 1e9);
  std::printf("Eigen float GEMM 1024^3 on %d threads: %.1f GFLOP/s (the practical ceiling)\n", config.threads,
              gemm_gflops(config.threads, 1024));
  return 0;
}
