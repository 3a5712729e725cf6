// Torn, corrupted and edited logs. Recovery keeps exactly the whole groups before a torn tail
// and cuts the rest; anything a crash cannot explain (a bad group with a valid one after it, a
// missing or foreign segment, a snapshot that does not fit the log) is refused with DataLoss
// and nothing on disk changes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "replica/log_schema.h"
#include "replica/recovery.h"
#include "tests/wal/corruption_util.h"
#include "tests/wal/wal_test_util.h"
#include "wal/directory.h"
#include "wal/format.h"
#include "wal/log_reader.h"

namespace ledger::wal {
namespace {

using replica::Recovered;
using testing::BuildLog;
using testing::BuiltLog;
using testing::FileSizeBytes;
using testing::FlipBit;
using testing::GroupLayout;
using testing::LogPlan;
using testing::RawEntry;
using testing::ReadBytes;
using testing::Resealed;
using testing::TemporaryDirectory;
using testing::WriteBytes;

constexpr uint64_t kSegmentBytes = kSegmentSizeMinBytes;
constexpr uint64_t kSeed = 31;
// The small log: ledger, accounts, then this many batches of 1 to 4 transfers, one group each.
constexpr uint64_t kSmallTransferOps = 6;
// Room kept after the small log's groups for one appended or inserted group.
constexpr uint64_t kImageSlackBytes = 2 * kBlockBytes;

// As after a crash before the log writer first raised the directory's durable mark
// (wal/format.h, DURABLE): these tests are about what the log alone shows.
// tests/replica/durable_mark_test.cc holds the log to its mark.
void ForgetDurableMark(const Directory& directory) {
  ASSERT_TRUE(directory.WriteDurableMark({.segment_index = 0, .op = 0}).ok());
}

::testing::AssertionResult Mentions(const absl::Status& status, const std::string& text) {
  if (std::string(status.message()).find(text) != std::string::npos) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "\"" << status.message() << "\" does not mention \"" << text << "\"";
}

Hash128 FileDigest(const std::string& path) {
  return HashBytes(ReadBytes(path, 0, FileSizeBytes(path)));
}

// A small log of one entry per group, each group one block (group i at block i + 1, op i + 1),
// opened writable, with a copy of its first segment's bytes up to a little past the groups
// (`image_`). Everything past the copy stays zero throughout.
class SmallLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LogPlan plan;
    for (uint64_t op = 3; op < 3 + kSmallTransferOps; ++op) {
      plan.transfer_batches.push_back(testing::TestTransfers(kSeed, op, 4));
    }
    plan.snapshot_ops = snapshot_ops_;
    absl::StatusOr<BuiltLog> built = BuildLog(path_, kSegmentBytes, plan);
    ASSERT_TRUE(built.ok()) << built.status();
    log_ = std::move(*built);
    auto directory = Directory::Open(path_, /*writable=*/true);
    ASSERT_TRUE(directory.ok()) << directory.status();
    directory_ = std::move(*directory);
    ASSERT_NO_FATAL_FAILURE(ForgetDurableMark(*directory_));
    segment_path_ = directory_->SegmentPath(0);
    const std::vector<std::byte> segment = ReadBytes(segment_path_, 0, kSegmentBytes);
    groups_ = testing::ParseGroups(segment, directory_->identity().directory_id);
    ASSERT_EQ(groups_.size(), log_.last_op());
    for (size_t i = 0; i < groups_.size(); ++i) {
      ASSERT_EQ(groups_[i].offset, GroupOffset(i));
      ASSERT_EQ(groups_[i].first_op, i + 1);
      ASSERT_EQ(groups_[i].entry_count, 1u);
      ASSERT_LE(groups_[i].size_bytes, kBlockBytes);
    }
    image_.assign(segment.begin(),
                  segment.begin() + static_cast<long>(log_end() + kImageSlackBytes));
    ASSERT_TRUE(IsAllZero(std::span(segment).subspan(log_end())));
  }

  static uint64_t GroupOffset(size_t position) { return kBlockBytes * (position + 1); }
  uint64_t log_end() const { return groups_.back().padded_end(); }
  size_t group_count() const { return groups_.size(); }

  absl::StatusOr<Recovered> RecoverNow(bool use_snapshots = true) const {
    return replica::Recover(*directory_, testing::TestRecoveryOptions(use_snapshots));
  }
  // Puts the original log back.
  void Restore() const { WriteBytes(segment_path_, 0, image_); }
  // Segment 0 holds `expected` (and zeros after it, which nothing here writes to).
  ::testing::AssertionResult SegmentHolds(std::span<const std::byte> expected) const {
    if (FileSizeBytes(segment_path_) != kSegmentBytes) {
      return ::testing::AssertionFailure() << "segment size changed";
    }
    const std::vector<std::byte> now = ReadBytes(segment_path_, 0, expected.size());
    if (!std::equal(now.begin(), now.end(), expected.begin(), expected.end())) {
      return ::testing::AssertionFailure() << "segment bytes changed";
    }
    return ::testing::AssertionSuccess();
  }

  // Writes `entries` as one group each in place of the log's groups; returns the new bytes.
  std::vector<std::byte> WriteLayout(std::span<const RawEntry> entries) const {
    std::vector<std::byte> bytes =
        testing::LayOutGroups(image_, 0, entries, directory_->identity().directory_id);
    WriteBytes(segment_path_, 0, bytes);
    return bytes;
  }

