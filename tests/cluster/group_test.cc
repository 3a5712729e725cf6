// The group's coordination against a real etcd: one leader, epochs that grow and fence, the
// in-sync set changed only by the standing leader; and the configuration's codec.
#include "cluster/group.h"

#include <gtest/gtest.h>

#include "kj/async-io.h"
#include "tests/cluster/etcd_process.h"

namespace ledger::cluster {
namespace {

constexpr uint64_t kSecondNs = 1'000'000'000;

GroupMember Member(std::string name, uint64_t id) { return {std::move(name), {id, id * 7}}; }

GroupConfig SampleConfig() {
  return GroupConfig{.epoch = 41,
                     .leader = "r-1",
                     .start_op = 1234,
                     .start_chain_hash = {0x0123456789abcdefULL, 0xfedcba9876543210ULL},
                     .in_sync = {Member("r-1", 1), Member("r_2.b", 2)}};
}

TEST(GroupConfigCodec, RoundTripsAndRefusesWhatIsNotAConfiguration) {
  const GroupConfig config = SampleConfig();
  const std::string text = EncodeGroupConfig(config);
  absl::StatusOr<GroupConfig> decoded = DecodeGroupConfig(text);
  ASSERT_TRUE(decoded.ok()) << decoded.status() << "\n" << text;
  EXPECT_EQ(*decoded, config);
  EXPECT_NE(text.find(R"("start_chain_hash":"fedcba98765432100123456789abcdef")"),
            std::string::npos)
      << text;

  auto refused = [](std::string_view bad) {
    absl::StatusOr<GroupConfig> result = DecodeGroupConfig(bad);
    return absl::IsDataLoss(result.status());
  };
  EXPECT_TRUE(refused(""));
  EXPECT_TRUE(refused("[]"));
  EXPECT_TRUE(refused(text.substr(0, text.size() - 1)));
  const auto replaced = [&](std::string_view from, std::string_view to) {
    std::string changed = text;
    const size_t at = changed.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    changed.replace(at, from.size(), to);
    return changed;
  };
  EXPECT_TRUE(refused(replaced(R"("epoch":"41")", R"("epoch":"0")")));
  EXPECT_TRUE(refused(replaced(R"("epoch":"41")", R"("epoch":"4x1")")));
  EXPECT_TRUE(refused(replaced(R"("start_op":"1234")", R"("start_op":"-1")")));
  EXPECT_TRUE(refused(replaced("fedcba98", "fedcba9g")));
  EXPECT_TRUE(refused(replaced(R"("leader":"r-1")", R"("leader":"r 1")")));
  EXPECT_TRUE(refused(replaced(R"("leader":"r-1")", R"("leader":"r-9")"))) << "not in sync";
  EXPECT_TRUE(refused(replaced(R"("name":"r_2.b")", R"("name":"r-1")"))) << "twice";
  EXPECT_TRUE(refused(replaced(R"("in_sync":[)", R"("in_sync":{"a":[)")));
  EXPECT_TRUE(refused(replaced(R"("name":"r_2.b")", R"("name":7)")));
}

class GroupTest : public ::testing::Test {
 protected:
  ~GroupTest() noexcept override {}

  void SetUp() override { ASSERT_TRUE(started_) << etcd_.log(); }

  GroupOptions Options(const GroupMember& self) {
    return GroupOptions{
        .group = "g1", .self = self, .advertise = self.name + ":7000", .lease_ttl_s = 2};
  }

  template <typename T>
  T Wait(kj::Promise<T> promise) {
    return promise.wait(io_.waitScope);
  }
  void Sleep(kj::Duration duration) {
    io_.provider->getTimer().afterDelay(duration).wait(io_.waitScope);
  }

