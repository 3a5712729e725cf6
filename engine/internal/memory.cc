#include "engine/internal/memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "base/assert.h"

namespace ledger::engine::internal {

namespace {

uint64_t RoundUp(uint64_t value, uint64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

}  // namespace

void* MapHuge(uint64_t bytes, bool reserve_only) {
  const uint64_t size = RoundUp(bytes, kHugePageBytes);
  const int flags = MAP_PRIVATE | MAP_ANONYMOUS | (reserve_only ? MAP_NORESERVE : 0);
  // Over-map by one huge page, then trim both ends to a 2 MiB-aligned range.
  void* mapped = mmap(nullptr, size + kHugePageBytes, PROT_READ | PROT_WRITE, flags, -1, 0);
  LEDGER_ASSERT(mapped != MAP_FAILED, size, errno);
  const uint64_t start = reinterpret_cast<uint64_t>(mapped);
  const uint64_t aligned = RoundUp(start, kHugePageBytes);
  if (aligned > start) munmap(mapped, aligned - start);
  const uint64_t tail = start + size + kHugePageBytes - (aligned + size);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + size), tail);
  void* memory = reinterpret_cast<void*>(aligned);
  if (!reserve_only && bytes >= kHugePageBytes) AdviseHuge(memory, bytes);
  return memory;
}

void UnmapHuge(void* memory, uint64_t bytes) { munmap(memory, RoundUp(bytes, kHugePageBytes)); }

void AdviseHuge(void* memory, uint64_t bytes) {
  madvise(memory, RoundUp(bytes, kHugePageBytes), MADV_HUGEPAGE);
}

void Prefault(void* memory, uint64_t bytes) {
  if (bytes == 0) return;
  const uint64_t page_bytes = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t start = reinterpret_cast<uint64_t>(memory) / page_bytes * page_bytes;
  const uint64_t end = RoundUp(reinterpret_cast<uint64_t>(memory) + bytes, page_bytes);
  if (madvise(reinterpret_cast<void*>(start), end - start, MADV_POPULATE_WRITE) == 0) return;
  // Kernels before 5.14: touch every page. Pages are zero, so writing zero changes nothing.
  for (uint64_t page = start; page < end; page += page_bytes) {
    *reinterpret_cast<volatile char*>(page) = 0;
  }
}

void PrefaultBeside(void* memory, uint64_t bytes) {
  if (bytes == 0) return;
  const uint64_t page_bytes = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t start = reinterpret_cast<uint64_t>(memory) / page_bytes * page_bytes;
  const uint64_t end = RoundUp(reinterpret_cast<uint64_t>(memory) + bytes, page_bytes);
  madvise(reinterpret_cast<void*>(start), end - start, MADV_POPULATE_WRITE);
}

void Release(void* memory, uint64_t bytes) {
  const uint64_t start = RoundUp(reinterpret_cast<uint64_t>(memory), kHugePageBytes);
  const uint64_t end =
      (reinterpret_cast<uint64_t>(memory) + bytes) / kHugePageBytes * kHugePageBytes;
  if (end <= start) return;
  // Best effort: on failure the pages stay resident, which costs memory, not correctness.
  madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTNEED);
}

}  // namespace ledger::engine::internal
