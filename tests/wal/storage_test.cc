// The storage seam's contract (wal/storage.h), held against the real file system and the
// in-memory disk alike; then a whole replica on the in-memory disk: nothing touches the real
// one, a crash loses nothing acknowledged, and a failed sync acknowledges nothing more.
#include "wal/storage.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/engine.h"
#include "replica/checkpoint.h"
#include "replica/replica.h"
#include "tests/wal/memory_storage.h"
#include "tests/wal/wal_test_util.h"
#include "wal/directory.h"

namespace ledger::wal {
namespace {

using testing::MemoryStorage;
using testing::TemporaryDirectory;

std::span<const std::byte> Bytes(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

std::string Text(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// A storage with an empty directory at root().
class StorageContract : public ::testing::TestWithParam<bool> {
 protected:
  StorageContract() {
    if (GetParam()) {
      storage_ = &Storage::Posix();
      root_ = temporary_.path();
    } else {
      storage_ = &memory_;
      root_ = "/memory-disk";
      EXPECT_TRUE(memory_.CreateDirectory(root_).ok());
    }
  }
  Storage& storage() { return *storage_; }
  std::string Path(const std::string& name) const { return root_ + "/" + name; }

  std::unique_ptr<File> Create(const std::string& name, std::string_view text) {
    auto file = storage().Open(Path(name), {.create_new = true});
    EXPECT_TRUE(file.ok()) << file.status();
    EXPECT_TRUE((*file)->Write(0, Bytes(text)).ok());
    EXPECT_TRUE((*file)->Sync().ok());
    return std::move(*file);
  }
  std::string ReadAll(File& file) {
    auto size = file.Size();
    EXPECT_TRUE(size.ok());
    std::string text(*size, '\0');
    EXPECT_TRUE(file.Read(0, std::as_writable_bytes(std::span(text.data(), text.size()))).ok());
    return text;
  }

  TemporaryDirectory temporary_;
  MemoryStorage memory_;
  Storage* storage_ = nullptr;
  std::string root_;
};

TEST_P(StorageContract, ReadsBackWhatWasWrittenAndNoFurtherThanTheEnd) {
  std::unique_ptr<File> file = Create("a", "hello");
  ASSERT_TRUE(file->Write(7, Bytes("xy")).ok());  // grows; the gap reads as zeros
  EXPECT_EQ(ReadAll(*file), std::string("hello\0\0xy", 9));
  std::byte two[2];
  EXPECT_TRUE(file->Read(7, two).ok());
  EXPECT_EQ(Text(two), "xy");
  EXPECT_TRUE(absl::IsOutOfRange(file->Read(8, two)));
  auto reader = storage().Open(Path("a"), {});
  ASSERT_TRUE(reader.ok());
  EXPECT_FALSE((*reader)->Write(0, Bytes("no")).ok()) << "opened read-only";
  EXPECT_EQ(ReadAll(**reader), std::string("hello\0\0xy", 9));
}

TEST_P(StorageContract, CreateNewRefusesAnExistingFileAndOpenAMissingOne) {
  Create("a", "1");
  EXPECT_TRUE(absl::IsAlreadyExists(storage().Open(Path("a"), {.create_new = true}).status()));
  EXPECT_TRUE(absl::IsNotFound(storage().Open(Path("missing"), {}).status()));
  EXPECT_TRUE(absl::IsNotFound(storage().Open(Path("no/such"), {}).status()));
  EXPECT_TRUE(absl::IsAlreadyExists(storage().CreateDirectory(root_)));
}

TEST_P(StorageContract, AllocateGrowsWithZerosAndZeroKeepsTheSize) {
  std::unique_ptr<File> file = Create("a", "abcdefgh");
  ASSERT_TRUE(file->Allocate(16).ok());
  EXPECT_EQ(ReadAll(*file), std::string("abcdefgh") + std::string(8, '\0'));
  ASSERT_TRUE(file->Zero(2, 3).ok());
  EXPECT_EQ(ReadAll(*file), std::string("ab\0\0\0fgh", 8) + std::string(8, '\0'));
  ASSERT_TRUE(file->Allocate(4).ok());  // never shrinks
  EXPECT_EQ(*file->Size(), 16u);
}

TEST_P(StorageContract, TruncateCutsAndGrowsWithZeros) {
  std::unique_ptr<File> file = Create("a", "abcdefgh");
  ASSERT_TRUE(file->Truncate(3).ok());
  EXPECT_EQ(ReadAll(*file), "abc");
  ASSERT_TRUE(file->Truncate(5).ok());
  EXPECT_EQ(ReadAll(*file), std::string("abc\0\0", 5));
}

// BlockWriter (direct, where the storage can): whole 4 KiB blocks, gaps and the last block's
// end as zeros, the first block rewritten with a header at the end.
TEST_P(StorageContract, BlockWriterWritesWholeBlocksAndRewritesTheFirst) {
  auto file = storage().Open(Path("b"), {.create_new = true, .direct = true});
  ASSERT_TRUE(file.ok()) << file.status();
  BlockWriter writer(**file, 2 * BlockWriter::kBlockBytes);
  ASSERT_TRUE(writer.Put(10, Bytes("first")).ok());
  ASSERT_TRUE(writer.Append(Bytes("+")).ok());
  ASSERT_TRUE(writer.Put(9000, Bytes("after a flush")).ok());  // past the 8 KiB buffer
  ASSERT_TRUE(writer.Finish().ok());
  ASSERT_TRUE(writer.RewriteFirstBlock(Bytes("HEAD")).ok());
  ASSERT_TRUE((*file)->Sync().ok());
  std::string expected(3 * BlockWriter::kBlockBytes, '\0');
  expected.replace(0, 4, "HEAD");
  expected.replace(10, 6, "first+");
  expected.replace(9000, 13, "after a flush");
  auto reader = storage().Open(Path("b"), {});  // direct reads need aligned buffers
  ASSERT_TRUE(reader.ok()) << reader.status();
  const std::string written = ReadAll(**reader);
  EXPECT_EQ(written.size(), expected.size());
  EXPECT_TRUE(written == expected);  // (not EXPECT_EQ: 12 KiB of mostly zeros on failure)
}

TEST_P(StorageContract, ListRenameAndRemove) {
  Create("a", "1");
  Create("b", "2");
  ASSERT_TRUE(storage().CreateDirectory(Path("sub")).ok());
  auto names = storage().List(root_);
  ASSERT_TRUE(names.ok());
  std::sort(names->begin(), names->end());
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b", "sub"}));
  ASSERT_TRUE(storage().Rename(Path("a"), Path("b")).ok());  // replaces b
  auto renamed = storage().Open(Path("b"), {});
  ASSERT_TRUE(renamed.ok());
  EXPECT_EQ(ReadAll(**renamed), "1");
  EXPECT_TRUE(absl::IsNotFound(storage().Open(Path("a"), {}).status()));
  EXPECT_TRUE(absl::IsNotFound(storage().Remove(Path("a"))));
  ASSERT_TRUE(storage().Remove(Path("b")).ok());
  EXPECT_TRUE(absl::IsNotFound(storage().List(Path("missing")).status()));
  EXPECT_TRUE(storage().SyncDirectory(root_).ok());
}

TEST_P(StorageContract, LockIsExclusiveUntilItsHolderCloses) {
  Create("lock", "");
  auto first = storage().Open(Path("lock"), {.writable = true});
  auto second = storage().Open(Path("lock"), {.writable = true});
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE((*first)->LockExclusive().ok());
  EXPECT_TRUE(absl::IsUnavailable((*second)->LockExclusive()));
  first->reset();
  EXPECT_TRUE((*second)->LockExclusive().ok());
}

TEST_P(StorageContract, MapShowsTheFileAsItIs) {
  std::unique_ptr<File> file = Create("a", "mapped bytes");
  auto mapping = file->MapReadOnly(12);
  ASSERT_TRUE(mapping.ok()) << mapping.status();
  EXPECT_EQ(Text({mapping->get(), 12}), "mapped bytes");
}

TEST_P(StorageContract, DurableWritersWriteFromTheirBuffersWhereAsked) {
  for (const bool fast_path : {false, true}) {
    SCOPED_TRACE(fast_path);
    // Block-aligned, as the log writer's: the fast path may write around the page cache.
    constexpr size_t kBlock = 4096;
    std::unique_ptr<std::byte, void (*)(void*)> memory(
        static_cast<std::byte*>(std::aligned_alloc(kBlock, 2 * kBlock)), std::free);
    std::fill_n(memory.get(), 2 * kBlock, std::byte{'q'});
    const std::span<std::byte> buffers[2] = {{memory.get(), kBlock},
                                             {memory.get() + kBlock, kBlock}};
    std::unique_ptr<DurableWriter> writer = storage().NewDurableWriter(buffers, fast_path);
    EXPECT_FALSE(writer->name().empty());
    const std::string name = fast_path ? "fast" : "plain";
    std::unique_ptr<File> file = Create(name, "");
    ASSERT_TRUE(file->Allocate(2 * kBlock).ok());
    auto direct = storage().Open(Path(name), {.writable = true, .direct = true});
    ASSERT_TRUE(direct.ok());
    ASSERT_TRUE(writer->WriteDurable(**direct, kBlock, buffers[1], 1).ok());
    EXPECT_EQ(ReadAll(*file), std::string(kBlock, '\0') + std::string(kBlock, 'q'));
  }
}

INSTANTIATE_TEST_SUITE_P(Storages, StorageContract, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? "Posix" : "Memory";
                         });

TEST(PosixStorage, TheMediumsErrorsAreDataLossAndAFullDiskIsResourceExhausted) {
  for (const int error : {EIO, EBADMSG, EUCLEAN}) {
    const absl::Status status = ErrnoStatus("read", "/data/wal-0.seg", error);
    EXPECT_TRUE(absl::IsDataLoss(status)) << status;
    EXPECT_NE(status.message().find("read /data/wal-0.seg: "), std::string::npos) << status;
  }
  EXPECT_EQ(ErrnoStatus("read", "/data/x", EIO).message(), "read /data/x: Input/output error");
  EXPECT_TRUE(absl::IsResourceExhausted(ErrnoStatus("write", "/data/x", ENOSPC)));
  EXPECT_TRUE(absl::IsNotFound(ErrnoStatus("open", "/data/x", ENOENT)));
  EXPECT_TRUE(absl::IsInternal(ErrnoStatus("open", "/data/x", EMFILE)));
}

TEST(MemoryStorage, CrashForgetsWhatWasNotSynced) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.CreateDirectory("/d").ok());
  auto synced = storage.Open("/d/synced", {.create_new = true});
  ASSERT_TRUE(synced.ok());
  ASSERT_TRUE((*synced)->Write(0, Bytes("kept")).ok());
  ASSERT_TRUE((*synced)->Sync().ok());
  ASSERT_TRUE(storage.SyncDirectory("/d").ok());
  ASSERT_TRUE((*synced)->Write(4, Bytes(" and lost")).ok());
  auto unlisted = storage.Open("/d/unlisted", {.create_new = true});  // never SyncDirectory'd
  ASSERT_TRUE(unlisted.ok());
  ASSERT_TRUE((*unlisted)->Sync().ok());
  synced->reset();
  unlisted->reset();
  storage.Crash();
  EXPECT_TRUE(absl::IsUnavailable(storage.Open("/d/synced", {}).status())) << "down";
  storage.Restart();
  EXPECT_FALSE(storage.Exists("/d/unlisted"));
  auto reopened = storage.Open("/d/synced", {});
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(*(*reopened)->Size(), 4u);
}

TEST(MemoryStorage, AFaultFailsTheOperationAndChangesNothing) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.CreateDirectory("/d").ok());
  storage.fault = [](std::string_view operation, const std::string&) {
    return operation == "write" ? absl::DataLossError("injected") : absl::OkStatus();
  };
  auto file = storage.Open("/d/f", {.create_new = true});
  ASSERT_TRUE(file.ok());
  EXPECT_TRUE(absl::IsDataLoss((*file)->Write(0, Bytes("x"))));
  EXPECT_EQ(*(*file)->Size(), 0u);
}