  testing::EtcdProcess etcd_;
  const bool started_ = etcd_.Start();
  kj::AsyncIoContext io_ = kj::setupAsyncIo();  // after etcd's start (see etcd_test.cc)
  EtcdClient etcd_client_{*io_.provider, EtcdOptions{.endpoints = {etcd_.endpoint()}}};
  kj::Timer& timer_ = io_.provider->getTimer();
};

TEST_F(GroupTest, LeadersSealGrowingEpochsAndOnlyInSyncMembersMayLead) {
  const GroupMember a = Member("a", 1), b = Member("b", 2);
  auto coordinator_a = std::make_unique<GroupCoordinator>(etcd_client_, timer_, Options(a));
  GroupCoordinator coordinator_b(etcd_client_, timer_, Options(b));
  ASSERT_TRUE(Wait(coordinator_a->Start()).ok());
  ASSERT_TRUE(Wait(coordinator_b.Start()).ok());
  EXPECT_TRUE(coordinator_a->LeaseSurelyAlive());

  absl::StatusOr<EtcdLeadership> lead_a = Wait(coordinator_a->Campaign(kSecondNs));
  ASSERT_TRUE(lead_a.ok()) << lead_a.status();
  absl::StatusOr<GroupConfig> refused_bootstrap =
      Wait(coordinator_a->SealEpoch(*lead_a, 0, {}, /*may_bootstrap=*/false));
  EXPECT_TRUE(absl::IsFailedPrecondition(refused_bootstrap.status())) << refused_bootstrap.status();
  EXPECT_FALSE(Wait(coordinator_a->ReadConfig())->config.has_value()) << "nothing written";

  absl::StatusOr<GroupConfig> epoch_a =
      Wait(coordinator_a->SealEpoch(*lead_a, 0, {}, /*may_bootstrap=*/true));
  ASSERT_TRUE(epoch_a.ok()) << epoch_a.status();
  EXPECT_EQ(epoch_a->epoch, lead_a->create_revision);
  EXPECT_EQ(epoch_a->leader, "a");
  EXPECT_EQ(epoch_a->in_sync, std::vector<GroupMember>{a});
  absl::StatusOr<std::optional<ElectionLeader>> leader = Wait(coordinator_b.Leader());
  ASSERT_TRUE(leader.ok() && leader->has_value()) << leader.status();
  EXPECT_EQ((*leader)->advertised, "a:7000");
  EXPECT_EQ((*leader)->leadership.key, lead_a->key);
  EXPECT_EQ((*leader)->leadership.create_revision, lead_a->create_revision);
  EXPECT_EQ((*leader)->leadership.lease, coordinator_a->lease());

  // b is not in sync: elected after a resigns, it must not lead.
  kj::Promise<absl::StatusOr<EtcdLeadership>> b_waits = coordinator_b.Campaign(20 * kSecondNs);
  ASSERT_TRUE(Wait(coordinator_a->Resign(*lead_a)).ok());
  absl::StatusOr<EtcdLeadership> lead_b = Wait(kj::mv(b_waits));
  ASSERT_TRUE(lead_b.ok()) << lead_b.status();
  absl::StatusOr<GroupConfig> not_in_sync =
      Wait(coordinator_b.SealEpoch(*lead_b, 0, {}, /*may_bootstrap=*/true));
  EXPECT_TRUE(absl::IsFailedPrecondition(not_in_sync.status())) << not_in_sync.status();
  EXPECT_EQ(Wait(coordinator_b.ReadConfig())->config, *epoch_a) << "unchanged";
  ASSERT_TRUE(Wait(coordinator_b.Resign(*lead_b)).ok());

  // a leads again and counts b in; then a's lease runs out (its coordinator is gone) and b
  // seals the next epoch from its own log's head.
  lead_a = Wait(coordinator_a->Campaign(kSecondNs));
  ASSERT_TRUE(lead_a.ok()) << lead_a.status();
  epoch_a = Wait(coordinator_a->SealEpoch(*lead_a, 10, {10, 10}, false));
  ASSERT_TRUE(epoch_a.ok()) << epoch_a.status();
  absl::StatusOr<GroupConfig> with_b = Wait(coordinator_a->SetInSync(*lead_a, {a, b}));
  ASSERT_TRUE(with_b.ok()) << with_b.status();
  const EtcdLeadership old_lead_a = *lead_a;
  coordinator_a.reset();
  lead_b = Wait(coordinator_b.Campaign(20 * kSecondNs));
  ASSERT_TRUE(lead_b.ok()) << lead_b.status();
  // The configuration still names a's epoch, but a's leader key is gone with its lease.
  GroupCoordinator stale_a(etcd_client_, timer_, Options(a));
  absl::StatusOr<GroupConfig> lease_ended = Wait(stale_a.SetInSync(old_lead_a, {a}));
  EXPECT_TRUE(absl::IsAborted(lease_ended.status())) << lease_ended.status();
  EXPECT_EQ(Wait(coordinator_b.ReadConfig())->config, *with_b);
  absl::StatusOr<GroupConfig> epoch_b = Wait(coordinator_b.SealEpoch(*lead_b, 12, {12, 12}, false));
  ASSERT_TRUE(epoch_b.ok()) << epoch_b.status();
  EXPECT_GT(epoch_b->epoch, epoch_a->epoch);
  EXPECT_EQ(epoch_b->leader, "b");
  EXPECT_EQ(epoch_b->start_op, 12u);
  EXPECT_EQ(epoch_b->start_chain_hash, (base::Hash128{12, 12}));
  // a lost its lease: the new epoch does not wait for it (it rejoins once caught up).
  EXPECT_EQ(epoch_b->in_sync, (std::vector<GroupMember>{b}));

  // a's old leadership can change nothing now.
  absl::StatusOr<GroupConfig> stale = Wait(stale_a.SetInSync(old_lead_a, {a}));
  EXPECT_TRUE(absl::IsFailedPrecondition(stale.status())) << stale.status();
  absl::StatusOr<GroupConfig> drop_a = Wait(coordinator_b.SetInSync(*lead_b, {b}));
  ASSERT_TRUE(drop_a.ok()) << drop_a.status();
  absl::StatusOr<GroupConfig> without_leader = Wait(coordinator_b.SetInSync(*lead_b, {a}));
  EXPECT_TRUE(absl::IsFailedPrecondition(without_leader.status())) << without_leader.status();
  EXPECT_EQ(Wait(coordinator_b.ReadConfig())->config, *drop_a);
}

TEST_F(GroupTest, AMemberOnANewDirectoryIsNotInSync) {
  const GroupMember a = Member("a", 1), b = Member("b", 2);
  GroupCoordinator coordinator_a(etcd_client_, timer_, Options(a));
  ASSERT_TRUE(Wait(coordinator_a.Start()).ok());
  EtcdLeadership lead_a = *Wait(coordinator_a.Campaign(kSecondNs));
  ASSERT_TRUE(Wait(coordinator_a.SealEpoch(lead_a, 0, {}, true)).ok());
  ASSERT_TRUE(Wait(coordinator_a.SetInSync(lead_a, {a, b})).ok());
  ASSERT_TRUE(Wait(coordinator_a.Resign(lead_a)).ok());

  GroupCoordinator new_disk_b(etcd_client_, timer_, Options(Member("b", 3)));
  ASSERT_TRUE(Wait(new_disk_b.Start()).ok());
  EtcdLeadership lead_b = *Wait(new_disk_b.Campaign(kSecondNs));
  absl::StatusOr<GroupConfig> refused = Wait(new_disk_b.SealEpoch(lead_b, 0, {}, true));
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
}

TEST_F(GroupTest, ALeaseNotRenewedInTimeIsNoLongerSure) {
  GroupCoordinator coordinator(etcd_client_, timer_, Options(Member("a", 1)));
  ASSERT_TRUE(Wait(coordinator.Start()).ok());
  Sleep(3 * kj::SECONDS);  // renewed meanwhile
  EXPECT_TRUE(coordinator.LeaseSurelyAlive());
  etcd_.Pause();
  Sleep(3 * kj::SECONDS);
  EXPECT_FALSE(coordinator.LeaseSurelyAlive()) << "no renewal answered for longer than the TTL";
  etcd_.Resume();
}

}  // namespace
}  // namespace ledger::cluster