  // The log on disk (`on_disk`) has a bad group at `position` and a valid one after it: the
  // scan refuses it naming segment, offset and op, and so does recovery (when `recover`;
  // recovery returns the scan's error, and costs ~5 ms, mostly its engine's tables), and
  // nothing changes.
  void ExpectRefused(std::span<const std::byte> on_disk, size_t position,
                     const std::string& reason = "", bool recover = true) const {
    std::vector<absl::Status> statuses = {
        ScanLog(*directory_, replica::LogScanOptions(), nullptr).status()};
    if (recover) statuses.push_back(RecoverNow().status());
    for (const absl::Status& status : statuses) {
      EXPECT_TRUE(absl::IsDataLoss(status)) << status;
      EXPECT_TRUE(Mentions(status, segment_path_));
      EXPECT_TRUE(Mentions(status, absl::StrCat("at offset ", GroupOffset(position), " ")));
      EXPECT_TRUE(Mentions(status, absl::StrCat("(op ", position + 1, ")")));
      EXPECT_TRUE(Mentions(status, reason));
    }
    EXPECT_TRUE(SegmentHolds(on_disk));
  }

  // The group at `position` is bad and nothing valid follows: a torn tail. The scan reports it
  // without changing anything; recovery (when `recover`) ends the log before it, with the
  // state of the ops before it, and zeroes the segment from there.
  void ExpectTornAt(std::span<const std::byte> on_disk, size_t position,
                    bool recover = true) const {
    const LogPosition torn_at{0, GroupOffset(position)};
    absl::StatusOr<ScanResult> scanned = ScanLog(*directory_, replica::LogScanOptions(), nullptr);
    ASSERT_TRUE(scanned.ok()) << scanned.status();
    EXPECT_TRUE(scanned->torn_tail);
    EXPECT_EQ(scanned->torn_at, torn_at);
    EXPECT_EQ(scanned->end, torn_at);
    EXPECT_EQ(scanned->last_op, position);
    EXPECT_EQ(scanned->last_chain_hash, log_.chain_hash_by_op[position]);
    EXPECT_TRUE(SegmentHolds(on_disk));
    if (!recover) return;

    absl::StatusOr<Recovered> recovered = RecoverNow();
    ASSERT_TRUE(recovered.ok()) << recovered.status();
    EXPECT_TRUE(recovered->log.torn_tail);
    EXPECT_EQ(recovered->log.torn_at, torn_at);
    EXPECT_EQ(recovered->log.last_op, position);
    EXPECT_EQ(recovered->log.last_chain_hash, log_.chain_hash_by_op[position]);
    EXPECT_EQ(recovered->engine->ComputeStateHash(), log_.state_hash_by_op[position]);
    ASSERT_EQ(recovered->notes.size(), 1u);
    EXPECT_NE(recovered->notes[0].find("torn tail"), std::string::npos) << recovered->notes[0];
    EXPECT_NE(recovered->notes[0].find("cut"), std::string::npos) << recovered->notes[0];
    std::vector<std::byte> cut(on_disk.begin(), on_disk.end());
    std::fill(cut.begin() + static_cast<long>(torn_at.offset), cut.end(), std::byte{0});
    EXPECT_TRUE(SegmentHolds(cut));
  }

  TemporaryDirectory temporary_;
  const std::string path_ = temporary_.Sub("data");
  std::vector<uint64_t> snapshot_ops_;  // set by a fixture before SetUp
  BuiltLog log_;
  std::unique_ptr<Directory> directory_;
  std::string segment_path_;
  std::vector<GroupLayout> groups_;
  std::vector<std::byte> image_;
};

// ---------------------------------------------------------------------------------------------
// A crash cuts the newest group at any byte.

class CorruptionCut : public SmallLogTest {
 protected:
  // Simulates a crash that wrote the log only up to `cut`: the segment is preallocated, so
  // what did not reach the disk reads as zeros. Checks what the scan finds and, when
  // `recover`, what recovery makes of it (and optionally appends after it); then restores
  // the log.
  void CheckCut(uint64_t cut, bool recover, bool append_after) {
    SCOPED_TRACE(absl::StrCat("cut at offset ", cut));
    testing::WriteZeros(segment_path_, cut, image_.size() - cut);
    size_t whole = 0;  // groups wholly written before the cut: ops 1..whole
    bool inside_group = false;
    for (const GroupLayout& group : groups_) {
      if (group.significant_end <= cut) {
        ++whole;
      } else if (group.offset < cut) {
        inside_group = true;
      }
    }
    const LogPosition end{0, whole < group_count() ? GroupOffset(whole) : log_end()};
    absl::StatusOr<ScanResult> scanned = ScanLog(*directory_, replica::LogScanOptions(), nullptr);
    ASSERT_TRUE(scanned.ok()) << scanned.status();
    EXPECT_EQ(scanned->last_op, whole);
    EXPECT_EQ(scanned->last_chain_hash, log_.chain_hash_by_op[whole]);
    EXPECT_EQ(scanned->torn_tail, inside_group);
    EXPECT_EQ(scanned->end, end);
    if (inside_group) {
      EXPECT_EQ(scanned->torn_at, end);
    }
    if (recover) {
      absl::StatusOr<Recovered> recovered = RecoverNow();
      ASSERT_TRUE(recovered.ok()) << recovered.status();
      EXPECT_EQ(recovered->log.last_op, whole);
      EXPECT_EQ(recovered->engine->ComputeStateHash(), log_.state_hash_by_op[whole]);
      EXPECT_EQ(recovered->log.torn_tail, inside_group);
      EXPECT_EQ(recovered->log.end, end);
      if (inside_group) {
        EXPECT_EQ(recovered->log.torn_at, end);
        ASSERT_EQ(recovered->notes.size(), 1u);
        EXPECT_NE(recovered->notes[0].find("cut"), std::string::npos) << recovered->notes[0];
        EXPECT_TRUE(IsAllZero(ReadBytes(segment_path_, end.offset, image_.size())));
      } else {
        EXPECT_TRUE(recovered->notes.empty());
      }
      if (append_after) AppendAndRecoverAgain(recovered->log.last_op);
    }
    Restore();
  }

