// What the replica tests that feed one member's entries to another share: a directory of small
// segments, and a replica that keeps a copy of every entry it seals (ReplicaOptions::on_entry),
// as a group's leader sends them.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "replica/replica.h"
#include "tests/wal/wal_test_util.h"
#include "wal/directory.h"

namespace ledger::replica::testing {

struct SealedEntry {
  wal::EntryHeader header;
  std::vector<std::byte> body;
};

inline std::string InitDirectory(const wal::testing::TemporaryDirectory& temporary,
                                 const std::string& name) {
  const std::string path = temporary.Sub(name);
  EXPECT_TRUE(wal::Directory::Init(path, {.segment_size_bytes = wal::kSegmentSizeMinBytes}).ok());
  return path;
}

// What these tests open replicas with: plain writes, small writer buffers.
inline ReplicaOptions TestOptions(ReplicaOptions options) {
  options.use_io_uring = false;
  options.writer_buffer_bytes = uint64_t{2} << 20;
  return options;
}

struct SealingReplica {
  std::vector<SealedEntry> entries;
  std::unique_ptr<Replica> replica;  // null when it did not open (a failure is reported)

  SealingReplica(const std::string& path, ReplicaOptions options) {
    options.on_entry = [this](const wal::EntryHeader& header, std::span<const std::byte> body) {
      entries.push_back({header, {body.begin(), body.end()}});
    };
    auto opened = Replica::Open(path, TestOptions(std::move(options)));
    EXPECT_TRUE(opened.ok()) << opened.status();
    if (opened.ok()) replica = std::move(*opened);
  }

  // The test ledger and its accounts, the first ops of every log here.
  void CreateLedgerAndAccounts() {
    Ledger ledger = wal::testing::TestLedger();
    CreateLedgerResult ledger_result;
    ASSERT_TRUE(replica->Submit<Ledger>({&ledger, 1}, {&ledger_result, 1}).ok());
    std::vector<Account> accounts = wal::testing::TestAccounts();
    std::vector<CreateAccountResult> account_results(accounts.size());
    ASSERT_TRUE(replica->Submit<Account>(accounts, account_results).ok());
  }
};

}  // namespace ledger::replica::testing
