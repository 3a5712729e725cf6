// A member's role in its replica group (docs/replication.md), on the server's loop. It keeps
// its etcd lease, campaigns while the configuration counts it in sync, and follows whoever
// leads meanwhile. Elected, it stops following, persists the new epoch, seals it in etcd from
// its log's head and leads: followers that caught up join the in-sync set, and those that lag
// for longer than the bound leave it, both by compare-and-set. A leader that is no longer sure
// of its lease stops (the process restarts and follows).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "cluster/etcd.h"
#include "cluster/group.h"
#include "kj/async-io.h"
#include "net/internal/core.h"
#include "net/internal/replication.h"
#include "net/internal/snapshot_transfer.h"
#include "net/server.h"

namespace ledger::net::internal {

class GroupRole final : private kj::TaskSet::ErrorHandler {
 public:
  // core, io: borrowed for the role's life. `replication_address`: where the others reach this
  // member's replication port; `client_address`: where clients reach it.
  GroupRole(Core& core, kj::AsyncIoProvider& io, const GroupOptions& options,
            std::string replication_address, std::string client_address,
            std::function<void(std::string_view)> log);
  ~GroupRole();

  // Runs until the server stops. Resolves (with the reason) when this member must stop
  // serving: it lost its lease while leading, or its log must be cut first (cut()).
  kj::Promise<absl::Status> Run();
  // Client writes: OK only on the leader of a sealed epoch, sure of its lease, with at least
  // two members in sync. Unavailable otherwise, naming the leader when known.
  absl::Status Writable() const;
  // The replication port's calls.
  kj::Promise<void> Follow(LeaderReplication::FollowContext context);
  kj::Promise<void> Snapshot(SnapshotContext context);
  void OnLocalDurable();
  void OnPublished();
  // Set once Run resolved because this log must be cut before it can follow.
  const std::optional<FollowerReplication::CutPoint>& cut() const { return cut_; }
  // Set once Run resolved because this member must install its leader's snapshot first: the
  // leader's replication address.
  const std::optional<std::string>& install_from() const { return install_from_; }
  // Leads a sealed epoch and is sure of its lease (an old leader cut off from etcd may still
  // think itself elected, but is no longer sure after the lease's time: another may lead).
  bool leading() const { return elected() && coordinator_.LeaseSurelyAlive(); }
  uint64_t epoch() const { return leader_ != nullptr ? leader_->epoch() : follower_epoch(); }
  size_t in_sync_count() const { return leader_ != nullptr ? leader_->in_sync().size() : 0; }
  // On a graceful stop: hands the lead over at once (resigns) rather than after the lease.
  kj::Promise<void> StepDown();

 private:
  enum class State { kStarting, kFollowing, kLeading };

  bool elected() const { return !stopping_ && state_ == State::kLeading && leader_ != nullptr; }
  kj::Promise<void> Cycle();
  kj::Promise<void> RenewLease();
  uint64_t follower_epoch() const { return follower_ != nullptr ? follower_->leader_epoch() : 0; }
  void StartFollowing(const std::string& address);
  void StopFollowing();
  void FinishRepair();
  void Campaign();
  // Resigns the election key of this member's lease once etcd has named it leader for longer
  // than the grace without this member leading (kUnledKeyGraceNs).
  void ReleaseUnledKey(const std::optional<cluster::ElectionLeader>& leader);
  kj::Promise<void> Lead(cluster::EtcdLeadership leadership);
  // Elected but unable to lead (not in sync, epoch not newer): resigns and cycles again.
  kj::Promise<void> Abdicate(const cluster::EtcdLeadership& leadership);
  kj::Promise<void> Manage();
  // Stops the member once it is no longer sure of its lease while it leads: checked on a timer
  // of its own, since a round of Manage may wait for etcd for seconds.
  kj::Promise<void> WatchLease();
  // The in-sync set after this round: lagging followers out, caught-up ones in.
  kj::Promise<void> ChangeInSync(const cluster::GroupConfig& config);
  void Stop(absl::Status why);
  void taskFailed(kj::Exception&& exception) override;

  Core& core_;
  kj::AsyncIoProvider& io_;
  kj::Timer& timer_;
  const GroupOptions options_;
  cluster::GroupMember self_;
  std::function<void(std::string_view)> log_;
  cluster::EtcdClient etcd_;
  cluster::GroupCoordinator coordinator_;
  const std::string replication_address_;

  State state_ = State::kStarting;
  std::string leader_client_address_;  // the last leader seen (for Writable's message)
  bool campaigning_ = false;
  uint64_t unled_since_ns_ = 0;  // monotonic: since etcd named this member leader unled (0: not)
  std::unique_ptr<FollowerReplication> follower_;
  kj::Maybe<kj::Promise<void>> following_;  // dropped before follower_
  std::string followed_address_;            // the replication address it follows
  bool stopping_ = false;                   // Stop was called: it leads no more
  bool repair_pending_ = false;             // the REPAIR file: must catch up before leading
  std::unique_ptr<LeaderReplication> leader_;
  std::optional<cluster::EtcdLeadership> leadership_;
  uint64_t leading_since_ns_ = 0;
  std::map<std::string, uint64_t> last_seen_ns_;  // followers connected, by name: monotonic
  std::optional<FollowerReplication::CutPoint> cut_;
  std::optional<std::string> install_from_;
  kj::Own<kj::PromiseFulfiller<absl::Status>> stopped_;
  kj::Promise<void> campaign_ = nullptr;  // the campaign asked last: dropped, it is withdrawn
  kj::TaskSet tasks_{*this};
};

}  // namespace ledger::net::internal
