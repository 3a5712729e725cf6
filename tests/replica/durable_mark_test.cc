// The directory's durable mark (wal/format.h, DURABLE): a log found shorter than the directory
// made durable (its newest segment gone or an older copy, its newest groups zeroed or damaged)
// is refused with the exact reason, never recovered as a smaller ledger; a torn tail written
// after the mark was last raised (a crash) is still cut; a replica group's member keeps what it
// holds and takes the rest from its leader.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "replica/log_schema.h"
#include "replica/recovery.h"
#include "replica/replica.h"
#include "tests/wal/wal_test_util.h"
#include "wal/directory.h"
#include "wal/log_reader.h"

namespace ledger::replica {
namespace {

using wal::Directory;
using wal::testing::TemporaryDirectory;
namespace testing = wal::testing;

// Enough batches of 1,000 transfers (~128 KB each) to fill segment 0 of 4 MiB and go on in 1.
constexpr uint64_t kBatches = 40;
constexpr uint64_t kBatchTransfers = 1000;

absl::StatusOr<std::unique_ptr<Replica>> Open(const std::string& path) {
  ReplicaOptions options;
  options.writer_buffer_bytes = uint64_t{2} << 20;
  return Replica::Open(path, std::move(options));
}

// Writes the ledger, its accounts and kBatches batches, stops cleanly; the log's last op.
uint64_t WriteLog(const std::string& path) {
  EXPECT_TRUE(Directory::Init(path, {.segment_size_bytes = wal::kSegmentSizeMinBytes}).ok());
  absl::StatusOr<std::unique_ptr<Replica>> replica = Open(path);
  EXPECT_TRUE(replica.ok()) << replica.status();
  Ledger ledger = testing::TestLedger();
  CreateLedgerResult ledger_result;
  EXPECT_TRUE((*replica)->Submit<Ledger>({&ledger, 1}, {&ledger_result, 1}).ok());
  std::vector<Account> accounts = testing::TestAccounts();
  std::vector<CreateAccountResult> account_results(accounts.size());
  EXPECT_TRUE((*replica)->Submit<Account>(accounts, account_results).ok());
  for (uint64_t batch = 0; batch < kBatches; ++batch) {
    std::vector<Transfer> transfers(kBatchTransfers);
    for (uint64_t i = 0; i < kBatchTransfers; ++i) {
      Transfer& transfer = transfers[i];
      transfer.id = TransferId::From((u128{batch + 1} << 64) | i);
      transfer.debit_account_id = AccountId::From(1 + i % testing::kTestAccounts);
      transfer.credit_account_id = AccountId::From(1 + (i + 1) % testing::kTestAccounts);
      transfer.amount = Amount::From(1);
      transfer.ledger = testing::kTestLedger;
      transfer.code = 1;
    }
    std::vector<CreateTransferResult> results(transfers.size());
    EXPECT_TRUE((*replica)->Submit<Transfer>(transfers, results).ok());
  }
  return 2 + kBatches;
}

std::unique_ptr<Directory> OpenDirectory(const std::string& path, bool writable) {
  absl::StatusOr<std::unique_ptr<Directory>> directory = Directory::Open(path, writable);
  EXPECT_TRUE(directory.ok()) << directory.status();
  return std::move(*directory);
}

wal::DurableMark MarkOf(const std::string& path) {
  const absl::StatusOr<std::optional<wal::DurableMark>> mark =
      OpenDirectory(path, false)->ReadDurableMark();
  EXPECT_TRUE(mark.ok() && mark->has_value()) << mark.status();
  return mark.ok() && mark->has_value() ? **mark : wal::DurableMark{};
}

struct Group {
  wal::LogPosition at;
  uint64_t first_op = 0;
};
std::vector<Group> Groups(const std::string& path) {
  std::vector<Group> groups;
  wal::ScanOptions options = LogScanOptions();
  options.on_group = [&](const wal::LogPosition& at, uint64_t first_op) {
    groups.push_back({at, first_op});
  };
  std::unique_ptr<Directory> directory = OpenDirectory(path, false);
  EXPECT_TRUE(wal::ScanLog(*directory, options, [](auto&, auto) { return absl::OkStatus(); }).ok());
  return groups;
}

void Zero(const std::string& file, uint64_t offset, uint64_t length) {
  std::fstream stream(file, std::ios::in | std::ios::out | std::ios::binary);
  stream.seekp(static_cast<std::streamoff>(offset));
  const std::string zeros(length, '\0');
  stream.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
}

class DurableMark : public ::testing::Test {
 protected:
  void SetUp() override { last_op_ = WriteLog(path_); }
  std::string Segment(uint64_t index) const {
    return OpenDirectory(path_, false)->SegmentPath(index);
  }
  // As after a crash just before the writer raised the mark past `op`.
  void LowerMark(uint64_t op) const {
    const wal::DurableMark mark = MarkOf(path_);
    ASSERT_TRUE(OpenDirectory(path_, true)->WriteDurableMark({mark.segment_index, op}).ok());
  }
  void ExpectRefused(const std::string& words) const {
    const absl::StatusOr<std::unique_ptr<Replica>> opened = Open(path_);
    ASSERT_FALSE(opened.ok());
    EXPECT_TRUE(absl::IsDataLoss(opened.status())) << opened.status();
    EXPECT_NE(opened.status().message().find(words), std::string::npos) << opened.status();
  }

