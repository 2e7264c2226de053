// Linked into every fuzz target: reuses fast-cpp-csv-parser's 48 MiB line buffer between runs.
//
// io::LineReader allocates `new char[3 << 24]` per reader. Under AddressSanitizer every such
// allocation is a fresh mmap whose 6 MiB of shadow memory is poisoned on allocation and again on
// free: measured at ~30 executions/s for the CSV targets, far too slow to reach 10 million.
// Array new of exactly that size is served from a small pool of buffers mapped once; every
// other array new goes to malloc (still checked by ASan). The pooled buffers are unpoisoned
// memory, so ASan would not see an overflow inside one: acceptable, since the reader never
// indexes outside it (fccp checks lengths against block_len) and the fuzzed code's own
// allocations keep their red zones.
#include <sys/mman.h>

#include <array>
#include <cstdlib>
#include <mutex>
#include <new>

namespace {

constexpr std::size_t kLineBufferSize = std::size_t{3} << 24;

struct Pool {
  std::mutex mutex;
  std::array<void*, 4> buffers{};
  std::array<bool, 4> in_use{};
};

Pool& pool() {
  static Pool* instance = new Pool;  // never destroyed: used until the process exits
  return *instance;
}

void* take_line_buffer() {
  auto& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  for (std::size_t i = 0; i < p.buffers.size(); ++i) {
    if (p.in_use[i]) continue;
    if (p.buffers[i] == nullptr) {
      void* mapped = ::mmap(nullptr, kLineBufferSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (mapped == MAP_FAILED) return nullptr;
      p.buffers[i] = mapped;
    }
    p.in_use[i] = true;
    return p.buffers[i];
  }
  return nullptr;
}

bool give_back(void* pointer) {
  auto& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  for (std::size_t i = 0; i < p.buffers.size(); ++i) {
    if (p.buffers[i] == pointer && p.in_use[i]) {
      p.in_use[i] = false;
      return true;
    }
  }
  return false;
}

}  // namespace

void* operator new[](std::size_t size) {
  if (size == kLineBufferSize) {
    if (void* buffer = take_line_buffer()) return buffer;
  }
  if (void* memory = std::malloc(size == 0 ? 1 : size)) return memory;
  throw std::bad_alloc();
}

void operator delete[](void* pointer) noexcept {
  if (pointer == nullptr || give_back(pointer)) return;
  std::free(pointer);
}

void operator delete[](void* pointer, std::size_t) noexcept { operator delete[](pointer); }