// A bad sector fails every read that touches it, and a mapping of its file, with DataLoss
// naming the file (EIO), until a write covers it whole; it outlasts a crash. The test's own
// view (SeeThroughBadSectors) reads through it.
TEST(MemoryStorage, ABadSectorFailsReadsAndMapsUntilAWriteCoversIt) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.CreateDirectory("/d").ok());
  auto file = storage.Open("/d/f", {.create_new = true});
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Write(0, Bytes(std::string(2048, 'a'))).ok());
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE(storage.SyncDirectory("/d").ok());
  EXPECT_TRUE(absl::IsNotFound(storage.MarkBadSectors("/d/missing", 0, 1)));
  ASSERT_TRUE(storage.MarkBadSectors("/d/f", 600, 10).ok());  // sector 1: [512, 1024)
  EXPECT_EQ(storage.bad_sector_count(), 1u);
  std::byte bytes[16];
  EXPECT_TRUE((*file)->Read(496, bytes).ok()) << "ends where the sector begins";
  EXPECT_TRUE((*file)->Read(1024, bytes).ok()) << "the next sector";
  const absl::Status failed = (*file)->Read(1020, bytes);
  EXPECT_TRUE(absl::IsDataLoss(failed)) << failed;
  EXPECT_NE(failed.message().find("/d/f"), std::string_view::npos) << failed;
  EXPECT_NE(failed.message().find("Input/output error"), std::string_view::npos) << failed;
  EXPECT_TRUE(absl::IsDataLoss((*file)->MapReadOnly(2048).status()));
  EXPECT_TRUE((*file)->MapReadOnly(512).ok()) << "a mapping that stops short of it";
  EXPECT_EQ(storage.bad_sector_reads(), 2u);
  {
    MemoryStorage::SeeThroughBadSectors oracle;
    EXPECT_TRUE((*file)->Read(1020, bytes).ok());
  }
  file->reset();
  storage.Crash();
  storage.Restart();
  auto reopened = storage.Open("/d/f", {.writable = true});
  ASSERT_TRUE(reopened.ok());
  EXPECT_TRUE(absl::IsDataLoss((*reopened)->Read(512, bytes))) << "the medium, not the cache";
  ASSERT_TRUE((*reopened)->Write(600, Bytes("part")).ok());
  EXPECT_TRUE(absl::IsDataLoss((*reopened)->Read(512, bytes))) << "a write of part of it";
  ASSERT_TRUE((*reopened)->Write(512, Bytes(std::string(512, 'b'))).ok());
  EXPECT_TRUE((*reopened)->Read(512, bytes).ok()) << "rewritten whole: remapped";
  EXPECT_EQ(storage.bad_sector_count(), 0u);
  ASSERT_TRUE(storage.MarkBadSectors("/d/f", 1500, 1).ok());
  ASSERT_TRUE((*reopened)->Truncate(1024).ok());
  ASSERT_TRUE((*reopened)->Truncate(2048).ok());
  EXPECT_TRUE((*reopened)->Read(1024, bytes).ok()) << "freed by the truncate";
}

