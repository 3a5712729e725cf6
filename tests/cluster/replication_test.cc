// Replica groups for real: etcd and ledgerd processes on this machine (docs/replication.md).
// Every acknowledged transfer survives the leader's SIGKILL, the old leader cuts what was never
// acknowledged and follows, and every member's log ends with the same chain and state.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "cluster/etcd.h"
#include "cluster/group.h"
#include "kj/async-io.h"
#include "tests/build_path.h"
#include "tests/cluster/cluster_util.h"
#include "tests/cluster/etcd_process.h"
#include "tests/net/server_process.h"
#include "tests/wal/wal_test_util.h"

namespace ledger::cluster {
namespace {

using net::Client;
using net::testing::ServerProcess;
using std::chrono::steady_clock;
using testing::ExpectAll;
using testing::Gauge;
using testing::Recovered;
using testing::RecoverMember;

constexpr auto kLeaderWait = std::chrono::seconds(60);

#define ASSERT_OK(expr)                   \
  do {                                    \
    const absl::Status status_ = (expr);  \
    ASSERT_TRUE(status_.ok()) << status_; \
  } while (false)

class Group {
 public:
  // `init_flags` for each member's `ledgerd init`, `flags` added to each start's.
  explicit Group(int size, const std::vector<std::string>& init_flags = {},
                 std::vector<std::string> flags = {"--hot-transfers", "0"})
      : members_(size), flags_(std::move(flags)) {
    EXPECT_TRUE(etcd_.Start()) << etcd_.log();
    net::testing::WriteTokenFile(directory_.path() + "/client-token",
                                 "client-token-of-the-test-group\n");
    net::testing::WriteTokenFile(directory_.path() + "/group-token",
                                 "group-token-of-the-test-group\n");
    for (auto& member : members_) {
      member = std::make_unique<ServerProcess>(init_flags);
      EXPECT_EQ(member->init_exit_code(), 0);
    }
  }

  // Starts member i (r<i>); the first may start the group.
  bool Start(size_t i) {
    std::vector<std::string> flags = ServerProcess::DefaultFlags();
    const std::vector<std::string> group = {"--token-file",
                                            directory_.path() + "/client-token",
                                            "--metrics",
                                            "127.0.0.1:0",
                                            "--replica-group",
                                            "g",
                                            "--etcd",
                                            etcd_.endpoint(),
                                            "--member",
                                            "r" + std::to_string(i),
                                            "--replication-listen",
                                            "127.0.0.1:0",
                                            "--group-token-file",
                                            directory_.path() + "/group-token",
                                            "--lag-max-ms",
                                            "1500"};
    flags.insert(flags.end(), group.begin(), group.end());
    flags.insert(flags.end(), flags_.begin(), flags_.end());
    if (i == 0) flags.push_back("--bootstrap-group");
    return members_[i]->Start(flags);
  }

  ServerProcess& member(size_t i) { return *members_[i]; }
  // Every member's log, for a failure's message.
  std::string Logs() {
    std::string logs;
    for (size_t i = 0; i < members_.size(); ++i) {
      absl::StrAppend(&logs, "--- r", i, ":\n", members_[i]->log());
    }
    return logs;
  }
  size_t size() const { return members_.size(); }
  std::string etcd_endpoint() const { return etcd_.endpoint(); }

