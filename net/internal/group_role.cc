#include "net/internal/group_role.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "base/clock.h"
#include "net/internal/codec.h"

namespace ledger::net::internal {
namespace {

// How often a member looks at the group (who leads, whether it may campaign) while it does not
// lead: while it follows a leader (a new one may be elected while the old one holds the
// connection open: paused, or cut off), and sooner while it seeks one (a failover waits for a
// follower to join the new leader).
constexpr auto kCyclePeriod = 100 * kj::MILLISECONDS;
constexpr auto kSeekPeriod = 25 * kj::MILLISECONDS;
constexpr auto kManagePeriod = 100 * kj::MILLISECONDS;
constexpr auto kLeaseWatchPeriod = 20 * kj::MILLISECONDS;
// A campaign waits this long for the lead before it is asked again (a member stays a candidate
// the whole time; etcd queues candidates).
constexpr uint64_t kCampaignWaitNs = uint64_t{600} * 1'000'000'000;
// etcd names a member leader the moment its campaign wins; the answer reaches the member in
// milliseconds. A key of its own that it has not led from for this long is one whose answer
// was lost, or whose campaign ended in an error after etcd made the key: the group has no
// leader until that key goes.
constexpr uint64_t kUnledKeyGraceNs = uint64_t{3} * 1'000'000'000;
// Elected, a member seals its epoch once the engine is its own (the batch it follows is
// applied): milliseconds. Longer means something holds the engine, and another member leads
// sooner than this one would.
constexpr auto kTakeEngineWait = 5 * kj::SECONDS;

bool Holds(const std::vector<cluster::GroupMember>& members, const std::string& name) {
  return std::any_of(members.begin(), members.end(),
                     [&](const cluster::GroupMember& m) { return m.name == name; });
}

}  // namespace

GroupRole::GroupRole(Core& core, kj::AsyncIoProvider& io, const GroupOptions& options,
                     std::string replication_address, std::string client_address,
                     std::function<void(std::string_view)> log)
    : core_(core),
      io_(io),
      timer_(io.getTimer()),
      options_(options),
      self_{options.member, core.replica().directory().identity().directory_id},
      log_(std::move(log)),
      etcd_(io, cluster::EtcdOptions{.endpoints = options.etcd}),
      coordinator_(etcd_, timer_,
                   cluster::GroupOptions{.group = options.name,
                                         .self = self_,
                                         .advertise = replication_address + " " + client_address,
                                         .lease_ttl_s = options.lease_ttl_s}),
      replication_address_(std::move(replication_address)) {
  // Unreadable: as pending (it then only keeps this member from leading).
  repair_pending_ = core.replica().directory().RepairPending().value_or(true);
}

GroupRole::~GroupRole() {
  following_ = nullptr;  // before the follower it runs
  follower_.reset();
}

void GroupRole::taskFailed(kj::Exception&& exception) {
  log_(absl::StrCat("group: ", exception.getDescription().cStr()));
}

void GroupRole::Stop(absl::Status why) {
  stopping_ = true;  // from now on it neither counts as leader nor takes writes
  if (stopped_ && stopped_->isWaiting()) stopped_->fulfill(std::move(why));
}

kj::Promise<absl::Status> GroupRole::Run() {
  auto stopped = kj::newPromiseAndFulfiller<absl::Status>();
  stopped_ = kj::mv(stopped.fulfiller);
  // After the loop's first wake-up: its timer counts from then, not from before recovery,
  // which would end the first request's timeout at once.
  tasks_.add(timer_.afterDelay(1 * kj::MILLISECONDS).then([this] { return Cycle(); }));
  return kj::mv(stopped.promise);
}

kj::Promise<void> GroupRole::RenewLease() {
  return coordinator_.Start().then([this](absl::Status started) {
    if (started.ok()) {
      log_(absl::StrCat("group ", options_.name, ": member ", self_.name, ", lease ",
                        coordinator_.lease()));
    } else {
      log_(absl::StrCat("group: no lease yet: ", started.ToString()));
    }
  });
}

kj::Promise<void> GroupRole::Cycle() {
  if (state_ == State::kLeading || stopping_) return kj::READY_NOW;
  // First, and whenever it lapsed (etcd away for longer than its TTL): a member without a
  // lease cannot campaign. A campaign on the old one fails and is made again.
  if (!coordinator_.LeaseSurelyAlive()) {
    return RenewLease().then([this]() -> kj::Promise<void> {
      if (coordinator_.LeaseSurelyAlive()) return Cycle();
      return timer_.afterDelay(kCyclePeriod).then([this] { return Cycle(); });
    });
  }
  return coordinator_.ReadConfig()
      .then([this](absl::StatusOr<cluster::StoredGroupConfig> stored) {
        if (stored.ok() && !campaigning_ && state_ != State::kLeading) {
          // A member that cut a damaged log lacks committed entries until it has caught up.
          const bool eligible = !repair_pending_ && (stored->config ? stored->config->InSync(self_)
                                                                    : options_.bootstrap);
          if (eligible) Campaign();
        }
        return coordinator_.Leader();
      })
      .then([this](absl::StatusOr<std::optional<cluster::ElectionLeader>> leader)
                -> kj::Promise<void> {
        if (state_ == State::kLeading) return kj::READY_NOW;
        if (leader.ok()) ReleaseUnledKey(*leader);
        if (leader.ok() && leader->has_value()) {
          auto [replication, client] = cluster::ParseAdvertised((*leader)->advertised);
          leader_client_address_ = client;
          if (following_ != nullptr && replication != followed_address_) {
            // A new leader, while the old one holds the connection open (paused, or cut off
            // without a reset): its entries come from the new one from now on.
            log_(absl::StrCat("group: the leader is now at ", replication));
            StopFollowing();
          }
          if (following_ == nullptr && replication != replication_address_) {
            StartFollowing(replication);
          }
        }
        const bool settled = follower_ != nullptr && follower_->leader_epoch() != 0;
        return timer_.afterDelay(settled ? kCyclePeriod : kSeekPeriod).then([this] {
          return Cycle();
        });
      });
}

void GroupRole::StartFollowing(const std::string& address) {
  absl::StatusOr<uint64_t> epoch = core_.replica().directory().ReadEpoch();
  if (!epoch.ok()) {
    Stop(epoch.status());
    return;
  }
  follower_ = std::make_unique<FollowerReplication>(
      core_, io_, FollowerIdentity{self_, options_.token}, *epoch, log_);
  state_ = State::kFollowing;
  followed_address_ = address;
  following_ =
      follower_->Run(address)
          .then([this, address](FollowerReplication::Outcome outcome) {
            log_(absl::StrCat("group: stopped following: ", outcome.status.ToString()));
            if (outcome.cut.has_value()) {
              cut_ = outcome.cut;
              Stop(absl::FailedPreconditionError(
                  absl::StrCat("the log must be cut after op ", outcome.cut->op)));
            } else if (outcome.install) {
              install_from_ = address;
              Stop(absl::FailedPreconditionError("the leader's snapshot must be installed first"));
            }
            // Not from inside the promise being dropped.
            tasks_.add(kj::evalLater([this] {
              if (state_ == State::kFollowing) StopFollowing();
            }));
          })
          .eagerlyEvaluate(nullptr);
}

void GroupRole::StopFollowing() {
  if (follower_ != nullptr) follower_->Close();
  following_ = nullptr;  // before the follower it runs
  follower_.reset();
  followed_address_.clear();
  state_ = State::kStarting;
}

void GroupRole::Campaign() {
  campaigning_ = true;
  campaign_ = coordinator_.Campaign(kCampaignWaitNs)
                  .then([this](absl::StatusOr<cluster::EtcdLeadership> won) {
                    campaigning_ = false;
                    // Not elected (or etcd away): the next cycle campaigns again.
                    if (won.ok()) tasks_.add(Lead(*won));
                  })
                  .eagerlyEvaluate([this](kj::Exception&& exception) {
                    campaigning_ = false;
                    taskFailed(kj::mv(exception));
                  });
}

void GroupRole::ReleaseUnledKey(const std::optional<cluster::ElectionLeader>& leader) {
  const bool unled = leader.has_value() && coordinator_.lease() != 0 &&
                     leader->leadership.lease == coordinator_.lease();
  const uint64_t now_ns = base::MonotonicNs();
  if (!unled || unled_since_ns_ == 0) {
    unled_since_ns_ = unled ? now_ns : 0;
    return;
  }
  if (now_ns - unled_since_ns_ < kUnledKeyGraceNs) return;
  log_(absl::StrCat("group: etcd has named this member leader (key revision ",
                    leader->leadership.create_revision, ") for ",
                    (now_ns - unled_since_ns_) / 1'000'000, " ms without an answer to ",
                    campaigning_ ? "its campaign" : "a campaign",
                    ": resigning that key (it campaigns again if it may)"));
  unled_since_ns_ = 0;
  campaign_ = nullptr;  // an answer now would come too late: the key is going
  campaigning_ = false;
  tasks_.add(coordinator_.Resign(leader->leadership).then([this](absl::Status resigned) {
    if (!resigned.ok()) log_(absl::StrCat("group: resign: ", resigned.ToString()));
  }));
}

kj::Promise<void> GroupRole::Lead(cluster::EtcdLeadership leadership) {
  // No entry of the old epoch is taken from here on: the old leader cannot gather this
  // member's acknowledgement any more.
  StopFollowing();
  state_ = State::kLeading;
  const uint64_t epoch = static_cast<uint64_t>(leadership.create_revision);
  const wal::Directory& directory = core_.replica().directory();
  absl::StatusOr<uint64_t> seen = directory.ReadEpoch();
  absl::Status written =
      seen.ok() && *seen < epoch
          ? directory.WriteEpoch(epoch)
          : absl::FailedPreconditionError(absl::StrCat("epoch ", epoch, " is not newer"));
  if (!seen.ok()) written = seen.status();
  if (!written.ok()) {
    log_(absl::StrCat("group: cannot lead: ", written.ToString()));
    return Abdicate(leadership);
  }
  // The head, with the engine taken: every entry of the old leader taken in is applied.
  using MaybeTurn = kj::Maybe<kj::Own<EngineTurn>>;
  kj::Promise<MaybeTurn> taken =
      core_.TakeEngine()
          .then([](kj::Own<EngineTurn> turn) -> MaybeTurn { return kj::mv(turn); })
          .exclusiveJoin(timer_.afterDelay(kTakeEngineWait).then([] { return MaybeTurn(); }));
  return taken.then([this, leadership, epoch](MaybeTurn taken_turn) -> kj::Promise<void> {
    kj::Own<EngineTurn> turn;
    KJ_IF_MAYBE (held, taken_turn) {
      turn = kj::mv(*held);
    } else {
      log_(absl::StrCat("group: cannot lead epoch ", epoch, ": the engine stayed busy"));
      return Abdicate(leadership);
    }
    const uint64_t head_op = core_.replica().last_op();
    const base::Hash128 head_hash = core_.replica().chain_hash();
    turn = nullptr;
    return coordinator_.SealEpoch(leadership, head_op, head_hash, options_.bootstrap)
        .then([this, leadership, epoch, head_op,
               head_hash](absl::StatusOr<cluster::GroupConfig> sealed) -> kj::Promise<void> {
          if (!sealed.ok()) {
            log_(
                absl::StrCat("group: cannot seal epoch ", epoch, ": ", sealed.status().ToString()));
            return Abdicate(leadership);
          }
          leader_ = std::make_unique<LeaderReplication>(core_, timer_, self_.name, epoch, head_op,
                                                        head_hash, options_.token, log_);
          leader_->SetInSync(sealed->in_sync);
          leadership_ = leadership;
          leading_since_ns_ = base::MonotonicNs();
          log_(absl::StrCat("group: leading epoch ", epoch, " from op ", head_op, ", ",
                            sealed->in_sync.size(), " in sync"));
          tasks_.add(WatchLease());
          return Manage();
        });
  });
}

kj::Promise<void> GroupRole::Abdicate(const cluster::EtcdLeadership& leadership) {
  return coordinator_.Resign(leadership).then([this](absl::Status) {
    state_ = State::kStarting;
    return timer_.afterDelay(kCyclePeriod).then([this] { return Cycle(); });
  });
}

kj::Promise<void> GroupRole::WatchLease() {
  if (stopping_) return kj::READY_NOW;
  if (!coordinator_.LeaseSurelyAlive()) {
    Stop(absl::UnavailableError("no longer sure of the lease while leading: stepping down"));
    return kj::READY_NOW;
  }
  return timer_.afterDelay(kLeaseWatchPeriod).then([this] { return WatchLease(); });
}

kj::Promise<void> GroupRole::Manage() {
  if (stopping_) return kj::READY_NOW;
  return coordinator_.ReadConfig()
      .then([this](absl::StatusOr<cluster::StoredGroupConfig> stored) -> kj::Promise<void> {
        if (!stored.ok() || !stored->config.has_value()) return kj::READY_NOW;  // etcd away
        const cluster::GroupConfig& config = *stored->config;
        if (config.epoch != leadership_->create_revision) {
          Stop(absl::UnavailableError(absl::StrCat("epoch ", config.epoch, " sealed by ",
                                                   config.leader, " : stepping down")));
          return kj::READY_NOW;
        }
        leader_->SetInSync(config.in_sync);  // etcd's word, read fresh each round
        leader_->Heartbeat();
        return ChangeInSync(config);
      })
      .then([this] { return timer_.afterDelay(kManagePeriod); })
      .then([this] { return Manage(); });
}

kj::Promise<void> GroupRole::ChangeInSync(const cluster::GroupConfig& config) {
  const uint64_t now_ns = base::MonotonicNs();
  const uint64_t lag_max_ns = options_.lag_max_ms * 1'000'000;
  const uint64_t durable = core_.durable_op();
  std::vector<FollowerView> followers = leader_->Followers();
  std::vector<cluster::GroupMember> next;
  for (const cluster::GroupMember& member : config.in_sync) {
    if (member.name == self_.name) {
      next.push_back(member);
      continue;
    }
    auto found = std::find_if(followers.begin(), followers.end(),
                              [&](const FollowerView& f) { return f.member == member; });
    if (found != followers.end()) last_seen_ns_[member.name] = now_ns;
    const auto seen = last_seen_ns_.find(member.name);
    const uint64_t present_ns =
        std::max(leading_since_ns_, seen == last_seen_ns_.end() ? 0 : seen->second);
    const bool absent_too_long = found == followers.end() && now_ns - present_ns > lag_max_ns;
    const bool lagging = found != followers.end() && found->behind_since_ns != 0 &&
                         now_ns - found->behind_since_ns > lag_max_ns;
    if (!absent_too_long && !lagging) {
      next.push_back(member);
    } else {
      log_(absl::StrCat(
          "group: ", member.name, " leaves the in-sync set: ",
          lagging ? absl::StrCat("its log lags by ", durable - found->durable_op, " ops for ",
                                 (now_ns - found->behind_since_ns) / 1'000'000, " ms")
                  : "not connected"));
    }
  }
  const size_t kept = next.size();
  for (const FollowerView& follower : followers) {
    if (!Holds(next, follower.member.name) && follower.behind_since_ns == 0 &&
        follower.durable_op >= durable) {
      next.push_back(follower.member);
    }
  }
  if (next == config.in_sync) return kj::READY_NOW;
  // Additions are waited for before etcd counts them; removals stop being waited for only
  // once etcd no longer counts them (the next round reads them back).
  if (next.size() > kept) leader_->SetInSync(next);
  log_(absl::StrCat("group: in sync: ", next.size(), " members (was ", config.in_sync.size(), ")"));
  return coordinator_.SetInSync(*leadership_, next).then([this](auto written) {
    if (!written.ok()) log_(absl::StrCat("group: in-sync change: ", written.status().ToString()));
  });
}

absl::Status GroupRole::Writable() const {
  if (!elected()) {
    return absl::UnavailableError(
        leader_client_address_.empty()
            ? std::string("not the leader of the group, and no leader is known yet")
            : absl::StrCat("not the leader of the group; ", kLeaderIsAtMarker,
                           leader_client_address_));
  }
  if (!coordinator_.LeaseSurelyAlive()) {
    return absl::UnavailableError("the leader is not sure of its lease; retry shortly");
  }
  if (leader_->in_sync().size() < 2) {
    return absl::UnavailableError(
        "fewer than two members are in sync: writes are refused until a follower catches up");
  }
  return absl::OkStatus();
}

kj::Promise<void> GroupRole::Follow(LeaderReplication::FollowContext context) {
  if (state_ != State::kLeading || leader_ == nullptr) {
    return KJ_EXCEPTION(DISCONNECTED, "not the leader");
  }
  return leader_->Follow(context);
}

kj::Promise<void> GroupRole::Snapshot(SnapshotContext context) {
  // Any member: a snapshot holds only what the group committed.
  return ServeSnapshot(core_.replica().directory(), options_.token, context);
}

void GroupRole::OnLocalDurable() {
  if (leader_ != nullptr) leader_->OnLocalDurable();
  if (follower_ != nullptr) {
    follower_->OnLocalDurable();
    if (repair_pending_) FinishRepair();
  }
}

void GroupRole::FinishRepair() {
  // Caught up once it holds everything its leader says the group committed.
  const uint64_t committed = core_.group_committed_op();
  if (committed == 0 || core_.durable_op() < committed) return;
  const absl::Status cleared = core_.replica().directory().SetRepairPending(false);
  if (!cleared.ok()) return Stop(cleared);
  repair_pending_ = false;
  log_(absl::StrCat("group: caught up through op ", committed, " after the repair of the log"));
}

void GroupRole::OnPublished() {
  if (leader_ != nullptr) leader_->OnPublished();
}

kj::Promise<void> GroupRole::StepDown() {
  if (!leadership_.has_value()) return kj::READY_NOW;
  return coordinator_.Resign(*leadership_).then([](absl::Status) {});
}

}  // namespace ledger::net::internal