// An identity file that does not read (EIO) is named with the disk's error, not called foreign:
// the operator looks at the disk, not at the directory's origin.
TEST(MemoryStorage, ADirectoryWhoseIdentityDoesNotReadIsRefusedWithTheDisksError) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.CreateDirectory("/d").ok());
  ASSERT_TRUE(
      Directory::Init("/d/data", {.segment_size_bytes = kSegmentSizeMinBytes}, storage).ok());
  ASSERT_TRUE(storage.MarkBadSectors("/d/data/LEDGER", 0, 1).ok());
  const absl::Status opened = Directory::Open("/d/data", /*writable=*/true, storage).status();
  EXPECT_TRUE(absl::IsDataLoss(opened)) << opened;
  EXPECT_NE(opened.message().find("/d/data/LEDGER"), std::string_view::npos) << opened;
  EXPECT_NE(opened.message().find("Input/output error"), std::string_view::npos) << opened;
}

// A slot of the durable mark that does not read is as good as a torn one: the other slot holds;
// with both unreadable the directory is refused, naming the file and the disk's error.
TEST(MemoryStorage, ADurableSlotThatDoesNotReadLeavesTheOther) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.CreateDirectory("/d").ok());
  ASSERT_TRUE(
      Directory::Init("/d/data", {.segment_size_bytes = kSegmentSizeMinBytes}, storage).ok());
  auto directory = Directory::Open("/d/data", /*writable=*/true, storage);
  ASSERT_TRUE(directory.ok());
  const absl::StatusOr<uint64_t> sequence = (*directory)->WriteDurableMark({0, 7});
  ASSERT_TRUE(sequence.ok());
  const uint64_t newest_slot = *sequence % kDurableSlotCount;
  ASSERT_TRUE(storage.MarkBadSectors("/d/data/DURABLE", (1 - newest_slot) * kBlockBytes, 1).ok());
  auto mark = (*directory)->ReadDurableMark();
  ASSERT_TRUE(mark.ok() && mark->has_value()) << mark.status();
  EXPECT_EQ((*mark)->op, 7u);
  ASSERT_TRUE(storage.MarkBadSectors("/d/data/DURABLE", newest_slot * kBlockBytes, 1).ok());
  mark = (*directory)->ReadDurableMark();
  EXPECT_TRUE(absl::IsDataLoss(mark.status())) << mark.status();
  EXPECT_NE(mark.status().message().find("/d/data/DURABLE"), std::string_view::npos);
  EXPECT_NE(mark.status().message().find("Input/output error"), std::string_view::npos);
}