  // A new replica continues where recovery ended the log (at `last_op`), and the next
  // recovery sees its entry.
  void AppendAndRecoverAgain(uint64_t last_op) {
    engine::StateHash expected;
    {
      directory_.reset();  // the appender's replica takes the directory's lock
      auto appender = testing::Appender::Open(path_);
      ASSERT_TRUE(appender.ok()) << appender.status();
      const std::vector<Transfer> batch = testing::TestTransfers(kSeed + 1, last_op + 1, 4);
      absl::StatusOr<replica::BatchReceipt> receipt = (*appender)->AppendTransfers(batch);
      ASSERT_TRUE(receipt.ok()) << receipt.status();
      EXPECT_EQ(receipt->op, last_op + 1);
      expected = (*appender)->engine().ComputeStateHash();
    }
    auto directory = Directory::Open(path_, /*writable=*/true);
    ASSERT_TRUE(directory.ok()) << directory.status();
    directory_ = std::move(*directory);
    absl::StatusOr<Recovered> again = RecoverNow();
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->log.last_op, last_op + 1);
    EXPECT_FALSE(again->log.torn_tail);
    EXPECT_EQ(again->engine->ComputeStateHash(), expected);
    ForgetDurableMark(*directory_);  // the appender raised it; the next cut is a crash again
  }
};

TEST_F(CorruptionCut, RecoveryKeepsExactlyTheWholeGroupsWhenZeroedFromAnyOffset) {
  // Every offset from the first group to the end of the last one's padding. Zeroing from
  // `cut` leaves the same file as zeroing from cut + 1 when the byte at `cut` is already zero,
  // so the answer must be the same: only offsets that leave distinct files are checked (the
  // others share the file, hence the outcome, of the next one that is): ~950 of 32 K here.
  // The scan, which decides everything recovery reports about the tail, runs at each of them.
  // Writable recovery (~10 ms: an engine's tables, zeroing the tail, a sync) runs at every
  // fourth of them and at each group's first and last.
  const std::vector<std::byte> segment_start = image_;
  uint64_t distinct_count = 0;
  for (uint64_t cut = kBlockBytes; cut <= log_end() && !HasFailure(); ++cut) {
    if (cut < log_end() && image_[cut] == std::byte{0}) continue;
    const bool group_edge =
        std::any_of(groups_.begin(), groups_.end(), [&](const GroupLayout& group) {
          return cut == group.offset || cut + 1 == group.significant_end;
        });
    CheckCut(cut, /*recover=*/group_edge || distinct_count % 4 == 0, /*append_after=*/false);
    ++distinct_count;
  }
  EXPECT_GT(distinct_count, 50 * group_count()) << "headers alone hold more distinct cuts";
}

TEST_F(CorruptionCut, AppendingAfterRecoveryFromACutWorksAndTheNextRecoverySeesIt) {
  // Where the cut falls in the group: on its boundary, in its header, at the entry header, at
  // the body, at its last non-zero byte, and at the end of the log.
  for (const GroupLayout& group : groups_) {
    for (uint64_t cut :
         {group.offset, group.offset + 1, group.offset + sizeof(GroupHeader),
          group.offset + sizeof(GroupHeader) + sizeof(EntryHeader), group.significant_end - 1}) {
      CheckCut(cut, /*recover=*/true, /*append_after=*/true);
      if (HasFailure()) return;
    }
  }
  CheckCut(log_end(), /*recover=*/true, /*append_after=*/true);
}

TEST_F(CorruptionCut, RecoveryRefusesATruncatedSegmentAndLeavesItAsItIs) {
  // Segments are preallocated and created under a temporary name, so no crash leaves one
  // shorter than the directory's segment size: whatever shortened it was not a crash of the
  // writer, and recovery must not guess. Cuts in the segment header, at and in each group.
  std::vector<uint64_t> cuts = {0, sizeof(SegmentHeader) / 2, sizeof(SegmentHeader), kBlockBytes};
  for (const GroupLayout& group : groups_) {
    cuts.insert(cuts.end(), {group.offset + 1, group.offset + sizeof(GroupHeader) + 1,
                             group.significant_end - 1, group.significant_end, group.padded_end()});
  }
  cuts.push_back(kSegmentBytes - 1);
  for (uint64_t cut : cuts) {
    SCOPED_TRACE(absl::StrCat("truncated at ", cut));
    testing::ResizeFile(segment_path_, cut);
    absl::StatusOr<ScanResult> scanned = ScanLog(*directory_, replica::LogScanOptions(), nullptr);
    EXPECT_TRUE(absl::IsDataLoss(scanned.status())) << scanned.status();
    absl::StatusOr<Recovered> recovered = RecoverNow();
    EXPECT_TRUE(absl::IsDataLoss(recovered.status())) << recovered.status();
    EXPECT_EQ(FileSizeBytes(segment_path_), cut);
    const uint64_t kept = std::min<uint64_t>(cut, image_.size());
    const std::vector<std::byte> now = ReadBytes(segment_path_, 0, kept);
    EXPECT_TRUE(std::equal(now.begin(), now.end(), image_.begin()));
    testing::ResizeFile(segment_path_, kSegmentBytes);
    Restore();
  }
}

