// The data directory: what Open refuses.
#include "wal/directory.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "base/assert.h"
#include "tests/wal/corruption_util.h"
#include "tests/wal/wal_test_util.h"
#include "wal/snapshot_file.h"

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

// Sections of given sizes, each byte a function of its place, streamed in uneven pieces.
class PatternSource final : public SnapshotSource {
 public:
  explicit PatternSource(std::vector<uint64_t> sizes) : sizes_(std::move(sizes)) {}
  uint64_t last_timestamp_ns() const override { return 42; }
  absl::Status Stream(StartSection start, WriteBytes write) const override {
    std::vector<std::byte> piece;
    for (uint32_t kind = 0; kind < sizes_.size(); ++kind) {
      LEDGER_RETURN_IF_ERROR(start(kind, 1, sizes_[kind]));
      for (uint64_t done = 0; done < sizes_[kind];) {
        piece.resize(std::min<uint64_t>(sizes_[kind] - done, 1'000'003));
        for (uint64_t i = 0; i < piece.size(); ++i) piece[i] = ByteAt(kind, done + i);
        LEDGER_RETURN_IF_ERROR(write(piece));
        done += piece.size();
      }
    }
    return absl::OkStatus();
  }
  static std::byte ByteAt(uint32_t kind, uint64_t at) {
    return static_cast<std::byte>((at * 131 + kind * 7 + at / 4096) & 0xff);
  }

 private:
  std::vector<uint64_t> sizes_;
};

TEST(Directory, EpochIsReplacedDurablyAndADamagedOrForeignOneIsRefused) {
  TemporaryDirectory temporary;
  const std::string path = temporary.Sub("data");
  const std::string other = temporary.Sub("other");
  ASSERT_TRUE(Directory::Init(path, {.segment_size_bytes = kSegmentSizeMinBytes}).ok());
  ASSERT_TRUE(Directory::Init(other, {.segment_size_bytes = kSegmentSizeMinBytes}).ok());
  {
    auto directory = Directory::Open(path, /*writable=*/true);
    ASSERT_TRUE(directory.ok()) << directory.status();
    EXPECT_EQ(*(*directory)->ReadEpoch(), 0u);
    ASSERT_TRUE((*directory)->WriteEpoch(7).ok());
    ASSERT_TRUE((*directory)->WriteEpoch(9012).ok());
    EXPECT_EQ(*(*directory)->ReadEpoch(), 9012u);
  }
  auto reopened = Directory::Open(path, /*writable=*/false);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(*(*reopened)->ReadEpoch(), 9012u);

  std::filesystem::copy_file(path + "/EPOCH", other + "/EPOCH");
  auto foreign = Directory::Open(other, /*writable=*/false);
  ASSERT_TRUE(foreign.ok());
  EXPECT_TRUE(absl::IsDataLoss((*foreign)->ReadEpoch().status())) << "another directory's";

  std::vector<std::byte> bytes = testing::ReadBytes(path + "/EPOCH", 0, sizeof(EpochFile));
  testing::FlipBit(bytes, 8 * 33);  // in the epoch
  testing::WriteBytes(path + "/EPOCH", 0, bytes);
  EXPECT_TRUE(absl::IsDataLoss((*reopened)->ReadEpoch().status()));
  std::filesystem::resize_file(path + "/EPOCH", 10);
  EXPECT_TRUE(absl::IsDataLoss((*reopened)->ReadEpoch().status()));
}

// Snapshots are written in whole aligned blocks around the page cache, their header last into
// the first block, then cut to size: whatever the body's size (under a block, at and across
// the write pieces), the file is exactly header + body and reads back byte for byte.
TEST(Snapshot, WrittenInAlignedBlocksReadsBackExactlyAtAnySize) {
  TemporaryDirectory temporary;
  const std::string path = temporary.Sub("data");
  ASSERT_TRUE(Directory::Init(path, {.segment_size_bytes = kSegmentSizeMinBytes}).ok());
  auto directory = Directory::Open(path, true);
  ASSERT_TRUE(directory.ok()) << directory.status();
  uint64_t op = 0;
  for (const std::vector<uint64_t>& sizes :
       std::vector<std::vector<uint64_t>>{{0},
                                          {10},
                                          {3968 - 16},
                                          {4096},
                                          {BlockWriter::kBesideTheLogBytes - 128 - 16},
                                          {(uint64_t{4} << 20) - 128 - 16},
                                          {9'000'001, 77, 4096}}) {
    ++op;
    const Hash128 chain{op, op};
    ASSERT_TRUE(WriteSnapshot(**directory, op, chain, PatternSource(sizes)).ok());
    uint64_t body_bytes = 0;
    for (uint64_t size : sizes) body_bytes += sizeof(SectionHeader) + size;
    EXPECT_EQ(std::filesystem::file_size((*directory)->SnapshotPath(op)),
              sizeof(SnapshotHeader) + body_bytes);
    absl::StatusOr<LoadedSnapshot> loaded = ReadSnapshot(**directory, op);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->header.chain_hash, chain);
    EXPECT_EQ(loaded->header.timestamp_ns, 42u);
    ASSERT_EQ(loaded->sections.size(), sizes.size());
    for (uint32_t kind = 0; kind < sizes.size(); ++kind) {
      const SnapshotSection& section = loaded->sections[kind];
      ASSERT_EQ(section.bytes.size(), sizes[kind]);
      for (uint64_t at = 0; at < sizes[kind]; ++at) {
        ASSERT_EQ(section.bytes[at], PatternSource::ByteAt(kind, at)) << kind << " at " << at;
      }
    }
  }
}

}  // namespace
}  // namespace ledger::wal