TEST(MemoryStorage, LatencyPausesOperationsAndChangesNothingElse) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.CreateDirectory("/d").ok());
  storage.SetLatency(/*max_ns=*/2'000'000, /*seed=*/7);
  auto file = storage.Open("/d/f", {.create_new = true});
  ASSERT_TRUE(file.ok());
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*file)->Sync().ok());  // 1 ms each on average
  EXPECT_GT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2));
  ASSERT_TRUE((*file)->Write(0, Bytes("slow")).ok());
  std::byte bytes[4];
  ASSERT_TRUE((*file)->Read(0, bytes).ok());
  EXPECT_EQ(Text(bytes), "slow");
}

// ---------------------------------------------------------------------------------------------
// A replica on the in-memory disk.

namespace workload = testing;

// The replica and an engine that applies the same batches directly, at the replica's
// timestamps: after a crash, the recovered state must be the reference's at some op no earlier
// than the last acknowledged one.
class ReplicaOnMemoryStorage : public ::testing::Test {
 protected:
  static constexpr char kData[] = "/memory-disk/ledger";

  void SetUp() override {
    ASSERT_TRUE(storage_.CreateDirectory("/memory-disk").ok());
    ASSERT_TRUE(
        Directory::Init(kData, {.segment_size_bytes = kSegmentSizeMinBytes}, storage_).ok());
    replica_ = Open();
    ASSERT_NE(replica_, nullptr);
    Ledger ledger = workload::TestLedger();
    CreateLedgerResult ledger_result;
    auto receipt = replica_->Submit<Ledger>({&ledger, 1}, {&ledger_result, 1});
    ASSERT_TRUE(receipt.ok());
    reference_.CreateLedgers({&ledger, 1}, receipt->timestamp_ns, {&ledger_result, 1});
    std::vector<Account> accounts = workload::TestAccounts();
    std::vector<CreateAccountResult> results(accounts.size());
    receipt = replica_->Submit<Account>(accounts, results);
    ASSERT_TRUE(receipt.ok());
    reference_.CreateAccounts(accounts, receipt->timestamp_ns, results);
  }

