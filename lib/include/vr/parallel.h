// A minimal parallel-for over index ranges. Work is handed out in fixed blocks, so results
// that depend only on the index (each ALS row solve) are identical whatever the thread count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace vr {

// The number of threads to use when the user asks for `requested` (0 = all cores).
int resolve_thread_count(int requested);

// Calls body(begin, end) for consecutive blocks of `block_size` indices covering [0, count),
// on `threads` threads (the caller's thread is one of them). Exceptions thrown by `body` are
// re-thrown in the caller after all threads stop.
void parallel_for_blocks(std::size_t count, std::size_t block_size, int threads,
                         const std::function<void(std::size_t begin, std::size_t end)>& body);

// How many threads parallel_for_blocks has started in this process so far (the caller's own
// thread not counted): tests check that `threads = 1` really runs on one thread.
std::uint64_t parallel_threads_started();

}  // namespace vr
