// Helpers for the corruption tests: raw access to segment bytes, the layout of the groups in a
// segment, logs built one durable group per entry with the expected state after every op, and
// entries rewritten the way a careless edit or a misdirected write would.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/assert.h"
#include "engine/engine.h"
#include "replica/recovery.h"
#include "replica/replica.h"
#include "tests/wal/wal_test_util.h"
#include "wal/directory.h"
#include "wal/format.h"
#include "wal/log_writer.h"
#include "wal/snapshot_file.h"

namespace ledger::wal::testing {

using replica::BatchReceipt;
using replica::Recovered;
using replica::RecoveryOptions;

// ---------------------------------------------------------------------------------------------
// Raw file access. A failure here is the test machine's problem, not a finding about the WAL:
// it aborts with the path and errno.

[[noreturn]] inline void IoFailed(const char* what, const std::string& path) {
  std::fprintf(stderr, "corruption_util: %s %s: %s\n", what, path.c_str(), std::strerror(errno));
  std::abort();
}

// Up to size_bytes from offset: fewer when the file ends first.
inline std::vector<std::byte> ReadBytes(const std::string& path, uint64_t offset,
                                        uint64_t size_bytes) {
  std::vector<std::byte> bytes(size_bytes);
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) IoFailed("open", path);
  uint64_t done = 0;
  while (done < size_bytes) {
    const ssize_t n =
        pread(fd, bytes.data() + done, size_bytes - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) IoFailed("read", path);
    if (n == 0) break;
    done += static_cast<uint64_t>(n);
  }
  close(fd);
  bytes.resize(done);
  return bytes;
}

inline void WriteBytes(const std::string& path, uint64_t offset, std::span<const std::byte> bytes) {
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) IoFailed("open", path);
  uint64_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) IoFailed("write", path);
    done += static_cast<uint64_t>(n);
  }
  close(fd);
}

inline void WriteZeros(const std::string& path, uint64_t offset, uint64_t size_bytes) {
  const std::vector<std::byte> zeros(size_bytes);
  WriteBytes(path, offset, zeros);
}

inline uint64_t FileSizeBytes(const std::string& path) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) IoFailed("stat", path);
  return static_cast<uint64_t>(info.st_size);
}

inline void ResizeFile(const std::string& path, uint64_t size_bytes) {
  if (truncate(path.c_str(), static_cast<off_t>(size_bytes)) != 0) IoFailed("truncate", path);
}

inline void FlipBit(std::vector<std::byte>& bytes, uint64_t bit_index) {
  bytes[bit_index / 8] ^= static_cast<std::byte>(1u << (bit_index % 8));
}

// ---------------------------------------------------------------------------------------------
// Layout of the groups in a segment, read back from its bytes.

struct GroupLayout {
  uint64_t offset = 0;      // in the segment, a multiple of kBlockBytes
  uint64_t size_bytes = 0;  // header and entries, before padding
  uint64_t first_op = 0;
  uint32_t entry_count = 0;
  // One past the group's last non-zero byte. The tail of a group can be zeros (entry padding,
  // zero fields of the last record), and zeroing bytes that are zero changes nothing, so a
  // cut at or after this offset leaves the group whole.
  uint64_t significant_end = 0;

  uint64_t padded_end() const { return offset + RoundUpToBlock(size_bytes); }
};

// The valid group headers from kBlockBytes on, up to the first block without one.
inline std::vector<GroupLayout> ParseGroups(std::span<const std::byte> segment,
                                            const Hash128& directory_id) {
  std::vector<GroupLayout> groups;
  uint64_t offset = kBlockBytes;
  while (offset + sizeof(GroupHeader) <= segment.size()) {
    GroupHeader header;
    std::memcpy(&header, segment.data() + offset, sizeof(header));
    if (!IsValid(header, directory_id)) break;
    GroupLayout group{offset, header.size_bytes, header.first_op, header.entry_count, offset};
    for (uint64_t i = offset + header.size_bytes; i > offset; --i) {
      if (segment[i - 1] != std::byte{0}) {
        group.significant_end = i;
        break;
      }
    }
    groups.push_back(group);
    offset = group.padded_end();
  }
  return groups;
}

// ---------------------------------------------------------------------------------------------
// Entries taken out of groups and laid out again.

struct RawEntry {
  EntryHeader header{};
  std::vector<std::byte> body;
};

