// The replication contract's two sides (net/replication.capnp, docs/replication.md), on the
// server's loop.
//
// LeaderReplication: followers connect and get the leader's sealed entries pushed, from the
// ring of recent entries (entry_ring.h) or, further back, from the log on disk; their reports
// of what they made durable give the group's committed op, which replies wait for.
// FollowerReplication: follows one leader, logs and applies its entries through the server's
// core (Replica::AppendReplicated), and reports its durable op.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "cluster/group.h"
#include "kj/async-io.h"
#include "net/internal/core.h"
#include "net/replication.capnp.h"

namespace ledger::net::internal {

// Whole entries of a contiguous byte run (wal/format.h), checked for shape only (sizes within
// the run); Replica::AppendReplicated checks everything else. InvalidArgument when malformed.
struct EntryView {
  wal::EntryHeader header;
  std::span<const std::byte> body;
};
absl::StatusOr<std::vector<EntryView>> SplitEntries(std::span<const std::byte> bytes);

// 16 bytes (low word, then high) of a hash or a directory id, as the contract carries them.
void PutHash(capnp::Data::Builder out, const base::Hash128& hash);
std::optional<base::Hash128> GetHash(capnp::Data::Reader in);

// How far back a follower's log may differ from the leader's before the epoch's start: the
// leader sends its chain hashes at that many ops up to the follower's head (16 bytes each).
// Only entries never acknowledged differ, and a leader cut off stops within its lease.
inline constexpr uint64_t kCutSearchOps = 4096;

// A follower as the leader sees it.
struct FollowerView {
  cluster::GroupMember member;
  uint64_t durable_op = 0;
  uint64_t behind_since_ns = 0;  // monotonic; 0 while it has everything durable that we have
};

class LeaderReplication final : private kj::TaskSet::ErrorHandler {
 public:
  // core, timer: borrowed for the leader's life. `start_op`/`start_chain_hash`: the epoch's.
  LeaderReplication(Core& core, kj::Timer& timer, std::string self, uint64_t epoch,
                    uint64_t start_op, const base::Hash128& start_chain_hash, std::string token,
                    std::function<void(std::string_view)> log);
  ~LeaderReplication();

  // A follower's follow() call (the replication port's bootstrap delegates here).
  using FollowContext = capnp::CallContext<rpc::ReplicationSource::FollowParams,
                                           rpc::ReplicationSource::FollowResults>;
  kj::Promise<void> Follow(FollowContext context);

  // Whose durable ops the commit waits for (the configuration's in-sync set; the leader is in
  // it). Entries after the leader's own durable op wait for every follower named here.
  void SetInSync(std::vector<cluster::GroupMember> in_sync);
  const std::vector<cluster::GroupMember>& in_sync() const { return in_sync_; }
  std::vector<FollowerView> Followers() const;

  void OnPublished();  // new entries in the ring: the senders wake
  // Tells idle followers the committed op: one that no longer answers is dropped.
  void Heartbeat();
  void OnLocalDurable();  // this log moved: the commit may too
  uint64_t epoch() const { return epoch_; }

 private:
  struct Follower;
  void Send(Follower& follower);
  void SendFromLog(Follower& follower);
  void SendChunk(Follower& follower, std::span<const std::byte> entries, uint64_t last_op);
  // The committed op, with no entry; a follower that does not answer is dropped.
  void SendCommit(Follower& follower);
  void Drop(Follower& follower, std::string_view why);
  void Recommit();
  void taskFailed(kj::Exception&& exception) override;

  // A follower's head as we see it: our chain hash at `op` (the ring's, or the log's; nullopt
  // when we never had op), and whether we still hold the entry after it (older segments may
  // be archived).
  struct HeadCheck {
    std::optional<base::Hash128> chain_hash;
    bool next_held = true;
  };
  kj::Promise<HeadCheck> CheckHead(uint64_t op);
  // A follower whose head `head_op` is not past our start but differs from ours: it must cut
  // its log where it last agrees with ours, which it finds from our chain hashes.
  kj::Promise<void> AskForCutBeforeStart(rpc::LeaderHello::Builder start, const std::string& name,
                                         uint64_t head_op);
  // Our chain hashes at ops from_op..through_op (the ring's, or the log's), or nullopt when we
  // no longer hold them all (older segments archived).
  kj::Promise<std::optional<std::vector<base::Hash128>>> ChainHashes(uint64_t from_op,
                                                                     uint64_t through_op);

