#include "base/thread.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ledger::base {
namespace {

// The kernel's struct sched_attr, first version (SCHED_ATTR_SIZE_VER0): glibc has neither it
// nor a wrapper, and <linux/sched/types.h> clashes with <sched.h>.
struct SchedAttr {
  uint32_t size = sizeof(SchedAttr);
  uint32_t policy = 0;
  uint64_t flags = 0;
  int32_t nice = 0;
  uint32_t priority = 0;
  uint64_t runtime_ns = 0;  // SCHED_OTHER and SCHED_BATCH, Linux 6.12 on: the turn
  uint64_t deadline_ns = 0;
  uint64_t period_ns = 0;
};
static_assert(sizeof(SchedAttr) == 48);

bool GetAttr(SchedAttr& attr, pid_t tid = 0) {
  return syscall(SYS_sched_getattr, tid, &attr, sizeof(attr), 0) == 0;
}

}  // namespace

uint64_t SetThisThreadSliceNs(uint64_t slice_ns) {
  // Read first, so the thread's policy and nice value stay as they are.
  SchedAttr attr;
  if (!GetAttr(attr) || (attr.policy != SCHED_OTHER && attr.policy != SCHED_BATCH)) return 0;
  attr.size = sizeof(attr);
  attr.flags = 0;
  attr.runtime_ns = slice_ns;
  if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0 || !GetAttr(attr)) return 0;
  return attr.runtime_ns;
}

uint64_t ThreadSliceNs(pid_t tid) {
  SchedAttr attr;
  return GetAttr(attr, tid) ? attr.runtime_ns : 0;
}

}  // namespace ledger::base