  std::unique_ptr<replica::Replica> Open(uint64_t hot_transfers = 0) {
    replica::ReplicaOptions options;
    options.storage = &storage_;
    options.writer_buffer_bytes = uint64_t{2} << 20;
    options.snapshot_interval_ops = 100;
    options.engine.hot_transfers = hot_transfers;
    auto opened = replica::Replica::Open(kData, std::move(options));
    EXPECT_TRUE(opened.ok()) << opened.status();
    return opened.ok() ? std::move(*opened) : nullptr;
  }

  // One transfer batch, the next op, on both; false once the replica refuses.
  bool BookTransfers(size_t count_max = 250) {
    const uint64_t op = replica_->last_op() + 1;
    std::vector<Transfer> batch = workload::TestTransfers(5, op, count_max);
    std::vector<CreateTransferResult> results(batch.size());
    std::vector<CreateTransferResult> expected(batch.size());
    auto receipt = replica_->Submit<Transfer>(batch, results);
    if (!receipt.ok()) return false;
    EXPECT_EQ(receipt->op, op);
    reference_.CreateTransfers(batch, receipt->timestamp_ns, expected);
    EXPECT_EQ(results, expected);
    return true;
  }

  MemoryStorage storage_;
  engine::Engine reference_;
  std::unique_ptr<replica::Replica> replica_;
};

