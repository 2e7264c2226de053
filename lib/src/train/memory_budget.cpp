#include "vr/memory_budget.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "vr/errors.h"

namespace vr {
namespace {

constexpr std::uint64_t kUnknown = std::numeric_limits<std::uint64_t>::max();

// The value in kB of `key` ("MemAvailable:", "VmSize:") in a /proc file, in bytes.
std::uint64_t proc_kilobytes(const char* path, const std::string& key) {
  std::ifstream file(path);
  std::string line;
  while (std::getline(file, line)) {
    if (line.compare(0, key.size(), key) != 0) continue;
    std::istringstream fields(line.substr(key.size()));
    std::uint64_t kilobytes = 0;
    if (fields >> kilobytes) return kilobytes * 1024;
  }
  return kUnknown;
}

// A number in a cgroup file; kUnknown for "max" or a missing file.
std::uint64_t cgroup_number(const std::string& path) {
  std::ifstream file(path);
  std::string text;
  if (!(file >> text) || text == "max") return kUnknown;
  try {
    return std::stoull(text);
  } catch (const std::exception&) {
    return kUnknown;
  }
}

// What the memory limit of this process's cgroup still allows: cgroup v2's memory.max -
// memory.current ("0::/path" in /proc/self/cgroup), else cgroup v1's memory.limit_in_bytes -
// memory.usage_in_bytes ("N:memory:/path"; v1 writes "no limit" as a number near 2^63).
std::uint64_t cgroup_available() {
  std::ifstream membership("/proc/self/cgroup");
  std::string line;
  std::uint64_t available = kUnknown;
  while (std::getline(membership, line)) {
    std::string folder, limit_file, usage_file;
    if (line.compare(0, 3, "0::") == 0) {
      folder = "/sys/fs/cgroup" + line.substr(3);
      limit_file = "/memory.max";
      usage_file = "/memory.current";
    } else if (const auto at = line.find(":memory:"); at != std::string::npos) {
      folder = "/sys/fs/cgroup/memory" + line.substr(at + 8);
      limit_file = "/memory.limit_in_bytes";
      usage_file = "/memory.usage_in_bytes";
    } else {
      continue;
    }
    const std::uint64_t limit = cgroup_number(folder + limit_file);
    if (limit == kUnknown || limit >= (1ull << 62)) continue;
    const std::uint64_t used = cgroup_number(folder + usage_file);
    available = std::min(available, used == kUnknown ? limit : (limit > used ? limit - used : 0));
  }
  return available;
}

// RLIMIT_AS minus the current virtual size: what `ulimit -v` still allows.
std::uint64_t address_space_available() {
  rlimit limit{};
  if (getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return kUnknown;
  const std::uint64_t used = proc_kilobytes("/proc/self/status", "VmSize:");
  if (used == kUnknown) return kUnknown;
  return limit.rlim_cur > used ? limit.rlim_cur - used : 0;
}

std::string gigabytes(std::uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f GB", static_cast<double>(bytes) / 1e9);
  return text;
}

}  // namespace

std::uint64_t available_memory_bytes() {
  return std::min({proc_kilobytes("/proc/meminfo", "MemAvailable:"), cgroup_available(), address_space_available()});
}

std::uint64_t ease_training_bytes(std::uint32_t videos, std::uint32_t users, std::uint64_t nonzeros) {
  const std::uint64_t dense = 4ull * videos * videos;
  const std::uint64_t sparse_copies = 8ull * (static_cast<std::uint64_t>(users) + 1) +
                                      8ull * (static_cast<std::uint64_t>(videos) + 1) + 2 * 8ull * nonzeros;
  return dense + sparse_copies + kEaseWorkspaceBytes;
}

void check_ease_memory(std::uint32_t videos, std::uint32_t users, std::uint64_t nonzeros, std::uint64_t available_bytes) {
  const std::uint64_t needed = ease_training_bytes(videos, users, nonzeros);
  if (needed <= available_bytes) return;
  throw InsufficientMemory("EASE on " + std::to_string(videos) + " videos needs about " + gigabytes(needed) +
                           " of memory (a dense videos x videos float matrix: 4 bytes x videos^2), but only " +
                           gigabytes(available_bytes) +
                           " is available (the least of free RAM, the cgroup limit and ulimit -v); "
                           "train --model als or --model item-knn instead, or run on a machine with more memory");
}

}  // namespace vr