// ---------------------------------------------------------------------------------------------
// A flipped bit anywhere in an entry's group header, entry header or body.

class CorruptionBitFlip : public SmallLogTest {
 protected:
  // Flips one bit of each byte of the group's header, its entry's header and body (bit
  // `offset % 8`, so every bit position is hit), calls `check(offset)`, then restores the log.
  template <typename Check>
  void ForEachFlip(const GroupLayout& group, Check&& check) {
    EntryHeader entry;
    std::memcpy(&entry, image_.data() + group.offset + sizeof(GroupHeader), sizeof(entry));
    const uint64_t end =
        group.offset + sizeof(GroupHeader) + sizeof(EntryHeader) + entry.body_size_bytes;
    for (uint64_t at = group.offset; at < end && !HasFailure(); ++at) {
      SCOPED_TRACE(absl::StrCat("bit ", at % 8, " of byte ", at));
      FlipBit(image_, at * 8 + at % 8);
      WriteBytes(segment_path_, at, std::span(image_).subspan(at, 1));
      check(at);
      FlipBit(image_, at * 8 + at % 8);
      Restore();
    }
  }
};

// The scan checks every flip; recovery, which returns the scan's verdict (and costs ~5 ms, ~10
// when it cuts), checks every 7th.
constexpr uint64_t kRecoverEveryFlips = 7;

TEST_F(CorruptionBitFlip, ScanAndRecoveryRefuseAFlipInAnyGroupButTheLast) {
  for (size_t position = 0; position + 1 < group_count(); ++position) {
    ForEachFlip(groups_[position], [&](uint64_t at) {
      ExpectRefused(image_, position, "", /*recover=*/at % kRecoverEveryFlips == 0);
    });
  }
}

TEST_F(CorruptionBitFlip, RecoveryCutsTheLastGroupAsATornTailWhenItHasAFlip) {
  const size_t last = group_count() - 1;
  ForEachFlip(groups_[last], [&](uint64_t at) {
    ExpectTornAt(image_, last, /*recover=*/at % kRecoverEveryFlips == 0);
  });
}

// ---------------------------------------------------------------------------------------------
// Entries reordered, removed, repeated or edited, group headers made to fit.

class CorruptionChain : public SmallLogTest {
 protected:
  void SetUp() override {
    SmallLogTest::SetUp();
    if (HasFatalFailure()) return;
    entries_ = testing::ReadEntries(image_, groups_);
  }

  // `entries` with ops renumbered from `from` on, each resealed, keeping every
  // previous_chain_hash: ops, sizes and checksums all hold, so only the chain can break.
  static std::vector<RawEntry> Renumbered(std::vector<RawEntry> entries, size_t from) {
    for (size_t i = from; i < entries.size(); ++i) entries[i] = Resealed(entries[i], i + 1);
    return entries;
  }

  // Refused when a valid group follows the bad one at `position`. When none does, the bad
  // entry must not be replayed: refused, or cut as a torn tail. (The rule of format.h calls
  // it torn; but an intact group whose only fault is its op or link is no torn write, so
  // refusing would be as right, and this does not pin either.)
  void ExpectDetected(const std::vector<RawEntry>& entries, size_t position,
                      const std::string& reason = "") {
    SCOPED_TRACE(absl::StrCat("first bad entry at position ", position));
    const std::vector<std::byte> on_disk = WriteLayout(entries);
    const bool refused =
        absl::IsDataLoss(ScanLog(*directory_, replica::LogScanOptions(), nullptr).status());
    if (position + 1 < entries.size() || refused) {
      ExpectRefused(on_disk, position, reason);
    } else {
      ExpectTornAt(on_disk, position);
    }
    Restore();
  }

  // Why a group holding another op than the next one is refused: a log from genesis starts
  // at op 1, and every later group continues the op sequence.
  static std::string RawMoveReason(size_t /*position*/) { return "group starts at op"; }

  std::vector<RawEntry> entries_;
};

TEST_F(CorruptionChain, SwappedEntriesAreDataLoss) {
  for (size_t i = 0; i + 1 < entries_.size() && !HasFailure(); ++i) {
    std::vector<RawEntry> swapped = entries_;
    std::swap(swapped[i], swapped[i + 1]);
    ExpectDetected(swapped, i, RawMoveReason(i));  // op numbers out of order
    ExpectDetected(Renumbered(swapped, i), i, "does not link");
  }
}

TEST_F(CorruptionChain, DeletedEntryIsDataLossWhenAGroupFollowsIt) {
  // Deleting the last entry leaves a shorter valid log: nothing after it could tell.
  for (size_t i = 0; i + 1 < entries_.size() && !HasFailure(); ++i) {
    std::vector<RawEntry> deleted = entries_;
    deleted.erase(deleted.begin() + static_cast<long>(i));
    ExpectDetected(deleted, i, RawMoveReason(i));  // an op is missing
    ExpectDetected(Renumbered(deleted, i), i, "does not link");
  }
}

TEST_F(CorruptionChain, InsertedCopyOfAnEntryIsDataLossWhenAGroupFollowsIt) {
  for (size_t i = 0; i < entries_.size() && !HasFailure(); ++i) {
    std::vector<RawEntry> inserted = entries_;
    inserted.insert(inserted.begin() + static_cast<long>(i) + 1, entries_[i]);
    ExpectDetected(inserted, i + 1, "group starts at op");  // an op repeats
    ExpectDetected(Renumbered(inserted, i + 1), i + 1, "does not link");
  }
}