TEST_F(ReplicaOnMemoryStorage, RunsRecoversAndSurvivesACrashWithoutTouchingTheRealDisk) {
  for (int i = 0; i < 400; ++i) ASSERT_TRUE(BookTransfers());  // segments of 4 MiB, snapshots
  const uint64_t acknowledged = replica_->last_op();
  ASSERT_TRUE(replica_->WaitDurable(acknowledged).ok());
  // More that is not waited for: the crash may keep any prefix of it.
  std::map<uint64_t, engine::StateHash> hashes{{acknowledged, reference_.ComputeStateHash()}};
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(BookTransfers());
    hashes[replica_->last_op()] = reference_.ComputeStateHash();
  }
  storage_.Crash();  // the machine dies under the running replica, which then fails to write
  replica_.reset();
  storage_.Restart();
  EXPECT_FALSE(std::filesystem::exists("/memory-disk"));

  std::unique_ptr<replica::Replica> recovered = Open();
  ASSERT_NE(recovered, nullptr);
  const uint64_t last_op = recovered->recovery().last_op;
  ASSERT_TRUE(hashes.contains(last_op)) << last_op << " acknowledged " << acknowledged;
  EXPECT_EQ(recovered->engine().ComputeStateHash(), hashes[last_op]);
  EXPECT_GT(recovered->recovery().snapshot_op, 0u);
  auto segments = recovered->directory().ListSegments();
  ASSERT_TRUE(segments.ok());
  EXPECT_GE(segments->size(), 2u) << "the test should span segments";
}

