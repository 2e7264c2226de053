// What a large allocation may count on, and EASE's memory rule: training EASE holds one dense
// videos x videos float matrix, so its memory grows with the square of the catalog. The check
// runs before anything large is allocated, so a catalog that cannot fit fails at once with
// the estimate instead of being killed by the kernel after minutes of work.
#pragma once

#include <cstdint>

namespace vr {

// Bytes this process may still allocate: the least of /proc/meminfo's MemAvailable, the
// cgroup limit (v2: memory.max - memory.current; v1: memory.limit_in_bytes -
// memory.usage_in_bytes; when set) and RLIMIT_AS (ulimit -v) minus the current virtual size
// (when set). UINT64_MAX when none of them can be read.
std::uint64_t available_memory_bytes();

// Bytes train_ease needs beyond the ratings it is given: the videos x videos float32 matrix
// (4 * videos^2), the two binarised copies of the ratings (users x videos and its transpose:
// offsets of 8 bytes per row, 8 bytes per nonzero) and kEaseWorkspaceBytes for LAPACK.
std::uint64_t ease_training_bytes(std::uint32_t videos, std::uint32_t users, std::uint64_t nonzeros);

// Headroom for OpenBLAS's per-thread buffers and the rest of the process while EASE trains.
inline constexpr std::uint64_t kEaseWorkspaceBytes = 256ull << 20;

// Throws InsufficientMemory when ease_training_bytes() exceeds `available_bytes`, naming the
// catalog size, the estimate and what is available in GB, and the models that need less
// (als, item-knn).
void check_ease_memory(std::uint32_t videos, std::uint32_t users, std::uint64_t nonzeros, std::uint64_t available_bytes);

}  // namespace vr
