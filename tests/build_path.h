// Where the tests find the project's programs and sources. tests/CMakeLists.txt passes their
// paths relative to the build directory (LEDGERD_BINARY_FROM_BUILD and the others), so no compile
// command names the clone's directory and ccache shares every object between clones (CI builds
// a fresh one); the test executables live in <build>/tests/, which gives the build directory.
#pragma once

#include <filesystem>
#include <string>

namespace ledger::testing {

inline std::string BuildPath(const char* relative_to_build) {
  std::error_code error;
  const std::filesystem::path executable = std::filesystem::read_symlink("/proc/self/exe", error);
  return (executable.parent_path().parent_path() / relative_to_build).lexically_normal().string();
}

}  // namespace ledger::testing

// The programs' paths, for the targets whose tests run them (tests/CMakeLists.txt).
#define LEDGERD_BINARY ::ledger::testing::BuildPath(LEDGERD_BINARY_FROM_BUILD)
#define LEDGERCTL_BINARY ::ledger::testing::BuildPath(LEDGERCTL_BINARY_FROM_BUILD)
#define LEDGER_WAL_BINARY ::ledger::testing::BuildPath(LEDGER_WAL_BINARY_FROM_BUILD)
#define LEDGER_FEED_BINARY ::ledger::testing::BuildPath(LEDGER_FEED_BINARY_FROM_BUILD)
#define LEDGER_BENCH_BINARY ::ledger::testing::BuildPath(LEDGER_BENCH_BINARY_FROM_BUILD)
#define LEDGER_WAL_CRASH_CHILD ::ledger::testing::BuildPath(LEDGER_WAL_CRASH_CHILD_FROM_BUILD)