TEST_F(CorruptionChain, LostGroupFollowedByAValidOneIsDataLoss) {
  // A write the device acknowledged but lost: zeros where a group should be, and the next
  // group intact after them. Here both are in one segment; CorruptionSegment has the same
  // with the next group in the next segment.
  for (size_t i = 0; i + 1 < entries_.size() && !HasFailure(); ++i) {
    SCOPED_TRACE(absl::StrCat("group ", i, " lost"));
    std::vector<std::byte> on_disk = image_;
    std::fill(on_disk.begin() + static_cast<long>(GroupOffset(i)),
              on_disk.begin() + static_cast<long>(GroupOffset(i + 1)), std::byte{0});
    WriteBytes(segment_path_, 0, on_disk);
    ExpectRefused(on_disk, i, "a hole of zeros");
    Restore();
  }
}

TEST_F(CorruptionChain, BodyEditedWithItsChecksumRecomputedBreaksItsChainHash) {
  for (size_t i = 0; i < entries_.size() && !HasFailure(); ++i) {
    std::vector<RawEntry> edited = entries_;
    edited[i].body[0] ^= std::byte{1};
    edited[i].header.body_checksum = HashBytes(edited[i].body);
    ExpectDetected(edited, i, "malformed header");
  }
}

// An entry resealed with the last timestamp there is (a forger's edit, or a writer's bug):
// the events it books, and the next entry's least timestamp, would wrap past 2^64, so any
// timestamp could follow, and an engine replaying it stops (its batch would end past time's
// end). Refused wherever it is, even as the last entry: a whole group no crash explains.
TEST_F(CorruptionChain, EntryAtTheEndOfTimeIsDataLoss) {
  for (size_t i = 0; i < entries_.size() && !HasFailure(); ++i) {
    std::vector<RawEntry> edited = entries_;
    edited[i].header.timestamp_ns = ~uint64_t{0} - edited[i].header.event_count;
    edited[i] = Resealed(edited[i], i + 1);
    ExpectDetected(edited, i, "at the end of time");
  }
}

TEST_F(CorruptionChain, BodyEditedAndResealedBreaksTheNextEntrysLink) {
  // Only the next entry can tell, so the edited entry needs two after it to be refused; an
  // edit resealed in one of the last two entries is beyond what the chain can catch (format.h:
  // it stops careless edits, not a forger who recomputes it).
  for (size_t i = 0; i + 2 < entries_.size() && !HasFailure(); ++i) {
    std::vector<RawEntry> edited = entries_;
    edited[i].body[0] ^= std::byte{1};
    edited[i] = Resealed(edited[i], i + 1);
    ExpectDetected(edited, i + 1, "does not link");
  }
}

// ---------------------------------------------------------------------------------------------
// Segments missing, foreign or of the wrong size, in a log of three segments.

class CorruptionSegment : public ::testing::Test {
 protected:
  void SetUp() override {
    // Ledger and accounts, then entries of ~1 MiB: three per 4 MiB segment.
    LogPlan plan;
    for (uint64_t op = 3; op <= 10; ++op) {
      plan.transfer_batches.push_back(testing::BulkTransfers(op, kEventsPerEntryMax));
    }
    absl::StatusOr<BuiltLog> built = BuildLog(path_, kSegmentBytes, plan);
    ASSERT_TRUE(built.ok()) << built.status();
    log_ = std::move(*built);
    auto directory = Directory::Open(path_, /*writable=*/true);
    ASSERT_TRUE(directory.ok()) << directory.status();
    directory_ = std::move(*directory);
    ASSERT_NO_FATAL_FAILURE(ForgetDurableMark(*directory_));
    auto segments = directory_->ListSegments();
    ASSERT_TRUE(segments.ok());
    ASSERT_EQ(*segments, (std::vector<uint64_t>{0, 1, 2}));
    for (uint64_t index : *segments) {
      const std::string path = directory_->SegmentPath(index);
      digests_.push_back(FileDigest(path));
      groups_.push_back(testing::ParseGroups(ReadBytes(path, 0, kSegmentBytes),
                                             directory_->identity().directory_id));
      ASSERT_GE(groups_.back().size(), 2u);
    }
  }

  std::string SegmentPath(uint64_t index) const { return directory_->SegmentPath(index); }

  // Scan and recovery refuse the directory with DataLoss (or FailedPrecondition when
  // `foreign_allowed`), and every segment but `except` still holds what it held.
  void ExpectRefused(const std::string& reason, uint64_t except, bool foreign_allowed = false) {
    for (const absl::Status& status :
         {ScanLog(*directory_, replica::LogScanOptions(), nullptr).status(),
          replica::Recover(*directory_, testing::TestRecoveryOptions()).status()}) {
      const bool code_ok =
          absl::IsDataLoss(status) ||
          (foreign_allowed && status.code() == absl::StatusCode::kFailedPrecondition);
      EXPECT_TRUE(code_ok) << status;
      EXPECT_TRUE(Mentions(status, reason));
    }
    for (uint64_t index = 0; index < digests_.size(); ++index) {
      if (index != except) {
        EXPECT_EQ(FileDigest(SegmentPath(index)), digests_[index]) << index;
      }
    }
  }

  TemporaryDirectory temporary_;
  const std::string path_ = temporary_.Sub("data");
  BuiltLog log_;
  std::unique_ptr<Directory> directory_;
  std::vector<Hash128> digests_;                  // of each segment file as written
  std::vector<std::vector<GroupLayout>> groups_;  // of each segment
};

