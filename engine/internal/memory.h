// Anonymous memory for the big tables: aligned to 2 MiB so transparent huge pages can back
// all of it (random probes into a 128 MiB index would otherwise pay a TLB miss, a nested
// page walk in a VM, each), and pre-faulted on request so the apply path never stalls on
// the kernel zeroing fresh pages (measured: 25% of apply time when left to first touch).
#pragma once

#include <cstdint>

namespace ledger::engine::internal {

inline constexpr uint64_t kHugePageBytes = uint64_t{2} << 20;

// Maps `bytes` of zeroed memory at a 2 MiB boundary. With reserve_only the kernel commits
// pages only on first touch (address space, not memory), and huge pages wait for
// AdviseHuge; otherwise they are asked for when `bytes` fills one (a small table on a huge
// page would cost 2 MiB of zeroing: tests and tools make thousands of small engines).
// Aborts with the size when the mapping fails.
void* MapHuge(uint64_t bytes, bool reserve_only);
void UnmapHuge(void* memory, uint64_t bytes);
// Asks for huge pages over a mapping of MapHuge (best effort: THP may be off).
void AdviseHuge(void* memory, uint64_t bytes);

// Commits and zeroes the pages of [memory, memory + bytes) now.
void Prefault(void* memory, uint64_t bytes);
// As Prefault, while another thread may be writing there: only the kernel faults the pages in
// (MADV_POPULATE_WRITE keeps what a page holds), never a write of this thread's. On a kernel
// without it (before 5.14), nothing: the writer faults them in itself.
void PrefaultBeside(void* memory, uint64_t bytes);
// Gives the whole 2 MiB pages inside [memory, memory + bytes) back to the kernel (they read as
// zero when touched again): what a ring drops stops counting against resident memory.
void Release(void* memory, uint64_t bytes);

}  // namespace ledger::engine::internal
