// The calling thread's name and its turns on a core.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <cstdint>

namespace ledger::base {

// Names the calling thread for operators' tools (`top -H`, `ps -L`, gdb, /proc/PID/task/*/comm),
// so a busy thread of ledgerd says what it does. At most 15 characters (the kernel's limit); a
// longer name is cut there.
inline void NameThisThread(const char* name) {
  char cut[16] = {};
  for (int i = 0; i < 15 && name[i] != '\0'; ++i) cut[i] = name[i];
  pthread_setname_np(pthread_self(), cut);
}

// Asks the scheduler for turns of `slice_ns` on a core for the calling thread (0: the kernel's
// default), for a thread that wakes to answer and sleeps again. Since Linux 6.12 (EEVDF) a
// thread with shorter turns gets an earlier deadline when it wakes, so it takes a core from a
// thread that runs long (a load generator, a batch being applied) at once rather than up to a
// turn later. Unprivileged; the kernel keeps it within [0.1, 100] ms, and older kernels ignore
// it. Returns the turn the thread now has, 0 where the kernel cannot say.
uint64_t SetThisThreadSliceNs(uint64_t slice_ns);

// The turn thread `tid` has (0: the calling thread), 0 where the kernel cannot say.
uint64_t ThreadSliceNs(pid_t tid = 0);

}  // namespace ledger::base
