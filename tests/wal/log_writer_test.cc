// A full disk, on the in-memory disk: the log writer keeps the next segment prepared, so it
// never fails a group for want of space; while it cannot prepare one, the replica refuses
// batches as "storage full" (nothing logged or applied) and takes them again by itself once
// space comes back; a group that finds its segment full waits for the space and is written.
// A disk that misdirects a write, then a crash that tears the next: the log ends cleanly where
// acknowledged groups belong, and the durable mark, raised before each next group, refuses it.
#include "wal/log_writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "replica/log_schema.h"
#include "replica/replica.h"
#include "tests/wal/memory_storage.h"
#include "tests/wal/wal_test_util.h"
#include "wal/directory.h"
#include "wal/log_reader.h"

namespace ledger::wal {
namespace {

using std::chrono::milliseconds;
using testing::MemoryStorage;

constexpr char kData[] = "/memory-disk/ledger";
constexpr uint64_t kEntryEvents = 6000;  // ~0.9 MB: four fill a segment of 4 MiB

// A disk that is full while `full` is set: nothing can be preallocated or grown.
void FillUp(MemoryStorage& storage, std::shared_ptr<std::atomic<bool>> full) {
  storage.fault = [full](std::string_view operation, const std::string& path) {
    const bool grows = operation == "allocate" || (operation == "write" && path.ends_with(".tmp"));
    return full->load() && grows ? absl::ResourceExhaustedError("simulated: ENOSPC")
                                 : absl::OkStatus();
  };
}

// Entry `op` of `body` (create_transfers records), sealed after the entry whose chain hash is
// `chain`, which then becomes this one's.
EntryHeader SealedEntry(uint64_t op, std::span<const std::byte> body, Hash128& chain) {
  EntryHeader header{};
  header.operation = static_cast<uint8_t>(engine::Operation::kCreateTransfers);
  header.event_count = static_cast<uint32_t>(body.size() / sizeof(Transfer));
  header.op = op;
  header.timestamp_ns = op * 1'000'000;
  header.previous_chain_hash = chain;
  SealEntry(header, body);
  chain = header.chain_hash;
  return header;
}

bool WaitFor(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

TEST(LogWriter, AGroupThatFindsItsSegmentFullWaitsForSpaceAndIsWrittenOnceItComes) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.CreateDirectory("/memory-disk").ok());
  ASSERT_TRUE(Directory::Init(kData, {.segment_size_bytes = kSegmentSizeMinBytes}, storage).ok());
  auto directory = Directory::Open(kData, /*writable=*/true, storage);
  ASSERT_TRUE(directory.ok());
  auto full = std::make_shared<std::atomic<bool>>(true);
  FillUp(storage, full);

  WriterOptions options;
  options.schema = replica::LogSchema();
  options.use_io_uring = false;
  // Room for the largest entry, so for one of these a group.
  options.buffer_bytes =
      RoundUpToBlock(sizeof(GroupHeader) + options.schema.entry_size_max_bytes());
  options.spare_retry_interval_ns = 5'000'000;
  auto writer = LogWriter::Open(**directory, LogPosition{}, 1, options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  EXPECT_FALSE((*writer)->has_room());
  EXPECT_TRUE(absl::IsResourceExhausted((*writer)->room_status())) << (*writer)->room_status();

  const std::vector<Transfer> events(kEntryEvents);
  const std::span<const std::byte> body = std::as_bytes(std::span(events));
  Hash128 chain{};
  constexpr uint64_t kEntries = 6;
  for (uint64_t op = 1; op <= kEntries; ++op) {
    (*writer)->Append(SealedEntry(op, body, chain), body);
  }
  // The segment in use takes what fits; the next group waits, and nothing fails.
  ASSERT_TRUE(WaitFor([&] { return (*writer)->durable_op() >= 4; }));
  std::this_thread::sleep_for(milliseconds(50));
  const uint64_t fitted = (*writer)->durable_op();
  EXPECT_LT(fitted, kEntries);
  EXPECT_TRUE((*writer)->status().ok());
  EXPECT_FALSE(storage.Exists(std::string(kData) + "/wal-00000000000000000001.seg"));

  full->store(false);
  EXPECT_TRUE((*writer)->WaitDurable(kEntries).ok());
  EXPECT_TRUE(storage.Exists(std::string(kData) + "/wal-00000000000000000001.seg"));
  ASSERT_TRUE(WaitFor([&] { return (*writer)->has_room(); }));
  EXPECT_TRUE((*writer)->room_status().ok());
  writer->reset();
  // The prepared segment went with the writer; the log reads back whole.
  EXPECT_FALSE(storage.Exists(std::string(kData) + "/wal-00000000000000000002.seg.tmp"));
  uint64_t scanned = 0;
  const auto result = ScanLog(**directory, replica::LogScanOptions(),
                              [&](const EntryHeader&, std::span<const std::byte>) {
                                ++scanned;
                                return absl::OkStatus();
                              });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(scanned, kEntries);
}

TEST(Replica, AFullDiskRefusesBatchesUntilSpaceComesBackAndLosesNothing) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.CreateDirectory("/memory-disk").ok());
  ASSERT_TRUE(Directory::Init(kData, {.segment_size_bytes = kSegmentSizeMinBytes}, storage).ok());
  const auto open = [&] {
    replica::ReplicaOptions options;
    options.storage = &storage;
    options.use_io_uring = false;
    options.writer_buffer_bytes = uint64_t{2} << 20;
    options.snapshot_interval_ops = 50;
    auto opened = replica::Replica::Open(kData, std::move(options));
    EXPECT_TRUE(opened.ok()) << opened.status();
    return opened.ok() ? std::move(*opened) : nullptr;
  };
  // The fault is in place before any thread of the replica runs; only the flag changes later.
  auto full = std::make_shared<std::atomic<bool>>(false);
  FillUp(storage, full);
  std::unique_ptr<replica::Replica> replica = open();
  ASSERT_NE(replica, nullptr);
  engine::Engine reference;
  const Ledger ledger = testing::TestLedger();
  CreateLedgerResult ledger_result;
  auto receipt = replica->Submit<Ledger>({&ledger, 1}, {&ledger_result, 1});
  ASSERT_TRUE(receipt.ok());
  reference.CreateLedgers({&ledger, 1}, receipt->timestamp_ns, {&ledger_result, 1});
  const std::vector<Account> accounts = testing::TestAccounts();
  std::vector<CreateAccountResult> account_results(accounts.size());
  receipt = replica->Submit<Account>(accounts, account_results);
  ASSERT_TRUE(receipt.ok());
  reference.CreateAccounts(accounts, receipt->timestamp_ns, account_results);

