// What the replica-group tests share: reading a member's gauges, and recovering a stopped
// member's data directory to compare it with the others.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "engine/engine.h"
#include "replica/recovery.h"
#include "replica/replica.h"
#include "wal/directory.h"

namespace ledger::cluster::testing {

// The value of an unlabelled gauge in a Prometheus text page; nullopt when absent.
inline std::optional<int64_t> Gauge(const std::string& page, const std::string& name) {
  const size_t at = page.find("\n" + name + " ");
  if (at == std::string::npos) return std::nullopt;
  const size_t begin = at + name.size() + 2;
  int64_t value = 0;
  if (!absl::SimpleAtoi(page.substr(begin, page.find('\n', begin) - begin), &value)) {
    return std::nullopt;
  }
  return value;
}

// A member's data directory, recovered read-only once it stopped.
struct Recovered {
  uint64_t last_op = 0;
  wal::Hash128 chain_hash;
  engine::StateHash state_hash;
  std::unique_ptr<engine::Engine> engine;
};

inline Recovered RecoverMember(const std::string& data_dir) {
  Recovered out;
  auto directory = wal::Directory::Open(data_dir, /*writable=*/false);
  EXPECT_TRUE(directory.ok()) << directory.status();
  if (!directory.ok()) return out;
  replica::RecoveryOptions options;
  options.cut_torn_tail = false;
  auto recovered = replica::Recover(**directory, options);
  EXPECT_TRUE(recovered.ok()) << recovered.status();
  if (!recovered.ok()) return out;
  out.last_op = recovered->log.last_op;
  out.chain_hash = recovered->log.last_chain_hash;
  out.state_hash = recovered->engine->ComputeStateHash();
  out.engine = std::move(recovered->engine);
  return out;
}

// A member with a cold store (--hot-transfers N), opened as ledgerd opens it once it stopped
// (the cold store read, what its cooler left to write written).
struct Opened {
  uint64_t last_op = 0;
  wal::Hash128 chain_hash;
  engine::StateHash state_hash;
  std::unique_ptr<replica::Replica> replica;
};

inline Opened OpenMember(const std::string& data_dir, uint64_t hot_transfers) {
  Opened out;
  replica::ReplicaOptions options;
  options.engine.hot_transfers = hot_transfers;
  options.use_io_uring = false;
  auto opened = replica::Replica::Open(data_dir, std::move(options));
  EXPECT_TRUE(opened.ok()) << opened.status();
  if (!opened.ok()) return out;
  out.replica = std::move(*opened);
  out.last_op = out.replica->last_op();
  out.chain_hash = out.replica->chain_hash();
  out.state_hash = out.replica->engine().ComputeStateHash();
  return out;
}

// Every transfer of `acknowledged` is in `engine`, as it was booked.
inline void ExpectAll(const engine::Engine& engine, const std::vector<Transfer>& acknowledged,
                      const std::string& who) {
  for (const Transfer& transfer : acknowledged) {
    const std::optional<Transfer> found = engine.LookupTransfer(transfer.id);
    ASSERT_TRUE(found.has_value()) << who << " lost an acknowledged transfer";
    ASSERT_EQ(found->amount, transfer.amount) << who;
    ASSERT_EQ(found->debit_account_id, transfer.debit_account_id) << who;
    ASSERT_EQ(found->credit_account_id, transfer.credit_account_id) << who;
  }
}

}  // namespace ledger::cluster::testing