TEST_F(ReplicaOnMemoryStorage, AFailedSyncAcknowledgesNothingMoreAndLosesNothingBefore) {
  // The fault is in place before the replica's threads run, only the flag changes later: an
  // acknowledged group's durable mark may still be being written when WaitDurable returns.
  auto failing = std::make_shared<std::atomic<bool>>(false);
  replica_.reset();
  storage_.fault = [failing](std::string_view operation, const std::string& path) {
    return failing->load() && operation == "sync" && path.ends_with(".seg")
               ? absl::InternalError("sync: EIO")
               : absl::OkStatus();
  };
  replica_ = Open();
  ASSERT_NE(replica_, nullptr);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(BookTransfers());
  const uint64_t acknowledged = replica_->last_op();
  ASSERT_TRUE(replica_->WaitDurable(acknowledged).ok());
  const engine::StateHash acknowledged_hash = reference_.ComputeStateHash();
  failing->store(true);
  for (int i = 0; i < 3; ++i) BookTransfers();
  const absl::Status waited = replica_->WaitDurable(replica_->last_op());
  EXPECT_TRUE(absl::IsInternal(waited)) << waited;
  EXPECT_EQ(replica_->durable_op(), acknowledged);
  EXPECT_FALSE(replica_->log_status().ok());
  storage_.Crash();
  replica_.reset();
  storage_.fault = nullptr;
  storage_.Restart();
  std::unique_ptr<replica::Replica> recovered = Open();
  ASSERT_NE(recovered, nullptr);
  EXPECT_EQ(recovered->recovery().last_op, acknowledged);
  EXPECT_EQ(recovered->engine().ComputeStateHash(), acknowledged_hash);
}

// The cold store's disk is full for a moment (three of its writes fail) while the log's is not:
// a run whose write failed is written again when the window fills, and batches go on, every
// transfer reading as the reference's. The cooler used to export anew over the failed run's
// facts: the first run then began after them, and they were evicted from memory with no copy
// in the store (lookups of the first transfers found nothing). Later runs' writes also failed
// on the failed one's temporary file, and with no marks left the window never had room again.
TEST_F(ReplicaOnMemoryStorage, AColdRunThatFailedToWriteIsWrittenAgainWhenTheWindowFills) {
  replica_.reset();
  replica_ = Open(/*hot_transfers=*/128);
  ASSERT_NE(replica_, nullptr);
  constexpr int kFailures = 3;
  auto failures_left = std::make_shared<std::atomic<int>>(kFailures);
  storage_.fault = [failures_left](std::string_view operation, const std::string& path) {
    const bool cold_write = path.find("/cold/") != std::string::npos &&
                            (operation == "write" || operation == "allocate");
    if (cold_write && failures_left->fetch_sub(1) > 0) {
      return absl::ResourceExhaustedError("simulated: no space left on device");
    }
    return absl::OkStatus();
  };
  int refused = 0;
  for (int i = 0; i < 60; ++i) {
    if (!BookTransfers(/*count_max=*/30)) ++refused;
    ASSERT_TRUE(replica_->WaitDurable(replica_->last_op()).ok());
  }
  EXPECT_LT(failures_left->load(), 0) << "the fault should have fired";
  EXPECT_LE(refused, kFailures) << "a refusal only for a failed write";
  EXPECT_EQ(replica_->engine().ComputeStateHash(), reference_.ComputeStateHash());
  EXPECT_GT(replica_->cold_store()->run_count(), 2u);
  // Every transfer booked reads as the reference's, the cold ones from the store.
  uint64_t checked = 0;
  for (uint64_t op = 3; op <= replica_->last_op(); ++op) {
    for (uint64_t i = 0; i < 30; ++i) {
      const TransferId id = TransferId::From((u128{op} << 32) | i);
      const std::optional<Transfer> expected = reference_.LookupTransfer(id);
      const std::optional<Transfer> found = replica_->engine().LookupTransfer(id);
      ASSERT_EQ(found.has_value(), expected.has_value()) << "op " << op << " event " << i;
      if (found) {
        ASSERT_EQ(std::memcmp(&*found, &*expected, sizeof(Transfer)), 0);
      }
      checked += found.has_value();
    }
  }
  EXPECT_GT(checked, 500u);
}