TEST_F(CorruptionSegment, MissingMiddleSegmentIsDataLoss) {
  const std::string aside = temporary_.Sub("aside");
  std::filesystem::rename(SegmentPath(1), aside);
  ExpectRefused("segment 1 is missing", 1);
  std::filesystem::rename(aside, SegmentPath(1));
  absl::StatusOr<Recovered> recovered =
      replica::Recover(*directory_, testing::TestRecoveryOptions());
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_EQ(recovered->engine->ComputeStateHash(), log_.state_hash_by_op[log_.last_op()]);
}

TEST_F(CorruptionSegment, MissingFirstSegmentIsDataLossWithoutASnapshotCoveringIt) {
  // To the scan this is a log whose oldest segments were archived; recovery then needs a
  // snapshot at or past the op before the first one left, and there is none.
  std::filesystem::rename(SegmentPath(0), temporary_.Sub("aside"));
  absl::StatusOr<ScanResult> scanned = ScanLog(*directory_, replica::LogScanOptions(), nullptr);
  ASSERT_TRUE(scanned.ok()) << scanned.status();
  EXPECT_TRUE(scanned->archived_start);
  EXPECT_EQ(scanned->first_op, groups_[1].front().first_op);
  absl::StatusOr<Recovered> recovered =
      replica::Recover(*directory_, testing::TestRecoveryOptions());
  EXPECT_TRUE(absl::IsDataLoss(recovered.status())) << recovered.status();
  EXPECT_TRUE(Mentions(recovered.status(), "archived"));
  for (uint64_t index : {1, 2}) EXPECT_EQ(FileDigest(SegmentPath(index)), digests_[index]);
}

// ScanOptions::from_op (recovery's, from a snapshot's op) reads from the newest segment whose
// first group begins at or before it: same end as a full scan, the segments before it not
// read (damage there is ledger-wal verify's to find, which reads from the start).
TEST_F(CorruptionSegment, ScanFromAnOpReadsFromTheSegmentHoldingIt) {
  absl::StatusOr<ScanResult> full = ScanLog(*directory_, replica::LogScanOptions(), nullptr);
  ASSERT_TRUE(full.ok()) << full.status();
  const uint64_t segment_2_first_op = groups_[2].front().first_op;
  for (const uint64_t from_op : {uint64_t{1}, groups_[1].front().first_op, segment_2_first_op,
                                 segment_2_first_op + 1, full->last_op}) {
    wal::ScanOptions options = replica::LogScanOptions();
    options.from_op = from_op;
    uint64_t first_visited = 0;
    absl::StatusOr<ScanResult> scanned =
        ScanLog(*directory_, options, [&](const EntryHeader& header, std::span<const std::byte>) {
          if (first_visited == 0) first_visited = header.op;
          return absl::OkStatus();
        });
    ASSERT_TRUE(scanned.ok()) << scanned.status();
    const uint64_t expected_segment = from_op >= segment_2_first_op            ? 2
                                      : from_op >= groups_[1].front().first_op ? 1
                                                                               : 0;
    EXPECT_EQ(scanned->start_segment_index, expected_segment) << from_op;
    EXPECT_EQ(first_visited, groups_[expected_segment].front().first_op) << from_op;
    EXPECT_LE(first_visited, from_op);
    EXPECT_EQ(scanned->last_op, full->last_op);
    EXPECT_EQ(scanned->last_chain_hash, full->last_chain_hash);
    EXPECT_EQ(scanned->end.segment_index, full->end.segment_index);
    EXPECT_EQ(scanned->end.offset, full->end.offset);
  }
  // A flip in segment 0: the full scan refuses; a scan from segment 2 does not read it.
  const uint64_t at = groups_[0].front().offset + sizeof(GroupHeader) + sizeof(EntryHeader) + 1000;
  std::vector<std::byte> byte = ReadBytes(SegmentPath(0), at, 1);
  FlipBit(byte, 3);
  WriteBytes(SegmentPath(0), at, byte);
  EXPECT_TRUE(absl::IsDataLoss(ScanLog(*directory_, replica::LogScanOptions(), nullptr).status()));
  wal::ScanOptions options = replica::LogScanOptions();
  options.from_op = segment_2_first_op;
  EXPECT_TRUE(ScanLog(*directory_, options, nullptr).ok());
}

TEST_F(CorruptionSegment, SegmentOfAnotherDirectoryIsRefused) {
  const std::string other_path = temporary_.Sub("other");
  ASSERT_TRUE(BuildLog(other_path, kSegmentBytes, {}).ok());
  const std::string foreign =
      other_path + "/" + std::filesystem::path(SegmentPath(0)).filename().string();
  const std::string aside = temporary_.Sub("aside");
  for (uint64_t index : {0, 1, 2}) {
    SCOPED_TRACE(absl::StrCat("segment ", index, " replaced"));
    std::filesystem::rename(SegmentPath(index), aside);
    std::filesystem::copy_file(foreign, SegmentPath(index));
    ExpectRefused("another directory", index, /*foreign_allowed=*/true);
    std::filesystem::remove(SegmentPath(index));
    std::filesystem::rename(aside, SegmentPath(index));
  }
  // One more segment after the last, from the other directory.
  std::filesystem::copy_file(foreign, SegmentPath(3));
  ExpectRefused("another directory", 3, /*foreign_allowed=*/true);
}

