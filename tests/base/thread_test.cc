#include "base/thread.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <thread>

namespace ledger::base {
namespace {

int NiceOfThisThread() { return getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())); }

// On a thread of its own, so the test's thread keeps its turns and nice value.
TEST(ThreadSlice, TheTurnIsTheKernelsAndTheNiceValueIsKept) {
  std::thread([] {
    ASSERT_EQ(setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 3), 0);
    const uint64_t slice_ns = SetThisThreadSliceNs(250'000);
    if (slice_ns == 0) GTEST_SKIP() << "this kernel has no per-thread turns (before 6.12)";
    EXPECT_EQ(slice_ns, 250'000u);
    EXPECT_EQ(ThreadSliceNs(), 250'000u);
    EXPECT_EQ(ThreadSliceNs(gettid()), 250'000u);
    EXPECT_EQ(NiceOfThisThread(), 3);
    // Below the kernel's least, its least; 0 gives the kernel's default back.
    EXPECT_EQ(SetThisThreadSliceNs(1'000), 100'000u);
    EXPECT_NE(SetThisThreadSliceNs(0), 100'000u);
    EXPECT_EQ(NiceOfThisThread(), 3);
  }).join();
}

}  // namespace
}  // namespace ledger::base