// The first entry of each group (the small logs hold one entry per group).
inline std::vector<RawEntry> ReadEntries(std::span<const std::byte> segment,
                                         const std::vector<GroupLayout>& groups) {
  std::vector<RawEntry> entries;
  for (const GroupLayout& group : groups) {
    RawEntry entry;
    const uint64_t at = group.offset + sizeof(GroupHeader);
    std::memcpy(&entry.header, segment.data() + at, sizeof(EntryHeader));
    const auto body = segment.subspan(at + sizeof(EntryHeader), entry.header.body_size_bytes);
    entry.body.assign(body.begin(), body.end());
    entries.push_back(std::move(entry));
  }
  return entries;
}

// Seals the entry again with a new op (and its body as it now is), keeping its
// previous_chain_hash: it is well formed, and only its link to the previous entry can break.
inline RawEntry Resealed(RawEntry entry, uint64_t op) {
  entry.header.op = op;
  SealEntry(entry.header, entry.body);
  return entry;
}

// Segment `segment_index`'s first `image.size()` bytes with its groups replaced by `entries`,
// one per group from kBlockBytes on, each group header correct for where it now is.
inline std::vector<std::byte> LayOutGroups(std::span<const std::byte> image, uint64_t segment_index,
                                           std::span<const RawEntry> entries,
                                           const Hash128& directory_id) {
  std::vector<std::byte> out(image.size());
  std::memcpy(out.data(), image.data(), kBlockBytes);  // the segment header
  uint64_t offset = kBlockBytes;
  for (const RawEntry& entry : entries) {
    GroupHeader header{};
    header.magic = kGroupMagic;
    header.first_op = entry.header.op;
    header.entry_count = 1;
    header.size_bytes = sizeof(GroupHeader) + entry.header.entry_size_bytes;
    header.segment_index = segment_index;
    header.segment_offset = offset;
    header.checksum = GroupChecksum(header, directory_id);
    LEDGER_ASSERT(offset + RoundUpToBlock(header.size_bytes) <= out.size(), offset);
    std::memcpy(out.data() + offset, &header, sizeof(header));
    std::memcpy(out.data() + offset + sizeof(header), &entry.header, sizeof(EntryHeader));
    std::memcpy(out.data() + offset + sizeof(header) + sizeof(EntryHeader), entry.body.data(),
                entry.body.size());
    offset += RoundUpToBlock(header.size_bytes);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Building logs.

// Small tables: recovery builds an engine for each of thousands of corrupted logs.
inline RecoveryOptions TestRecoveryOptions(bool use_snapshots = true) {
  RecoveryOptions options;
  options.engine.accounts_capacity = 64;
  options.engine.transfers_capacity = 1024;
  options.use_snapshots = use_snapshots;
  return options;
}

// Appends batches through a replica, waiting after each until its group is durable, so every
// group holds exactly one entry. Opening it recovers the directory at `path` (whose lock must
// be free) and continues its log.
class Appender {
 public:
  static absl::StatusOr<std::unique_ptr<Appender>> Open(const std::string& path) {
    replica::ReplicaOptions options;
    options.engine = TestRecoveryOptions().engine;
    options.use_io_uring = false;                     // pwrite + fdatasync: works everywhere
    options.writer_buffer_bytes = uint64_t{2} << 20;  // the smallest that holds the largest entry
    auto appender = std::unique_ptr<Appender>(new Appender());
    LEDGER_ASSIGN_OR_RETURN(appender->replica_, replica::Replica::Open(path, std::move(options)));
    return appender;
  }

  absl::StatusOr<BatchReceipt> AppendLedger() {
    const Ledger ledger = TestLedger();
    CreateLedgerResult result;
    return Durable(replica_->Submit<Ledger>({&ledger, 1}, {&result, 1}));
  }
  absl::StatusOr<BatchReceipt> AppendAccounts() {
    const std::vector<Account> accounts = TestAccounts();
    std::vector<CreateAccountResult> results(accounts.size());
    return Durable(replica_->Submit<Account>(accounts, results));
  }
  absl::StatusOr<BatchReceipt> AppendTransfers(std::span<const Transfer> transfers) {
    std::vector<CreateTransferResult> results(transfers.size());
    return Durable(replica_->Submit<Transfer>(transfers, results));
  }

  // The engine the appended batches were applied to.
  const engine::Engine& engine() const { return replica_->engine(); }
  const Hash128& chain_hash() const { return replica_->chain_hash(); }
  // Writes a snapshot of the state after the last op.
  absl::Status Snapshot() {
    return replica::WriteSnapshot(replica_->directory(), replica_->last_op(), chain_hash(),
                                  engine());
  }

 private:
  Appender() = default;
  absl::StatusOr<BatchReceipt> Durable(absl::StatusOr<BatchReceipt> receipt) {
    if (!receipt.ok()) return receipt;
    LEDGER_RETURN_IF_ERROR(replica_->WaitDurable(receipt->op));
    return receipt;
  }

  std::unique_ptr<replica::Replica> replica_;
};

// A log of one entry per group: op 1 creates the ledger, op 2 the accounts, the rest are
// transfer batches. What each op leaves is computed by a reference engine that applied the
// same batches directly (not through the log).
struct BuiltLog {
  std::vector<engine::StateHash> state_hash_by_op;  // [k]: after ops 1..k; [0]: empty
  std::vector<Hash128> chain_hash_by_op;            // [k]: entry k's; [0]: zero
  uint64_t last_op() const { return state_hash_by_op.size() - 1; }
};

struct LogPlan {
  std::vector<std::vector<Transfer>> transfer_batches;  // ops 3, 4, ...
  std::vector<uint64_t> snapshot_ops;                   // write a snapshot right after these
};

// Inits `path` and writes the plan. Returns an error when any step fails.
inline absl::StatusOr<BuiltLog> BuildLog(const std::string& path, uint64_t segment_size_bytes,
                                         const LogPlan& plan) {
  LEDGER_RETURN_IF_ERROR(Directory::Init(path, {.segment_size_bytes = segment_size_bytes}));
  LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<Appender> appender, Appender::Open(path));
  engine::Engine reference;
  BuiltLog log;
  log.state_hash_by_op.push_back(reference.ComputeStateHash());
  log.chain_hash_by_op.push_back({});
  auto record = [&](const BatchReceipt& receipt) -> absl::Status {
    if (receipt.op != log.state_hash_by_op.size()) return absl::InternalError("op out of order");
    log.state_hash_by_op.push_back(reference.ComputeStateHash());
    log.chain_hash_by_op.push_back(appender->chain_hash());
    for (uint64_t op : plan.snapshot_ops) {
      if (op == receipt.op) LEDGER_RETURN_IF_ERROR(appender->Snapshot());
    }
    return absl::OkStatus();
  };

  LEDGER_ASSIGN_OR_RETURN(BatchReceipt receipt, appender->AppendLedger());
  const Ledger ledger = TestLedger();
  CreateLedgerResult ledger_result;
  reference.CreateLedgers({&ledger, 1}, receipt.timestamp_ns, {&ledger_result, 1});
  LEDGER_RETURN_IF_ERROR(record(receipt));

  LEDGER_ASSIGN_OR_RETURN(receipt, appender->AppendAccounts());
  const std::vector<Account> accounts = TestAccounts();
  std::vector<CreateAccountResult> account_results(accounts.size());
  reference.CreateAccounts(accounts, receipt.timestamp_ns, account_results);
  LEDGER_RETURN_IF_ERROR(record(receipt));

  for (const std::vector<Transfer>& batch : plan.transfer_batches) {
    LEDGER_ASSIGN_OR_RETURN(receipt, appender->AppendTransfers(batch));
    std::vector<CreateTransferResult> results(batch.size());
    reference.CreateTransfers(batch, receipt.timestamp_ns, results);
    LEDGER_RETURN_IF_ERROR(record(receipt));
  }
  return log;
}

// `count` simple transfers of op `op` (unique ids): enough bytes to fill segments quickly.
inline std::vector<Transfer> BulkTransfers(uint64_t op, uint32_t count) {
  std::vector<Transfer> batch(count);
  for (uint32_t i = 0; i < count; ++i) {
    Transfer& transfer = batch[i];
    transfer = Transfer{};
    transfer.id = TransferId::From((u128{op} << 32) | i);
    const uint64_t debit = 1 + i % kTestAccounts;
    transfer.debit_account_id = AccountId::From(debit);
    transfer.credit_account_id = AccountId::From(debit % kTestAccounts + 1);
    transfer.amount = Amount::From(1 + i % 7);
    transfer.ledger = kTestLedger;
    transfer.code = 1;
  }
  return batch;
}

}  // namespace ledger::wal::testing