TEST_F(CorruptionSegment, SegmentOfTheWrongSizeIsDataLoss) {
  for (uint64_t index : {0, 1, 2}) {
    for (uint64_t size : {kSegmentBytes - kBlockBytes, kSegmentBytes + kBlockBytes}) {
      SCOPED_TRACE(absl::StrCat("segment ", index, " of ", size, " bytes"));
      testing::ResizeFile(SegmentPath(index), size);
      ExpectRefused(absl::StrCat("size ", size), index);
      EXPECT_EQ(FileSizeBytes(SegmentPath(index)), size);
      testing::ResizeFile(SegmentPath(index), kSegmentBytes);
      EXPECT_EQ(FileDigest(SegmentPath(index)), digests_[index]);
    }
  }
}

TEST_F(CorruptionSegment, FlipInTheLastGroupOfASegmentIsDataLossWhenTheNextSegmentHasGroups) {
  const GroupLayout& last = groups_[0].back();
  const uint64_t at = last.offset + sizeof(GroupHeader) + sizeof(EntryHeader) + 1000;
  std::vector<std::byte> byte = ReadBytes(SegmentPath(0), at, 1);
  FlipBit(byte, 3);
  WriteBytes(SegmentPath(0), at, byte);
  ExpectRefused(absl::StrCat("at offset ", last.offset, " (op ", last.first_op, ")"), 0);
  EXPECT_TRUE(
      Mentions(ScanLog(*directory_, replica::LogScanOptions(), nullptr).status(), SegmentPath(0)));
}

TEST_F(CorruptionSegment, LostGroupAtTheEndOfASegmentIsDataLossWhenTheNextSegmentHasGroups) {
  // Zeros end a segment's data, so the gap shows where the next segment fails to continue the
  // op sequence, and a valid group after that makes it corruption.
  const GroupLayout& last = groups_[0].back();
  testing::WriteZeros(SegmentPath(0), last.offset, last.size_bytes);
  ExpectRefused(
      absl::StrCat(SegmentPath(1), " at offset ", kBlockBytes, " (op ", last.first_op, ")"), 0);
}

TEST_F(CorruptionSegment, LostGroupAtTheEndOfASegmentIsDataLossWhenTheNextSegmentHoldsOneGroup) {
  // As above, with the next segment holding that one group only (the log ended after it). The
  // group is intact: no torn write explains it, since it was written only once the lost one
  // was durable. Within one segment the same loss is refused (CorruptionChain); cutting the
  // intact group as a torn tail would destroy two acknowledged entries.
  const GroupLayout& newest = groups_[2].back();
  testing::WriteZeros(SegmentPath(2), newest.offset, newest.size_bytes);  // the log's end
  const GroupLayout& lost = groups_[1].back();
  testing::WriteZeros(SegmentPath(1), lost.offset, lost.size_bytes);
  const std::vector<std::byte> newest_segment = ReadBytes(SegmentPath(2), 0, kSegmentBytes);
  for (const absl::Status& status :
       {ScanLog(*directory_, replica::LogScanOptions(), nullptr).status(),
        replica::Recover(*directory_, testing::TestRecoveryOptions()).status()}) {
    EXPECT_TRUE(absl::IsDataLoss(status)) << status;
    EXPECT_TRUE(Mentions(status, absl::StrCat("(op ", lost.first_op, ")")));
  }
  EXPECT_TRUE(ReadBytes(SegmentPath(2), 0, kSegmentBytes) == newest_segment) << "segment 2 changed";
}

TEST_F(CorruptionSegment, TornLastGroupOfTheLastSegmentIsCut) {
  const GroupLayout& last = groups_[2].back();
  testing::WriteZeros(SegmentPath(2), last.offset + last.size_bytes / 2,
                      last.size_bytes - last.size_bytes / 2);
  absl::StatusOr<Recovered> recovered =
      replica::Recover(*directory_, testing::TestRecoveryOptions());
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_TRUE(recovered->log.torn_tail);
  EXPECT_EQ(recovered->log.torn_at, (LogPosition{2, last.offset}));
  EXPECT_EQ(recovered->log.last_op, last.first_op - 1);
  EXPECT_EQ(recovered->engine->ComputeStateHash(), log_.state_hash_by_op[last.first_op - 1]);
  EXPECT_TRUE(IsAllZero(ReadBytes(SegmentPath(2), last.offset, last.size_bytes)));
  for (uint64_t index : {0, 1}) EXPECT_EQ(FileDigest(SegmentPath(index)), digests_[index]);
}

// ---------------------------------------------------------------------------------------------
// Snapshots: a damaged one is skipped, one that does not fit the log is refused.

class CorruptionSnapshot : public SmallLogTest {
 protected:
  CorruptionSnapshot() { snapshot_ops_ = {3, 6}; }

  void SetUp() override {
    SmallLogTest::SetUp();
    if (HasFatalFailure()) return;
    auto snapshots = directory_->ListSnapshots();
    ASSERT_TRUE(snapshots.ok());
    ASSERT_EQ(*snapshots, (std::vector<uint64_t>{6, 3}));
    newest_path_ = directory_->SnapshotPath(6);
    oldest_path_ = directory_->SnapshotPath(3);
    newest_ = ReadBytes(newest_path_, 0, FileSizeBytes(newest_path_));
    absl::StatusOr<Recovered> full = RecoverNow(/*use_snapshots=*/false);
    ASSERT_TRUE(full.ok()) << full.status();
    full_replay_hash_ = full->engine->ComputeStateHash();
    ASSERT_EQ(full_replay_hash_, log_.state_hash_by_op[log_.last_op()]);
    absl::StatusOr<Recovered> from_snapshot = RecoverNow();
    ASSERT_TRUE(from_snapshot.ok()) << from_snapshot.status();
    ASSERT_EQ(from_snapshot->snapshot_op, 6u);
  }

