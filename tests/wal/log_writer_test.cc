// A full disk, on the in-memory disk: the log writer keeps the next segment prepared, so it
// never fails a group for want of space; while it cannot prepare one, the replica refuses
// batches as "storage full" (nothing logged or applied) and takes them again by itself once
// space comes back; a group that finds its segment full waits for the space and is written.
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
    EntryHeader header{};
    header.operation = static_cast<uint8_t>(engine::Operation::kCreateTransfers);
    header.event_count = kEntryEvents;
    header.op = op;
    header.timestamp_ns = op * 1'000'000;
    header.previous_chain_hash = chain;
    SealEntry(header, body);
    chain = header.chain_hash;
    (*writer)->Append(header, body);
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

}  // namespace
}  // namespace ledger::wal
