// A replica group's coordination in etcd (docs/replication.md): one leader at a time, an
// epoch that grows with every leader and fences the ones before it, and the in-sync set that
// every acknowledgement waits for, changed only by compare-and-set.
//
// Keys, under /ledger/<group>/:
//   election/...  etcd's election: the leader key, made by a campaign, tied to the leader's
//                 lease; its value is the leader's advertised address.
//   config        GroupConfig as JSON (readable with etcdctl), changed only by transactions
//                 that also require the writer's leader key to stand: a leader whose lease has
//                 ended can no longer change it.
//
// The epoch is the leader key's create revision: etcd makes it unique and larger for every
// new leader of the election.
//
// Threading: the caller's KJ event loop, like EtcdClient.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "base/hash.h"
#include "cluster/etcd.h"
#include "kj/async.h"
#include "kj/timer.h"

namespace ledger::cluster {

// The etcd election of replica group `group`. Its leader's value is the address the leader
// advertises: "<replication address> <client address>".
std::string GroupElectionName(const std::string& group);
struct AdvertisedAddresses {
  std::string replication;
  std::string client;  // empty when the value names only one address
};
AdvertisedAddresses ParseAdvertised(const std::string& value);

// A member as the in-sync set counts it: its name and its data directory's identity. A member
// restarted on a new, empty directory has a new identity, so it is not counted until it has
// caught up from the others.
struct GroupMember {
  std::string name;  // 1 to 64 of [A-Za-z0-9._-]
  base::Hash128 directory_id;
  friend bool operator==(const GroupMember&, const GroupMember&) = default;
};

struct GroupConfig {
  int64_t epoch = 0;      // the sealing leader's key's create revision
  std::string leader;     // its name
  uint64_t start_op = 0;  // the leader's last op when it sealed the epoch
  // start_op's chain hash: a follower keeps its log through start_op if its own entry there has
  // this hash, and drops what follows (written under an older epoch, never acknowledged).
  base::Hash128 start_chain_hash;
  std::vector<GroupMember> in_sync;  // every acknowledgement waits for all of them
  friend bool operator==(const GroupConfig&, const GroupConfig&) = default;

  bool InSync(const GroupMember& member) const;
};

// The configuration as stored (JSON). Decode refuses anything else with DataLoss.
std::string EncodeGroupConfig(const GroupConfig& config);
absl::StatusOr<GroupConfig> DecodeGroupConfig(std::string_view text);
// Whether a member name is allowed: 1 to 64 of [A-Za-z0-9._-].
bool IsValidMemberName(std::string_view name);

// The configuration with the etcd revision it was read at (0: there is none yet).
struct StoredGroupConfig {
  std::optional<GroupConfig> config;
  int64_t mod_revision = 0;
};

struct GroupOptions {
  std::string group;  // names the keys; 1 to 64 of [A-Za-z0-9._-]
  GroupMember self;
  std::string advertise;  // where peers and clients reach this member when it leads
  int64_t lease_ttl_s = 2;
};

// The election's leader as etcd names it: the addresses it advertised, and its key (held by
// the lease of the campaign that made it, which a member compares with its own).
struct ElectionLeader {
  std::string advertised;
  EtcdLeadership leadership;
};

class GroupCoordinator {
 public:
  // etcd and timer: borrowed for the coordinator's lifetime, on one event loop.
  GroupCoordinator(EtcdClient& etcd, kj::Timer& timer, GroupOptions options);
  ~GroupCoordinator();
  GroupCoordinator(const GroupCoordinator&) = delete;
  GroupCoordinator& operator=(const GroupCoordinator&) = delete;

  // Grants this member's lease and renews it every third of its time to live, until the
  // coordinator is destroyed or a renewal finds it expired.
  kj::Promise<absl::Status> Start();
  // Whether the lease is surely alive now: the last renewal's answer came back within its TTL
  // of when it was asked. A leader that is not sure must stop acknowledging and answering.
  bool LeaseSurelyAlive() const;
  int64_t lease() const { return lease_; }

  kj::Promise<absl::StatusOr<StoredGroupConfig>> ReadConfig();

  // Campaigns for the lead until elected or wait_ns passes (DeadlineExceeded).
  kj::Promise<absl::StatusOr<EtcdLeadership>> Campaign(uint64_t wait_ns);
  // The elected member makes the next epoch its own: the configuration's epoch becomes its
  // leadership's, with its log's head as the start. Before calling, the member must already
  // refuse entries of older epochs, so that no older leader can still gather its
  // acknowledgement. FailedPrecondition when it is not in the in-sync set (it must not lead:
  // resign), or when the group has no configuration and `may_bootstrap` is false. With
  // `may_bootstrap`, a group without one starts with this member alone in sync.
  kj::Promise<absl::StatusOr<GroupConfig>> SealEpoch(const EtcdLeadership& leadership,
                                                     uint64_t last_op,
                                                     const base::Hash128& chain_hash,
                                                     bool may_bootstrap,
                                                     int attempts_left = kWriteAttemptsMax);
  // As leader of `config`'s epoch: replaces the in-sync set (a follower dropped for its lag, or
  // added once it caught up). FailedPrecondition when the epoch is no longer the group's or
  // the set would not hold the leader; Aborted when the configuration changed meanwhile or the
  // leadership ended (its lease ran out): nothing was changed.
  kj::Promise<absl::StatusOr<GroupConfig>> SetInSync(const EtcdLeadership& leadership,
                                                     std::vector<GroupMember> in_sync);
  kj::Promise<absl::Status> Resign(const EtcdLeadership& leadership);
  // The election's current leader, or nullopt when there is none.
  kj::Promise<absl::StatusOr<std::optional<ElectionLeader>>> Leader();

  std::string ConfigKey() const;
  std::string ElectionName() const;

 private:
  // A transaction that lost to another write is read again and retried this often: only the
  // leader writes the configuration, so a conflict is rare (a predecessor's last write).
  static constexpr int kWriteAttemptsMax = 8;

  kj::Promise<void> RenewLoop();
  // The configuration of the next epoch after `seen`, or why this member must not seal it.
  absl::StatusOr<GroupConfig> NextEpoch(const StoredGroupConfig& seen,
                                        const EtcdLeadership& leadership, uint64_t last_op,
                                        const base::Hash128& chain_hash, bool may_bootstrap) const;
  kj::Promise<absl::StatusOr<GroupConfig>> WriteIfStill(const EtcdLeadership& leadership,
                                                        const StoredGroupConfig& seen,
                                                        GroupConfig next);

  EtcdClient& etcd_;
  kj::Timer& timer_;
  const GroupOptions options_;
  int64_t lease_ = 0;
  kj::TimePoint lease_sure_until_;
  kj::Promise<void> renewing_ = nullptr;
};

}  // namespace ledger::cluster