  // One batch on both; the replica's refusal, if it refuses.
  const auto book = [&]() -> absl::Status {
    const uint64_t op = replica->last_op() + 1;
    const std::vector<Transfer> batch = testing::TestTransfers(7, op, 250);
    std::vector<CreateTransferResult> results(batch.size()), expected(batch.size());
    auto booked = replica->Submit<Transfer>(batch, results);
    if (!booked.ok()) return booked.status();
    reference.CreateTransfers(batch, booked->timestamp_ns, expected);
    EXPECT_EQ(results, expected);
    return absl::OkStatus();
  };

  full->store(true);
  absl::Status refused;
  for (int i = 0; i < 1000 && refused.ok(); ++i) refused = book();
  ASSERT_TRUE(absl::IsResourceExhausted(refused)) << refused;
  EXPECT_TRUE(refused.GetPayload(replica::kStorageFullPayload).has_value());
  EXPECT_TRUE(std::string(refused.message()).starts_with(replica::kStorageFullPrefix)) << refused;
  EXPECT_GT(replica->last_op(), 2u);
  // Nothing of the refused batch was logged or applied; what was taken becomes durable.
  EXPECT_EQ(replica->engine().ComputeStateHash(), reference.ComputeStateHash());
  EXPECT_TRUE(replica->WaitDurable(replica->last_op()).ok());
  EXPECT_TRUE(replica->log_status().ok());

  full->store(false);
  ASSERT_TRUE(WaitFor([&] { return replica->log_writer().has_room(); }));  // within ~1 s
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(book().ok());
  const uint64_t acknowledged = replica->last_op();
  ASSERT_TRUE(replica->WaitDurable(acknowledged).ok());
  storage.Crash();
  replica.reset();
  storage.Restart();
  replica = open();
  ASSERT_NE(replica, nullptr);
  EXPECT_EQ(replica->last_op(), acknowledged);
  EXPECT_EQ(replica->engine().ComputeStateHash(), reference.ComputeStateHash());
}

// The log writer on the in-memory disk, groups of one entry each, and the log as recovery
// would see it after the crash the test arranges.
struct MisdirectedLog {
  MisdirectedLog() {
    EXPECT_TRUE(storage.CreateDirectory("/memory-disk").ok());
    EXPECT_TRUE(Directory::Init(kData, {.segment_size_bytes = kSegmentSizeMinBytes}, storage).ok());
    auto opened = Directory::Open(kData, /*writable=*/true, storage);
    EXPECT_TRUE(opened.ok()) << opened.status();
    directory = std::move(*opened);
    segment = directory->SegmentPath(0);
    WriterOptions options;
    options.schema = replica::LogSchema();
    options.use_io_uring = false;
    options.buffer_bytes = uint64_t{2} << 20;
    auto writer_opened = LogWriter::Open(*directory, LogPosition{}, 1, options);
    EXPECT_TRUE(writer_opened.ok()) << writer_opened.status();
    writer = std::move(*writer_opened);
  }

  // Appends op `op` with `events` transfers as a group of its own; whether it was acknowledged.
  bool Write(uint64_t op, uint32_t events) {
    // Not zeros, so a block of one group never reads like a block of another.
    const std::vector<std::byte> bytes(events * sizeof(Transfer), static_cast<std::byte>(op));
    writer->Append(SealedEntry(op, bytes, chain), bytes);
    return writer->WaitDurable(op).ok();
  }