  std::string Metrics(size_t i) {
    return net::testing::HttpGet(members_[i]->metrics_address(), "/metrics");
  }
  // The member that leads, once one does and has `in_sync` members in sync: its index.
  std::optional<size_t> WaitForLeader(int64_t in_sync, std::optional<size_t> skip = {}) {
    const auto deadline = steady_clock::now() + kLeaderWait;
    while (steady_clock::now() < deadline) {
      for (size_t i = 0; i < members_.size(); ++i) {
        if (skip == i || members_[i]->pid() <= 0) continue;
        const std::string page = Metrics(i);
        if (Gauge(page, "ledger_group_leader") == 1 &&
            Gauge(page, "ledger_group_in_sync_members").value_or(0) >= in_sync) {
          return i;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::nullopt;
  }

  std::unique_ptr<Client> Connect(size_t i) {
    return net::testing::Connect(*members_[i], "client-token-of-the-test-group");
  }
  // A client that follows the group's leader: given `addresses` (member indexes) and etcd.
  std::unique_ptr<Client> ConnectToGroup(const std::vector<size_t>& addresses, bool with_etcd) {
    net::ClientOptions options;
    options.token = "client-token-of-the-test-group";
    for (size_t i : addresses) options.addresses.push_back(members_[i]->address());
    if (with_etcd) {
      options.etcd_endpoints = {etcd_.endpoint()};
      options.replica_group = "g";
    }
    auto client = Client::Connect(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

 private:
  wal::testing::TemporaryDirectory directory_;
  testing::EtcdProcess etcd_;
  std::vector<std::unique_ptr<ServerProcess>> members_;
  std::vector<std::string> flags_;
};

// Ledger 1 and its accounts, then `batches` batches of transfers from `first_id` on; the
// acknowledged transfers are appended to `acknowledged`.
absl::Status Book(Client& client, uint64_t first_id, int batches,
                  std::vector<Transfer>& acknowledged, bool with_setup, size_t batch_size = 50) {
  if (with_setup) {
    Ledger ledger = wal::testing::TestLedger();
    net::LedgerResult ledger_result;
    LEDGER_RETURN_IF_ERROR(client.CreateLedgers({&ledger, 1}, {&ledger_result, 1}));
    std::vector<Account> accounts = wal::testing::TestAccounts();
    for (Account& account : accounts) account.flags = 0;  // any balance: every transfer books
    std::vector<net::AccountResult> account_results(accounts.size());
    LEDGER_RETURN_IF_ERROR(client.CreateAccounts(accounts, account_results));
  }
  for (int b = 0; b < batches; ++b) {
    std::vector<Transfer> batch(batch_size);
    for (size_t i = 0; i < batch.size(); ++i) {
      Transfer& transfer = batch[i];
      transfer.id = TransferId::From(first_id + b * batch.size() + i);
      transfer.debit_account_id = AccountId::From(1 + (b + i) % wal::testing::kTestAccounts);
      transfer.credit_account_id = AccountId::From(1 + (b + i + 1) % wal::testing::kTestAccounts);
      transfer.amount = Amount::From(1 + i);
      transfer.ledger = wal::testing::kTestLedger;
      transfer.code = 1;
      if (i % 5 == 0) {  // reservations that expire: only the leader logs their release
        transfer.flags = transfer_flags::kPending;
        transfer.timeout_s = 1;
      }
    }
    std::vector<net::TransferResult> results(batch.size());
    LEDGER_RETURN_IF_ERROR(client.CreateTransfers(batch, results));
    for (size_t i = 0; i < batch.size(); ++i) {
      // exists: booked by an attempt whose reply a failover lost (a client of the group runs
      // the batch again on the new leader).
      if (results[i].status != CreateTransferResult::kOk &&
          results[i].status != CreateTransferResult::kExists) {
        return absl::InternalError(absl::StrCat("transfer ", i, " of batch ", b, " refused"));
      }
    }
    acknowledged.insert(acknowledged.end(), batch.begin(), batch.end());
  }
  return absl::OkStatus();
}

TEST(ReplicaGroup, AcknowledgedTransfersSurviveTheLeadersDeathAndEveryLogEndsAlike) {
  Group group(3);
  for (size_t i = 0; i < group.size(); ++i) ASSERT_TRUE(group.Start(i)) << group.member(i).log();
  std::optional<size_t> leader = group.WaitForLeader(3);
  ASSERT_TRUE(leader.has_value()) << group.member(0).log();

  // A member that does not lead refuses clients and names the leader.
  const size_t follower = (*leader + 1) % group.size();
  std::vector<Transfer> acknowledged;
  {
    std::unique_ptr<Client> client = group.Connect(follower);
    ASSERT_NE(client, nullptr);
    absl::Status refused = Book(*client, 1, 1, acknowledged, /*with_setup=*/true);
    EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
    EXPECT_NE(refused.message().find(group.member(*leader).address()), std::string::npos)
        << refused;
  }
  {
    std::unique_ptr<Client> client = group.Connect(*leader);
    ASSERT_NE(client, nullptr);
    ASSERT_OK(Book(*client, 1, 40, acknowledged, /*with_setup=*/true));
  }

  // A follower answers stale reads from what the group committed; writes still go to the
  // leader.
  {
    net::ClientOptions options;
    options.address = group.member(follower).address();
    options.token = "client-token-of-the-test-group";
    options.stale_reads = true;
    auto client = Client::Connect(options);
    ASSERT_TRUE(client.ok()) << client.status();
    std::vector<TransferId> ids;
    for (const Transfer& transfer : acknowledged) ids.push_back(transfer.id);
    size_t found = 0;
    for (int attempt = 0; attempt < 100 && found < ids.size(); ++attempt) {
      absl::StatusOr<std::vector<Transfer>> page = (*client)->LookupTransfers(ids);
      ASSERT_TRUE(page.ok()) << page.status();
      found = page->size();
      if (found < ids.size()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(found, ids.size()) << "a follower's stale reads never caught up";
    std::vector<Transfer> refused_write;
    absl::Status refused = Book(**client, 900'000, 1, refused_write, /*with_setup=*/false);
    EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  }

  // The leader dies: another leads, with every acknowledged transfer, and takes more.
  const size_t old_leader = *leader;
  group.member(old_leader).Kill();
  const auto killed_at = steady_clock::now();
  std::optional<size_t> next = group.WaitForLeader(2, old_leader);
  ASSERT_TRUE(next.has_value()) << group.member(follower).log();
  std::cout << "new leader after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() -
                                                                     killed_at)
                   .count()
            << " ms\n";
  {
    std::unique_ptr<Client> client = group.Connect(*next);
    ASSERT_NE(client, nullptr);
    std::vector<TransferId> ids;
    for (const Transfer& transfer : acknowledged) ids.push_back(transfer.id);
    absl::StatusOr<std::vector<Transfer>> found = client->LookupTransfers(ids);
    ASSERT_TRUE(found.ok()) << found.status();
    EXPECT_EQ(found->size(), acknowledged.size()) << "acknowledged transfers were lost";
    ASSERT_OK(Book(*client, 100'000, 20, acknowledged, /*with_setup=*/false));
  }

  // The old leader comes back, follows (cutting what it never had acknowledged) and joins the
  // in-sync set again; then everyone stops, and every log ends alike.
  ASSERT_TRUE(group.Start(old_leader)) << group.member(old_leader).log();
  ASSERT_TRUE(group.WaitForLeader(3).has_value()) << group.member(old_leader).log();
  {
    std::unique_ptr<Client> client = group.Connect(*next);
    ASSERT_NE(client, nullptr);
    ASSERT_OK(Book(*client, 200'000, 5, acknowledged, /*with_setup=*/false));
  }
  // The last reservations expire: the leader logs their release, the followers take it.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  for (size_t i = 0; i < group.size(); ++i) EXPECT_EQ(group.member(i).Stop(), 0) << i;
  std::vector<Recovered> members;
  for (size_t i = 0; i < group.size(); ++i)
    members.push_back(RecoverMember(group.member(i).data_dir()));
  for (size_t i = 0; i < group.size(); ++i) {
    ASSERT_NE(members[i].engine, nullptr);
    ExpectAll(*members[i].engine, acknowledged, "member " + std::to_string(i));
    EXPECT_EQ(members[i].last_op, members[0].last_op) << i;
    EXPECT_EQ(members[i].chain_hash, members[0].chain_hash) << i;
    EXPECT_EQ(members[i].state_hash, members[0].state_hash) << i;
  }
}

// A member that led an epoch between the one the new leader's log continues and the new
// leader's own holds entries (never acknowledged) at ops the new leader has others at: its
// head is not past the new epoch's start, yet its log differs. It cuts where the two logs last
// agree and follows. Built from one log, copied: r1 then books a batch alone (its divergent
// tail), r0 four batches alone, and r0 leads.
TEST(ReplicaGroup, AFollowerWhoseLogDiffersBeforeTheEpochsStartCutsWhereItLastAgrees) {
  Group group(2);
  std::vector<std::string> alone = ServerProcess::DefaultFlags();
  alone.push_back("--no-snapshot-on-shutdown");  // no snapshot past the cut
  std::vector<Transfer> acknowledged;
  // Both directories hold r0's login token once copied.
  const auto book_alone = [&](size_t i, uint64_t first_id, int batches, bool with_setup,
                              std::vector<Transfer>& booked) {
    ASSERT_TRUE(group.member(i).Start(alone)) << group.member(i).log();
    std::unique_ptr<Client> client =
        net::testing::Connect(group.member(i), group.member(0).token());
    ASSERT_NE(client, nullptr);
    ASSERT_OK(Book(*client, first_id, batches, booked, with_setup));
    client.reset();
    ASSERT_EQ(group.member(i).Stop(), 0);
  };
  book_alone(0, 1, 5, /*with_setup=*/true, acknowledged);
  ASSERT_FALSE(HasFailure());
  std::filesystem::remove_all(group.member(1).data_dir());
  std::filesystem::copy(group.member(0).data_dir(), group.member(1).data_dir(),
                        std::filesystem::copy_options::recursive);
  const uint64_t shared_op = RecoverMember(group.member(1).data_dir()).last_op;
  ASSERT_GT(shared_op, 0u);
  std::vector<Transfer> never_acknowledged;
  book_alone(1, 50'000, 1, /*with_setup=*/false, never_acknowledged);
  book_alone(0, 60'000, 4, /*with_setup=*/false, acknowledged);
  ASSERT_FALSE(HasFailure());
  ASSERT_LE(RecoverMember(group.member(1).data_dir()).last_op,
            RecoverMember(group.member(0).data_dir()).last_op)
      << "r1's head must not be past r0's";

  ASSERT_TRUE(group.Start(0)) << group.member(0).log();  // bootstraps the group, leads
  ASSERT_TRUE(group.WaitForLeader(1).has_value()) << group.member(0).log();
  ASSERT_TRUE(group.Start(1)) << group.member(1).log();
  std::optional<size_t> leader = group.WaitForLeader(2);
  ASSERT_EQ(leader, std::optional<size_t>(0)) << group.Logs();
  EXPECT_NE(group.member(1).log().find(
                absl::StrCat("this log last agrees with the leader's at op ", shared_op)),
            std::string::npos)
      << group.Logs();
  {
    std::unique_ptr<Client> client = group.Connect(0);
    ASSERT_NE(client, nullptr);
    ASSERT_OK(Book(*client, 70'000, 3, acknowledged, /*with_setup=*/false));
  }
  for (size_t i = 0; i < group.size(); ++i) EXPECT_EQ(group.member(i).Stop(), 0) << i;
  std::vector<Recovered> members;
  for (size_t i = 0; i < group.size(); ++i) {
    members.push_back(RecoverMember(group.member(i).data_dir()));
    ASSERT_NE(members[i].engine, nullptr);
    ExpectAll(*members[i].engine, acknowledged, "member " + std::to_string(i));
    EXPECT_FALSE(members[i].engine->LookupTransfer(never_acknowledged.front().id).has_value())
        << "r1's own tail is gone from member " << i;
  }
  EXPECT_EQ(members[1].last_op, members[0].last_op);
  EXPECT_EQ(members[1].chain_hash, members[0].chain_hash);
  EXPECT_EQ(members[1].state_hash, members[0].state_hash);
}

// etcd may name a member leader without its knowing: the answer to its campaign was lost, or
// its campaign ended in an error after etcd made the key, and it no longer campaigns. Its lease
// lives on, so the key would hold the election forever. Here r1, which may not campaign (the
// group has no configuration, and it does not bootstrap), holds the election's first key:
// the test puts one with r1's lease. r1 resigns it after a grace, and r0 leads.
TEST(ReplicaGroup, AMemberNamedLeaderWithoutKnowingResignsTheKeySoAnotherLeads) {
  Group group(2);
  ASSERT_TRUE(group.Start(1)) << group.member(1).log();
  const std::string marker = "group g: member r1, lease ";
  std::string lease_text;
  for (int attempt = 0; attempt < 200 && lease_text.empty(); ++attempt) {
    const std::string log = group.member(1).log();
    if (const size_t at = log.find(marker); at != std::string::npos) {
      lease_text = log.substr(at + marker.size(), log.find('\n', at) - at - marker.size());
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ASSERT_FALSE(lease_text.empty()) << group.member(1).log();
  {
    kj::AsyncIoContext io = kj::setupAsyncIo();
    EtcdClient etcd(*io.provider, EtcdOptions{.endpoints = {group.etcd_endpoint()}});
    absl::StatusOr<int64_t> put = etcd.Put(GroupElectionName("g") + "/planted",
                                           "127.0.0.1:1 127.0.0.1:1", std::stoll(lease_text))
                                      .wait(io.waitScope);
    ASSERT_TRUE(put.ok()) << put.status();
  }
  ASSERT_TRUE(group.Start(0)) << group.member(0).log();  // campaigns behind the planted key
  std::optional<size_t> leader = group.WaitForLeader(2);
  ASSERT_EQ(leader, std::optional<size_t>(0)) << group.Logs();
  EXPECT_NE(group.member(1).log().find("resigning that key"), std::string::npos) << group.Logs();
  for (size_t i = 0; i < group.size(); ++i) EXPECT_EQ(group.member(i).Stop(), 0) << i;
}

TEST(ReplicaGroup, WritesWaitForTwoCopiesAndResumeWhenAFollowerReturns) {
  Group group(2);
  for (size_t i = 0; i < group.size(); ++i) ASSERT_TRUE(group.Start(i)) << group.member(i).log();
  std::optional<size_t> leader = group.WaitForLeader(2);
  ASSERT_TRUE(leader.has_value()) << group.member(0).log();
  std::unique_ptr<Client> client = group.Connect(*leader);
  ASSERT_NE(client, nullptr);
  std::vector<Transfer> acknowledged;
  ASSERT_OK(Book(*client, 1, 5, acknowledged, /*with_setup=*/true));

  // The follower dies: once it is out of the in-sync set, one copy is all there is, and writes
  // are refused rather than acknowledged on one disk.
  const size_t follower = 1 - *leader;
  group.member(follower).Kill();
  const auto deadline = steady_clock::now() + kLeaderWait;
  while (steady_clock::now() < deadline &&
         Gauge(group.Metrics(*leader), "ledger_group_in_sync_members") != 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(Gauge(group.Metrics(*leader), "ledger_group_in_sync_members"), 1);
  absl::Status refused = Book(*client, 10'000, 1, acknowledged, false);
  EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  EXPECT_NE(refused.message().find("fewer than two"), std::string::npos) << refused;

  ASSERT_TRUE(group.Start(follower)) << group.member(follower).log();
  ASSERT_TRUE(group.WaitForLeader(2).has_value()) << group.member(follower).log();
  ASSERT_OK(Book(*client, 20'000, 3, acknowledged, false));
  client.reset();
  for (size_t i = 0; i < group.size(); ++i) EXPECT_EQ(group.member(i).Stop(), 0) << i;
  for (size_t i = 0; i < group.size(); ++i) {
    Recovered member = RecoverMember(group.member(i).data_dir());
    ASSERT_NE(member.engine, nullptr);
    ExpectAll(*member.engine, acknowledged, "member " + std::to_string(i));
  }
}

TEST(ReplicaGroup, AClientFollowsTheLeaderAcrossAFailoverAndLosesNothing) {
  Group group(3);
  for (size_t i = 0; i < group.size(); ++i) ASSERT_TRUE(group.Start(i)) << group.member(i).log();
  std::optional<size_t> leader = group.WaitForLeader(3);
  ASSERT_TRUE(leader.has_value()) << group.member(0).log();
  std::vector<Transfer> acknowledged;
  {
    // Given a follower's address alone, the client goes where the follower's refusal points.
    std::unique_ptr<Client> client = group.ConnectToGroup({(*leader + 1) % group.size()}, false);
    ASSERT_NE(client, nullptr);
    ASSERT_OK(Book(*client, 1, 2, acknowledged, /*with_setup=*/true));
  }

  // Batches flow while the leader dies: each call either is acknowledged (perhaps after the
  // client moved to the new leader and ran it again) or fails, and none fails.
  std::unique_ptr<Client> client = group.ConnectToGroup({0, 1, 2}, /*with_etcd=*/true);
  ASSERT_NE(client, nullptr);
  std::atomic<int> batches_done{0};
  std::atomic<int64_t> last_ack_ns{0};
  absl::Status booked;  // the writer's, read after it ended
  std::atomic<bool> writer_ended{false};
  std::thread writer([&] {
    for (int b = 0; b < 60 && booked.ok(); ++b) {
      booked = Book(*client, 1'000 + uint64_t(b) * 100, 1, acknowledged, false);
      last_ack_ns = steady_clock::now().time_since_epoch().count();
      ++batches_done;
    }
    writer_ended = true;
  });
  while (batches_done < 10) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  group.member(*leader).Kill();
  const int64_t killed_ns = steady_clock::now().time_since_epoch().count();
  const int done_at_kill = batches_done;
  while (batches_done <= done_at_kill + 1 && !writer_ended) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::cout << "first acknowledged write after the leader's death: "
            << (last_ack_ns - killed_ns) / 1'000'000 << " ms\n";
  writer.join();
  ASSERT_OK(booked);
  client.reset();

  ASSERT_TRUE(group.Start(*leader)) << group.member(*leader).log();
  ASSERT_TRUE(group.WaitForLeader(3).has_value()) << group.member(*leader).log();
  for (size_t i = 0; i < group.size(); ++i) EXPECT_EQ(group.member(i).Stop(), 0) << i;
  for (size_t i = 0; i < group.size(); ++i) {
    Recovered member = RecoverMember(group.member(i).data_dir());
    ASSERT_NE(member.engine, nullptr);
    ExpectAll(*member.engine, acknowledged, "member " + std::to_string(i));
  }
}

// A group whose logs no longer start at op 1 (ledger-wal archive moved the old segments away)
// takes a member on a new, empty disk: the leader sends its snapshot and cold store, the
// member installs them, follows from the snapshot's op and joins the in-sync set, through the
// leader's death too; every member ends with the same log head and state, and every
// acknowledged transfer.
TEST(ReplicaGroup, ANewMemberInstallsTheLeadersSnapshotWhenItsLogNoLongerStartsAtOpOne) {
  constexpr uint64_t kHotTransfers = 1000;  // history goes cold: the cold store travels too
  Group group(3, {"--segment-size-mib", "4"},
              {"--hot-transfers", std::to_string(kHotTransfers), "--max-batch-events", "200",
               "--snapshot-interval-ops", "40"});
  for (size_t i = 0; i < 2; ++i) ASSERT_TRUE(group.Start(i)) << group.member(i).log();
  std::optional<size_t> leader = group.WaitForLeader(2);
  ASSERT_TRUE(leader.has_value()) << group.member(0).log();
  std::vector<Transfer> acknowledged;
  {
    std::unique_ptr<Client> client = group.Connect(*leader);
    ASSERT_NE(client, nullptr);
    // About two segments of 4 MiB.
    ASSERT_OK(Book(*client, 1, 300, acknowledged, /*with_setup=*/true, 200));
  }
  // The follower first: the leader's last snapshot then holds everything.
  ASSERT_EQ(group.member(1 - *leader).Stop(), 0);
  ASSERT_EQ(group.member(*leader).Stop(), 0);
  for (size_t i = 0; i < 2; ++i) {
    const std::string archive = group.member(i).data_dir() + "-archive";
    const std::string log = group.member(i).data_dir() + "-archive.log";
    EXPECT_EQ(net::testing::WaitExit(net::testing::Spawn(
                  {LEDGER_WAL_BINARY, "archive", group.member(i).data_dir(), archive}, log)),
              0)
        << net::testing::ReadWholeFile(log);
    EXPECT_FALSE(
        std::filesystem::exists(group.member(i).data_dir() + "/wal-00000000000000000000.seg"))
        << i << " still holds op 1";
  }
  for (size_t i = 0; i < 2; ++i) ASSERT_TRUE(group.Start(i)) << group.member(i).log();
  leader = group.WaitForLeader(2);
  ASSERT_TRUE(leader.has_value()) << group.member(0).log();
  {
    std::unique_ptr<Client> client = group.ConnectToGroup({0, 1}, /*with_etcd=*/true);
    ASSERT_NE(client, nullptr);
    ASSERT_OK(Book(*client, 100'000, 20, acknowledged, /*with_setup=*/false, 200));
  }

  // The new member installs, catches up and is counted.
  ASSERT_TRUE(group.Start(2)) << group.member(2).log();
  ASSERT_TRUE(group.WaitForLeader(3).has_value()) << group.Logs();
  EXPECT_NE(group.member(2).log().find("installing the snapshot at op"), std::string::npos)
      << group.member(2).log();
  EXPECT_NE(group.member(2).log().find("snapshot installed"), std::string::npos);

  // The leader dies: the group goes on with two in sync, the new member one of them (either
  // may lead).
  std::unique_ptr<Client> client = group.ConnectToGroup({0, 1, 2}, /*with_etcd=*/true);
  ASSERT_NE(client, nullptr);
  ASSERT_OK(Book(*client, 200'000, 10, acknowledged, /*with_setup=*/false, 200));
  group.member(*leader).Kill();
  ASSERT_TRUE(group.WaitForLeader(2, *leader).has_value()) << group.Logs();
  const absl::Status booked = Book(*client, 300'000, 10, acknowledged, false, 200);
  ASSERT_TRUE(booked.ok()) << booked << "\n" << group.Logs();
  client.reset();
  ASSERT_TRUE(group.Start(*leader)) << group.member(*leader).log();
  ASSERT_TRUE(group.WaitForLeader(3).has_value()) << group.member(*leader).log();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the last holds expire

  for (size_t i = 0; i < group.size(); ++i) EXPECT_EQ(group.member(i).Stop(), 0) << i;
  std::vector<testing::Opened> members;
  for (size_t i = 0; i < group.size(); ++i) {
    members.push_back(testing::OpenMember(group.member(i).data_dir(), kHotTransfers));
    ASSERT_NE(members[i].replica, nullptr) << i;
    ExpectAll(members[i].replica->engine(), acknowledged, "member " + std::to_string(i));
    EXPECT_EQ(members[i].last_op, members[0].last_op) << i;
    EXPECT_EQ(members[i].chain_hash, members[0].chain_hash) << i;
    EXPECT_EQ(members[i].state_hash, members[0].state_hash) << i;
  }
  // The installed member's directory checks out whole: its log starts after the snapshot.
  members.clear();
  const std::string verify_log = group.member(2).data_dir() + "-verify.log";
  EXPECT_EQ(net::testing::WaitExit(net::testing::Spawn(
                {LEDGER_WAL_BINARY, "verify", group.member(2).data_dir()}, verify_log)),
            0)
      << net::testing::ReadWholeFile(verify_log);
}

}  // namespace
}  // namespace ledger::cluster
