// Names the calling thread for operators' tools (`top -H`, `ps -L`, gdb, /proc/PID/task/*/comm),
// so a busy thread of ledgerd says what it does.
#pragma once

#include <pthread.h>

namespace ledger::base {

// At most 15 characters (the kernel's limit); a longer name is cut there.
inline void NameThisThread(const char* name) {
  char cut[16] = {};
  for (int i = 0; i < 15 && name[i] != '\0'; ++i) cut[i] = name[i];
  pthread_setname_np(pthread_self(), cut);
}

}  // namespace ledger::base