  Core& core_;
  kj::Timer& timer_;
  const std::string self_;
  const uint64_t epoch_;
  const uint64_t start_op_;
  const base::Hash128 start_chain_hash_;
  const std::string token_;
  std::function<void(std::string_view)> log_;
  std::vector<cluster::GroupMember> in_sync_;
  std::map<std::string, std::unique_ptr<Follower>> followers_;  // by member name
  uint64_t sessions_ = 0;
  // False once destroyed: sessions and calls that outlive the leader do nothing.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  Worker log_reader_{"log-reader"};  // reads entries no longer in the ring from the log
  kj::TaskSet tasks_{*this};
};

struct FollowerIdentity {
  cluster::GroupMember member;
  std::string token;
};

class FollowerReplication final : private kj::TaskSet::ErrorHandler {
 public:
  // core, io: borrowed. `epoch`: the highest this member has seen (its epoch file).
  FollowerReplication(Core& core, kj::AsyncIoProvider& io, FollowerIdentity identity,
                      uint64_t epoch, std::function<void(std::string_view)> log);
  ~FollowerReplication();

  // Where this log must be cut before it can follow: after `op`, whose chain hash must be
  // `chain_hash` (docs/replication.md, "Sealing an epoch").
  struct CutPoint {
    uint64_t op = 0;
    base::Hash128 chain_hash;
  };
  struct Outcome {
    absl::Status status;          // why following stopped
    std::optional<CutPoint> cut;  // set when the leader asked for a cut
    bool install = false;         // the leader asked for an install of its snapshot first
  };
  static Outcome MustCut(CutPoint cut) {
    return Outcome{absl::FailedPreconditionError("the log must be cut first"), cut};
  }
  // Connects to the leader at `address` and follows it until the connection ends or an entry
  // does not fit. The promise is dropped before the follower.
  kj::Promise<Outcome> Run(std::string address);
  // This log moved: the leader hears of it.
  void OnLocalDurable();
  // The leader's epoch once following (persisted in the epoch file first); 0 before.
  uint64_t leader_epoch() const { return leader_epoch_; }
  // Entries refused from now on (the member is about to lead or stop); an entry waiting for
  // the old leader's commit gives up.
  void Close() {
    closed_ = true;
    core_.InterruptGroupCommitWait();
  }

 private:
  class Sink;
  kj::Promise<void> Append(uint64_t epoch, uint64_t committed_op,
                           kj::Array<const kj::byte> entries);
  kj::Promise<void> AppendStarted(uint64_t epoch, uint64_t committed_op,
                                  kj::Array<const kj::byte> entries);
  void Report();
  void Fail(const absl::Status& status);  // following ends
  void taskFailed(kj::Exception&& exception) override;

  kj::Promise<Outcome> Follow(rpc::ReplicationSource::Client source);
  // The cut a leader asked for with its chain hashes at ops from `from_op` on: after the last
  // op where this log has the same hash, read from the log.
  kj::Promise<Outcome> FindCutPoint(uint64_t from_op, capnp::Data::Reader leader_hashes);

  Core& core_;
  kj::AsyncIoProvider& io_;
  const FollowerIdentity identity_;
  uint64_t epoch_;
  uint64_t leader_epoch_ = 0;
  std::function<void(std::string_view)> log_;
  bool closed_ = false;
  kj::Maybe<rpc::FollowerSession::Client> session_;
  // Fulfilled when an append fails: following ends.
  kj::Own<kj::PromiseFulfiller<absl::Status>> failed_;
  // Resolved once the leader's answer to follow() is read: appends wait for it.
  kj::ForkedPromise<void> started_ = nullptr;
  kj::Own<kj::PromiseFulfiller<void>> started_fulfiller_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  uint64_t reported_op_ = 0;
  bool reporting_ = false;
  Worker log_reader_{"cut-search"};  // reads this log's chain hashes for a cut
  kj::TaskSet tasks_{*this};
};

}  // namespace ledger::net::internal