  static bool AnyNoteMentions(const Recovered& recovered, const std::string& text) {
    for (const std::string& note : recovered.notes) {
      if (note.find(text) != std::string::npos) return true;
    }
    return false;
  }

  std::string newest_path_;
  std::string oldest_path_;
  std::vector<std::byte> newest_;  // the newest snapshot's bytes
  engine::StateHash full_replay_hash_;
};

TEST_F(CorruptionSnapshot, FlipInTheNewestIsSkippedForTheOlderOneWithTheSameState) {
  // Every byte of the header; in the body, which one checksum covers, every 13th and the last
  // (each recovery costs ~5 ms).
  for (uint64_t at = 0; at < newest_.size() && !HasFailure(); ++at) {
    if (at >= sizeof(SnapshotHeader) && at % 13 != 0 && at + 1 != newest_.size()) continue;
    SCOPED_TRACE(absl::StrCat("bit ", at % 8, " of byte ", at));
    FlipBit(newest_, at * 8 + at % 8);
    WriteBytes(newest_path_, 0, newest_);
    absl::StatusOr<Recovered> recovered = RecoverNow();
    ASSERT_TRUE(recovered.ok()) << recovered.status();
    EXPECT_EQ(recovered->snapshot_op, 3u);
    EXPECT_EQ(recovered->replayed_entries, log_.last_op() - 3);
    EXPECT_TRUE(AnyNoteMentions(*recovered, "skipped snapshot at op 6"));
    // The body's checksum is checked beside the restore; whatever the restore made of the
    // flip, the checksum's error is the one given.
    if (at >= sizeof(SnapshotHeader)) {
      EXPECT_TRUE(AnyNoteMentions(*recovered, "body checksum fails"));
    }
    EXPECT_EQ(recovered->engine->ComputeStateHash(), full_replay_hash_);
    FlipBit(newest_, at * 8 + at % 8);
  }
  WriteBytes(newest_path_, 0, newest_);
}

TEST_F(CorruptionSnapshot, EverySnapshotDamagedMeansAFullReplayWithTheSameState) {
  std::vector<std::byte> oldest = ReadBytes(oldest_path_, 0, FileSizeBytes(oldest_path_));
  FlipBit(oldest, oldest.size() * 8 - 1);  // the body's last byte
  WriteBytes(oldest_path_, 0, oldest);
  FlipBit(newest_, 0);  // the header's magic
  WriteBytes(newest_path_, 0, newest_);
  absl::StatusOr<Recovered> recovered = RecoverNow();
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_EQ(recovered->snapshot_op, 0u);
  EXPECT_EQ(recovered->replayed_entries, log_.last_op());
  EXPECT_TRUE(AnyNoteMentions(*recovered, "skipped snapshot at op 6"));
  EXPECT_TRUE(AnyNoteMentions(*recovered, "skipped snapshot at op 3"));
  EXPECT_EQ(recovered->engine->ComputeStateHash(), full_replay_hash_);
}

TEST_F(CorruptionSnapshot, SnapshotWhoseChainHashDoesNotMatchTheLogIsDataLoss) {
  SnapshotHeader header;
  std::memcpy(&header, newest_.data(), sizeof(header));
  header.chain_hash.low ^= 1;
  header.checksum = HeaderChecksum(header);  // a well-formed snapshot of another history
  WriteBytes(newest_path_, 0, std::as_bytes(std::span(&header, 1)));
  const std::vector<std::byte> on_disk = ReadBytes(newest_path_, 0, newest_.size());
  absl::StatusOr<Recovered> recovered = RecoverNow();
  EXPECT_TRUE(absl::IsDataLoss(recovered.status())) << recovered.status();
  EXPECT_TRUE(Mentions(recovered.status(), "does not match the log"));
  EXPECT_TRUE(ReadBytes(newest_path_, 0, newest_.size()) == on_disk) << "snapshot changed";
  EXPECT_TRUE(SegmentHolds(image_));
}

TEST_F(CorruptionSnapshot, SnapshotBeyondTheLogIsDataLoss) {
  absl::StatusOr<Recovered> full = RecoverNow(/*use_snapshots=*/false);
  ASSERT_TRUE(full.ok());
  const uint64_t op = log_.last_op() + 5;
  ASSERT_TRUE(
      replica::WriteSnapshot(*directory_, op, log_.chain_hash_by_op[log_.last_op()], *full->engine)
          .ok());
  absl::StatusOr<Recovered> recovered = RecoverNow();
  EXPECT_TRUE(absl::IsDataLoss(recovered.status())) << recovered.status();
  EXPECT_TRUE(Mentions(recovered.status(), "beyond"));
  EXPECT_TRUE(SegmentHolds(image_));
}

TEST_F(CorruptionSnapshot, TornTailAfterTheSnapshotIsCutAndTheRestReplayedFromIt) {
  const size_t last = group_count() - 1;
  testing::WriteZeros(segment_path_, groups_[last].offset + 1, kBlockBytes - 1);
  std::vector<std::byte> on_disk = image_;
  std::fill(on_disk.begin() + static_cast<long>(groups_[last].offset) + 1,
            on_disk.begin() + static_cast<long>(groups_[last].offset + kBlockBytes), std::byte{0});
  ExpectTornAt(on_disk, last);
  absl::StatusOr<Recovered> recovered = RecoverNow();
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_EQ(recovered->snapshot_op, 6u);
  EXPECT_EQ(recovered->log.last_op, last);
  EXPECT_EQ(recovered->engine->ComputeStateHash(), log_.state_hash_by_op[last]);
}

}  // namespace
}  // namespace ledger::wal