  TemporaryDirectory temporary_;
  const std::string path_ = temporary_.Sub("data");
  uint64_t last_op_ = 0;
};

TEST_F(DurableMark, TheWriterRaisesItToTheNewestSegmentAndLastOpWhenItStops) {
  const std::vector<Group> groups = Groups(path_);
  ASSERT_GE(groups.back().at.segment_index, 1u) << "the log must span two segments";
  EXPECT_EQ(MarkOf(path_), (wal::DurableMark{groups.back().at.segment_index, last_op_}));
  const absl::StatusOr<std::unique_ptr<Replica>> opened = Open(path_);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ((*opened)->recovery().last_op, last_op_);
}

TEST_F(DurableMark, RecoveryRefusesALogWhoseNewestSegmentIsGone) {
  const uint64_t newest = Groups(path_).back().at.segment_index;
  std::filesystem::remove(Segment(newest));
  ExpectRefused(Segment(newest) + " is missing");
}

TEST_F(DurableMark, RecoveryRefusesANewestSegmentReplacedByAnOlderCopy) {
  // The older copy: the newest segment with its last groups not yet written.
  const std::vector<Group> groups = Groups(path_);
  const Group& last = groups.back();
  ASSERT_EQ(groups[groups.size() - 2].at.segment_index, last.at.segment_index);
  Zero(Segment(last.at.segment_index), last.at.offset, wal::kSegmentSizeMinBytes - last.at.offset);
  ExpectRefused(absl::StrCat("the log ends at op ", last.first_op - 1));
}

TEST_F(DurableMark, ADamagedNewestGroupIsRefusedOnceMadeDurableAndCutWhenWrittenAfterTheMark) {
  const Group last = Groups(path_).back();
  Zero(Segment(last.at.segment_index), last.at.offset + wal::kBlockBytes, wal::kBlockBytes);
  ExpectRefused("not torn by a crash");
  // A crash before the mark was raised past the group: a torn write, cut.
  LowerMark(last.first_op - 1);
  const absl::StatusOr<std::unique_ptr<Replica>> opened = Open(path_);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ((*opened)->recovery().last_op, last.first_op - 1);
}

TEST_F(DurableMark, AGroupMemberKeepsWhatItHoldsLowersTheMarkAndRecovers) {
  const Group last = Groups(path_).back();
  std::filesystem::remove(Segment(last.at.segment_index));
  const absl::StatusOr<uint64_t> kept = CutDamagedLog(*OpenDirectory(path_, true));
  ASSERT_TRUE(kept.ok()) << kept.status();
  const absl::StatusOr<std::unique_ptr<Replica>> opened = Open(path_);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ((*opened)->recovery().last_op, *kept);
  EXPECT_LT(*kept, last_op_);
}

TEST_F(DurableMark, ATornSlotLeavesTheOtherAndTwoDamagedSlotsAreRefused) {
  std::unique_ptr<Directory> directory = OpenDirectory(path_, true);
  ASSERT_TRUE(directory->WriteDurableMark({1, 5}).ok());
  ASSERT_TRUE(directory->WriteDurableMark({1, 7}).ok());
  const std::string file = path_ + "/DURABLE";
  uint64_t sequences[wal::kDurableSlotCount];
  {
    std::ifstream stream(file, std::ios::binary);
    for (uint64_t slot = 0; slot < wal::kDurableSlotCount; ++slot) {
      wal::DurableRecord record{};
      stream.seekg(static_cast<std::streamoff>(slot * wal::kBlockBytes));
      stream.read(reinterpret_cast<char*>(&record), sizeof(record));
      sequences[slot] = record.sequence;
    }
  }
  const uint64_t newer = sequences[1] > sequences[0] ? 1 : 0;
  Zero(file, newer * wal::kBlockBytes + offsetof(wal::DurableRecord, durable_op), 8);
  const absl::StatusOr<std::optional<wal::DurableMark>> older = directory->ReadDurableMark();
  ASSERT_TRUE(older.ok() && older->has_value()) << older.status();
  EXPECT_EQ(older->value(), (wal::DurableMark{1, 5}));
  Zero(file, (1 - newer) * wal::kBlockBytes + offsetof(wal::DurableRecord, durable_op), 8);
  const absl::StatusOr<std::optional<wal::DurableMark>> none = directory->ReadDurableMark();
  EXPECT_TRUE(absl::IsDataLoss(none.status())) << none.status();
  EXPECT_NE(none.status().message().find("DURABLE"), std::string::npos) << none.status();
}

}  // namespace
}  // namespace ledger::replica
