#include "vr/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace vr {
namespace {
std::atomic<std::uint64_t> threads_started{0};
}  // namespace

std::uint64_t parallel_threads_started() { return threads_started.load(); }

int resolve_thread_count(int requested) {
  if (requested > 0) return requested;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : static_cast<int>(cores);
}

void parallel_for_blocks(std::size_t count, std::size_t block_size, int threads,
                         const std::function<void(std::size_t, std::size_t)>& body) {
  if (count == 0) return;
  block_size = std::max<std::size_t>(1, block_size);
  const std::size_t blocks = (count + block_size - 1) / block_size;
  const int workers = static_cast<int>(std::min<std::size_t>(
      static_cast<std::size_t>(std::max(1, threads)), blocks));

  std::atomic<std::size_t> next_block{0};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto work = [&] {
    for (;;) {
      const std::size_t block = next_block.fetch_add(1);
      if (block >= blocks) return;
      try {
        const std::size_t begin = block * block_size;
        body(begin, std::min(count, begin + block_size));
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
        next_block.store(blocks);  // stop handing out work
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(workers - 1));
  for (int i = 1; i < workers; ++i) {
    pool.emplace_back(work);
    threads_started.fetch_add(1);
  }
  work();
  for (auto& thread : pool) thread.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace vr
