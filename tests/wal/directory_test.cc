// The data directory: what Open refuses.
#include "wal/directory.h"

#include <gtest/gtest.h>

#include "tests/wal/wal_test_util.h"

namespace ledger::wal {
namespace {

using testing::TemporaryDirectory;

TEST(Directory, OpenRefusesMissingForeignAndLockedDirectories) {
  TemporaryDirectory temporary;
  auto missing = Directory::Open(temporary.Sub("nope"), true);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  auto not_ledger = Directory::Open(temporary.path(), true);
  EXPECT_EQ(not_ledger.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string path = temporary.Sub("data");
  ASSERT_TRUE(Directory::Init(path, {.segment_size_bytes = kSegmentSizeMinBytes}).ok());
  EXPECT_EQ(Directory::Init(path, {}).code(), absl::StatusCode::kAlreadyExists);
  auto first = Directory::Open(path, true);
  ASSERT_TRUE(first.ok());
  auto second = Directory::Open(path, true);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  auto reader = Directory::Open(path, false);
  EXPECT_TRUE(reader.ok());
}

}  // namespace
}  // namespace ledger::wal
