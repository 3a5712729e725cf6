// The two clocks, in nanoseconds, for every module: one definition instead of one per file.
#pragma once

#include <time.h>

#include <cstdint>

namespace ledger::base {

// CLOCK_REALTIME: wall time since the Unix epoch (booking timestamps, expiry deadlines). It
// can step back; the sequencer keeps booking timestamps rising regardless.
inline uint64_t RealtimeNs() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(now.tv_nsec);
}

// CLOCK_MONOTONIC: durations and deadlines within one process (latencies, timeouts).
inline uint64_t MonotonicNs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(now.tv_nsec);
}

}  // namespace ledger::base