  // Bytes of the segment through the storage, past the test's own hooks.
  void Put(uint64_t offset, std::span<const std::byte> bytes) {
    auto file = storage.Open(segment, {.writable = true});
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->Write(offset, bytes).ok());
  }
  std::vector<std::byte> Get(uint64_t offset) {
    std::vector<std::byte> block(kBlockBytes);
    auto file = storage.Open(segment, {});
    EXPECT_TRUE(file.ok() && (*file)->Read(offset, block).ok());
    return block;
  }

  // After the crash: what recovery says of the log against the durable mark.
  absl::Status Recover() {
    writer.reset();
    directory.reset();
    storage.Restart();
    storage.fault = nullptr;
    storage.misdirect = nullptr;
    auto opened = Directory::Open(kData, /*writable=*/false, storage);
    if (!opened.ok()) return opened.status();
    auto log =
        ScanLog(**opened, replica::LogScanOptions(),
                [](const EntryHeader&, std::span<const std::byte>) { return absl::OkStatus(); });
    if (!log.ok()) return log.status();
    last_op = log->last_op;
    auto mark = (*opened)->ReadDurableMark();
    if (!mark.ok()) return mark.status();
    return CheckDurableMark(**opened, *mark, *log);
  }

  // Segment writes (groups) go through here, in order from 1: `shift_blocks` for write
  // `misdirected`; the crash comes at the sync of write `torn`, which lands without its
  // first block (`header_was`: what that block held before the write).
  void Arrange(int misdirected, int64_t shift_blocks, int torn) {
    storage.misdirect = [this, misdirected, shift_blocks, torn](
                            const std::string& path, uint64_t offset,
                            uint64_t) -> std::optional<uint64_t> {
      if (inside || path != segment) return std::nullopt;
      ++writes;
      uint64_t to = offset;
      if (writes == misdirected) {
        to = static_cast<uint64_t>(static_cast<int64_t>(offset) + shift_blocks * 4096);
      }
      if (writes == torn) {
        inside = true;
        torn_at = to;
        header_was = Get(to);
        inside = false;
      }
      return to;
    };
    storage.fault = [this, torn](std::string_view operation, const std::string& path) {
      if (inside || operation != "sync" || path != segment || writes != torn) {
        return absl::OkStatus();
      }
      inside = true;
      Put(torn_at, header_was);  // the header's sector did not land
      auto file = storage.Open(segment, {.writable = true});
      EXPECT_TRUE(file.ok() && (*file)->Sync().ok());
      storage.Crash();
      return absl::UnavailableError("simulated: the machine stopped");
    };
  }

  MemoryStorage storage;
  std::unique_ptr<Directory> directory;
  std::string segment;
  std::unique_ptr<LogWriter> writer;
  Hash128 chain{};
  int writes = 0;
  bool inside = false;  // the hooks' own reads and writes
  uint64_t torn_at = 0;
  std::vector<std::byte> header_was;
  uint64_t last_op = 0;
};

// The disk sends group 2 (one block) two blocks on and reports it done: its place stays zeros.
// Group 3 (two blocks), written at the place after it, covers the only copy, and the crash
// tears it so that its header is lost: the log ends cleanly after op 1.
TEST(LogWriter, AnAcknowledgedGroupSentForwardThenCoveredByATornWriteIsRefusedNotCut) {
  MisdirectedLog log;
  log.Arrange(/*misdirected=*/2, /*shift_blocks=*/2, /*torn=*/3);
  ASSERT_TRUE(log.Write(1, 0));
  ASSERT_TRUE(log.Write(2, 0));  // acknowledged: the disk said it was done
  EXPECT_FALSE(log.Write(3, 40));
  const absl::Status recovered = log.Recover();
  EXPECT_EQ(log.last_op, 1u);
  EXPECT_TRUE(absl::IsDataLoss(recovered)) << recovered;
  EXPECT_NE(recovered.message().find("ops through 2 were made durable"), std::string::npos)
      << recovered;
}

// Group 1 (three blocks) is acknowledged; the disk sends group 2 (two blocks) two blocks back,
// over group 1's last two, and the crash tears it so that its header is lost: group 1 fails its
// checks with nothing valid after it, a torn tail to the reader.
TEST(LogWriter, AnAcknowledgedGroupOverwrittenByTheNextSentBackAndTornIsRefusedNotCut) {
  MisdirectedLog log;
  log.Arrange(/*misdirected=*/2, /*shift_blocks=*/-2, /*torn=*/2);
  ASSERT_TRUE(log.Write(1, 70));
  EXPECT_FALSE(log.Write(2, 40));
  const absl::Status recovered = log.Recover();
  EXPECT_EQ(log.last_op, 0u);
  EXPECT_TRUE(absl::IsDataLoss(recovered)) << recovered;
  EXPECT_NE(recovered.message().find("not torn by a crash"), std::string::npos) << recovered;
}

}  // namespace
}  // namespace ledger::wal