// Checkpoints go to the replica's storage, outlast a power loss once signed, and a line a power
// loss cut short is cut at the next open. The checkpointer used to write to the real disk
// whatever the storage, never synced the directory of the file it created (a power loss took
// the file and every checkpoint in it), and appended after a line cut short, which verify then
// refused as tampered with.
TEST_F(ReplicaOnMemoryStorage, CheckpointsOutlastAPowerLossAndALineCutShortIsCut) {
  constexpr char kCheckpoints[] = "/memory-disk/keys/checkpoints";
  ASSERT_TRUE(storage_.CreateDirectory("/memory-disk/keys").ok());
  replica_.reset();
  const std::vector<uint8_t> key(replica::kCheckpointKeyBytesMin, 7);
  std::mutex mutex;
  std::vector<std::string> messages;
  const auto open = [&] {
    replica::ReplicaOptions options;
    options.storage = &storage_;
    options.writer_buffer_bytes = uint64_t{2} << 20;
    options.checkpoint_key = key;
    options.checkpoint_file = kCheckpoints;
    options.checkpoint_interval_ops = 4;
    options.log = [&](std::string_view message) {
      std::lock_guard lock(mutex);
      messages.emplace_back(message);
    };
    auto opened = replica::Replica::Open(kData, std::move(options));
    EXPECT_TRUE(opened.ok()) << opened.status();
    return opened.ok() ? std::move(*opened) : nullptr;
  };
  // The ops of the lines, each line whole and signed with the key.
  const auto signed_ops = [&] {
    auto file = storage_.Open(kCheckpoints, {});
    EXPECT_TRUE(file.ok()) << file.status();
    std::vector<uint64_t> ops;
    if (!file.ok()) return ops;
    std::string text(*(*file)->Size(), '\0');
    EXPECT_TRUE((*file)->Read(0, std::as_writable_bytes(std::span(text))).ok());
    EXPECT_TRUE(text.empty() || text.back() == '\n') << text;
    for (const absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      auto checkpoint = replica::ParseCheckpoint(key, std::string_view(line.data(), line.size()));
      EXPECT_TRUE(checkpoint.ok()) << checkpoint.status();
      if (checkpoint.ok()) ops.push_back(checkpoint->op);
    }
    return ops;
  };
  replica_ = open();
  ASSERT_NE(replica_, nullptr);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(BookTransfers(/*count_max=*/20));
  const uint64_t closed_op = replica_->last_op();
  replica_.reset();  // signs the last op
  storage_.Crash();  // the power goes
  storage_.Restart();
  EXPECT_FALSE(std::filesystem::exists(kCheckpoints));
  std::vector<uint64_t> ops = signed_ops();
  ASSERT_FALSE(ops.empty());
  EXPECT_EQ(ops.back(), closed_op);

  // Appends the power cut short: the start of a line, or its end alone (its first sectors
  // lost, zeros in their place).
  const std::string torn_tails[] = {"checkpoint v1 op=99 chai",
                                    std::string(40, '\0') + "d1222299d67acc9\n"};
  for (const std::string& torn : torn_tails) {
    {
      auto file = storage_.Open(kCheckpoints, {.writable = true});
      ASSERT_TRUE(file.ok());
      ASSERT_TRUE((*file)->Write(*(*file)->Size(), Bytes(torn)).ok());
      ASSERT_TRUE((*file)->Sync().ok());
    }
    replica_ = open();
    ASSERT_NE(replica_, nullptr);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(BookTransfers(/*count_max=*/20));
    const uint64_t reclosed_op = replica_->last_op();
    replica_.reset();
    ops = signed_ops();
    ASSERT_FALSE(ops.empty());
    EXPECT_EQ(ops.back(), reclosed_op);
    std::lock_guard lock(mutex);
    const std::string cut = absl::StrCat(torn.size(), " bytes of a line left unfinished");
    EXPECT_TRUE(std::any_of(messages.begin(), messages.end(), [&](const std::string& message) {
      return message.find(cut) != std::string::npos;
    })) << cut;
  }
}

}  // namespace
}  // namespace ledger::wal
