// The cluster harness: etcd and three ledgerd, each on a host of its own (network namespaces,
// tests/cluster/netns.h), clients booking through a replica group's failovers while faults
// are injected, and a checker in the manner of Jepsen's analysis of TigerBeetle.
//
// Faults: SIGKILL and SIGSTOP of the leader and of a follower, the leader partitioned from
// every other host, a one-way partition, packet loss, a slow follower (stopped most of the
// time: SIGSTOP/SIGCONT), a follower's lost disk (a new, empty data directory), and a
// follower's damaged segment (repaired from the leader).
//
// The checker, after a final read phase on the healed group:
// - every acknowledged transfer is there, identical, with the booking timestamp it was
//   acknowledged with; every indefinite one (its call failed) is resolved: there or not;
// - a linked chain is there whole or not at all;
// - booking timestamps follow real time: a batch acknowledged before another was sent has
//   earlier timestamps;
// - each account's balances are the sums of the transfers found (none applied twice, none
//   invented), as a reference model replaying them gives;
// - once all stop, every member's log ends at the same op with the same chain and state hash,
//   and holds every acknowledged transfer.
//
// The short run (tools/test.sh) injects each fault once. LEDGER_CLUSTER_ROUNDS=N runs N rounds
// of a leader kill and a leader partition (with every other fault each 25th round) and prints
// the failover times (the leader's death to the first write acknowledged by the next leader);
// LEDGER_CLUSTER_FAULT="pause the leader" (a name below) injects that fault alone;
// LEDGER_CLUSTER_LOSS=0.5 drops half the packets in the packet-loss fault (default 0.2).
// Needs root, ip and iptables; skipped otherwise.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "net/client.h"
#include "tests/cluster/cluster_util.h"
#include "tests/cluster/etcd_process.h"
#include "tests/cluster/netns.h"
#include "tests/net/server_process.h"
#include "tests/wal/wal_test_util.h"

namespace ledger::cluster {
namespace {

using net::Client;
using net::testing::ServerProcess;
using std::chrono::milliseconds;
using testing::Gauge;

constexpr int kMembers = 3;
constexpr int kEtcdHost = kMembers;
constexpr int kClientHost = kMembers + 1;
constexpr int kWriters = 2;
constexpr size_t kBatchEvents = 20;
constexpr uint64_t kAccounts = 8;
constexpr char kClientToken[] = "client-token-of-the-harness-group";
constexpr auto kSettleWait = std::chrono::seconds(90);
constexpr uint64_t kInFlightNs = 10'000'000;

void Sleep(milliseconds duration) { std::this_thread::sleep_for(duration); }

// etcd and the members on their hosts; the test's thread on the client host.
class Cluster {
 public:
  Cluster()
      : network_(kClientHost + 1),
        etcd_(network_.ip(kEtcdHost), network_.Launcher(kEtcdHost)),
        members_(kMembers) {
    if (!network_.ok() || !network_.Enter(kClientHost)) return;
    net::testing::WriteTokenFile(directory_.path() + "/client-token",
                                 std::string(kClientToken) + "\n");
    net::testing::WriteTokenFile(directory_.path() + "/group-token",
                                 "group-token-of-the-harness\n");
    if (!etcd_.Start()) {
      ADD_FAILURE() << "etcd did not start: " << etcd_.log();
      return;
    }
    for (int i = 0; i < kMembers; ++i) {
      members_[i] = std::make_unique<ServerProcess>();
      members_[i]->set_launcher(network_.Launcher(i));
    }
    ok_ = true;
  }

  bool ok() const { return ok_; }
  testing::Network& network() { return network_; }
  ServerProcess& member(int i) { return *members_[i]; }

  bool Start(int i) {
    std::vector<std::string> flags = ServerProcess::DefaultFlags();
    const std::string ip = network_.ip(i);
    const std::vector<std::string> group = {
        "--listen", ip + ":7700", "--metrics", ip + ":9100", "--replication-listen", ip + ":7701",
        "--token-file", directory_.path() + "/client-token", "--group-token-file",
        directory_.path() + "/group-token", "--replica-group", "h", "--etcd", etcd_.endpoint(),
        "--member", absl::StrCat("m", i), "--lag-max-ms", "1500", "--hot-transfers", "0",
        // A small ring: a member catching up after a
        // restart reads most entries from the log.
        "--replication-ring-bytes", "4194304", "--transfers-capacity", "1048576", "--transfers-max",
        "8388608"};
    flags.insert(flags.end(), group.begin(), group.end());
    if (i == 0) flags.push_back("--bootstrap-group");
    const bool started = members_[i]->Start(flags);
    EXPECT_TRUE(started) << "member " << i << ": " << members_[i]->log();
    return started;
  }

  // The leader, once one leads with `in_sync` members in sync.
  std::optional<int> WaitForLeader(int64_t in_sync, std::optional<int> skip = {}) {
    const auto deadline = std::chrono::steady_clock::now() + kSettleWait;
    while (std::chrono::steady_clock::now() < deadline) {
      for (int i = 0; i < kMembers; ++i) {
        if (skip == i || members_[i]->pid() <= 0) continue;
        const std::string page = net::testing::HttpGet(network_.ip(i) + ":9100", "/metrics");
        if (Gauge(page, "ledger_group_leader") == 1 &&
            Gauge(page, "ledger_group_in_sync_members").value_or(0) >= in_sync) {
          return i;
        }
      }
      Sleep(milliseconds(50));
    }
    return std::nullopt;
  }

  net::ClientOptions ClientOptions() const {
    net::ClientOptions options;
    options.token = kClientToken;
    for (int i = 0; i < kMembers; ++i) options.addresses.push_back(network_.ip(i) + ":7700");
    options.etcd_endpoints = {etcd_.endpoint()};
    options.replica_group = "h";
    options.failover_timeout_ns = 10'000'000'000;
    return options;
  }

  std::string Logs() {
    std::string logs;
    for (int i = 0; i < kMembers; ++i) absl::StrAppend(&logs, "--- m", i, "\n", member(i).log());
    return logs;
  }

 private:
  wal::testing::TemporaryDirectory directory_;
  testing::Network network_;
  testing::EtcdProcess etcd_;
  std::vector<std::unique_ptr<ServerProcess>> members_;
  bool ok_ = false;
};

// One batch as a writer sent it, and what became of it.
struct Op {
  std::vector<Transfer> transfers;
  std::vector<net::TransferResult> results;
  uint64_t invoke_ns = 0;
  uint64_t complete_ns = 0;
  bool acknowledged = false;
};

// Writers booking batches until stopped, each on its own client of the group. Single transfers
// and linked pairs between accounts without limits: every event books.
class Writers {
 public:
  // pace: a pause after each batch (the long run's history stays within the members' tables).
  Writers(const net::ClientOptions& options, milliseconds pace) : pace_(pace) {
    for (int w = 0; w < kWriters; ++w) {
      threads_.emplace_back([this, w, options] { Write(w, options); });
    }
  }
  ~Writers() { Stop(); }

  void Stop() {
    stop_ = true;
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  // After Stop.
  std::vector<Op> ops() const {
    std::vector<Op> all;
    for (const auto& ops : ops_) all.insert(all.end(), ops.begin(), ops.end());
    return all;
  }
  uint64_t acknowledged() const { return acknowledged_; }

 private:
  void Write(int writer, net::ClientOptions options) {
    std::mt19937_64 random(writer + 1);
    std::unique_ptr<Client> client;
    uint64_t next_id = 1;
    while (!stop_) {
      if (client == nullptr) {
        auto connected = Client::Connect(options);
        if (!connected.ok()) {
          Sleep(milliseconds(100));
          continue;
        }
        client = std::move(*connected);
      }
      Op op;
      while (op.transfers.size() < kBatchEvents) {
        const bool pair = random() % 4 == 0 && op.transfers.size() + 2 <= kBatchEvents;
        for (int k = 0; k < (pair ? 2 : 1); ++k) {
          Transfer transfer{};
          transfer.id = TransferId::From((uint64_t(writer + 1) << 40) | next_id++);
          const uint64_t debit = 1 + random() % kAccounts;
          transfer.debit_account_id = AccountId::From(debit);
          transfer.credit_account_id =
              AccountId::From(1 + (debit + random() % (kAccounts - 1)) % kAccounts);
          transfer.amount = Amount::From(1 + random() % 1000);
          transfer.ledger = wal::testing::kTestLedger;
          transfer.code = 1;
          if (pair && k == 0) transfer.flags = transfer_flags::kLinked;
          op.transfers.push_back(transfer);
        }
      }
      op.results.resize(op.transfers.size());
      op.invoke_ns = base::MonotonicNs();
      const absl::Status status = client->CreateTransfers(op.transfers, op.results);
      op.complete_ns = base::MonotonicNs();
      op.acknowledged = status.ok();
      if (op.acknowledged) ++acknowledged_;
      ops_[writer].push_back(std::move(op));
      if (!status.ok()) Sleep(milliseconds(50));  // the group was unavailable all along
      if (pace_.count() > 0) Sleep(pace_);
    }
  }

  const milliseconds pace_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> acknowledged_{0};
  std::vector<Op> ops_[kWriters];
  std::vector<std::thread> threads_;
};

// The ledger and its accounts, once some leader takes them.
bool CreateLedgerAndAccounts(const net::ClientOptions& options) {
  auto client = Client::Connect(options);
  if (!client.ok()) return false;
  Ledger ledger = wal::testing::TestLedger();
  net::LedgerResult ledger_result;
  if (!(*client)->CreateLedgers({&ledger, 1}, {&ledger_result, 1}).ok()) return false;
  std::vector<Account> accounts;
  for (uint64_t id = 1; id <= kAccounts; ++id) {
    Account account{};
    account.id = AccountId::From(id);
    account.ledger = wal::testing::kTestLedger;
    account.code = 1;
    accounts.push_back(account);
  }
  std::vector<net::AccountResult> results(accounts.size());
  return (*client)->CreateAccounts(accounts, results).ok();
}

// ---------------------------------------------------------------------------------------------
// Faults. Each starts on a group that leads with three in sync and ends when it has healed.

// A fault that takes the leader away sets `leader_lost_ns` when it is gone (the failover
// time counts from there).
using Fault = std::function<void(Cluster&, int leader, uint64_t& leader_lost_ns)>;

int FollowerOf(int leader) { return (leader + 1) % kMembers; }

void KillLeader(Cluster& cluster, int leader, uint64_t& leader_lost_ns) {
  cluster.member(leader).Kill();
  leader_lost_ns = base::MonotonicNs();
  EXPECT_TRUE(cluster.WaitForLeader(2, leader).has_value()) << cluster.Logs();
  cluster.Start(leader);
}

void KillFollower(Cluster& cluster, int leader, uint64_t& /*leader_lost_ns*/) {
  const int follower = FollowerOf(leader);
  cluster.member(follower).Kill();
  Sleep(milliseconds(2000));
  cluster.Start(follower);
}

void PauseLeader(Cluster& cluster, int leader, uint64_t& leader_lost_ns) {
  cluster.member(leader).Pause();  // its lease runs out: another leads; it steps down after
  leader_lost_ns = base::MonotonicNs();
  Sleep(milliseconds(4000));
  cluster.member(leader).Resume();
}

void PauseFollower(Cluster& cluster, int leader, uint64_t& /*leader_lost_ns*/) {
  cluster.member(FollowerOf(leader)).Pause();
  Sleep(milliseconds(3000));
  cluster.member(FollowerOf(leader)).Resume();
}

void PartitionLeader(Cluster& cluster, int leader, uint64_t& leader_lost_ns) {
  testing::Network& network = cluster.network();
  for (int host = 0; host <= kClientHost; ++host) {
    if (host == leader) continue;
    network.Drop(leader, host);
    network.Drop(host, leader);
  }
  leader_lost_ns = base::MonotonicNs();
  Sleep(milliseconds(5000));
  network.Heal();
}

void OneWayPartition(Cluster& cluster, int leader, uint64_t& /*leader_lost_ns*/) {
  cluster.network().Drop(FollowerOf(leader), leader);  // the leader hears it, it not the leader
  Sleep(milliseconds(4000));
  cluster.network().Heal();
}

void PacketLoss(Cluster& cluster, int leader, uint64_t& /*leader_lost_ns*/) {
  const char* loss = std::getenv("LEDGER_CLUSTER_LOSS");
  const double share = loss != nullptr ? std::atof(loss) : 0.2;
  cluster.network().Lose(FollowerOf(leader), share);
  cluster.network().Lose(leader, share);
  Sleep(milliseconds(4000));
  cluster.network().Heal();
}

void SlowFollower(Cluster& cluster, int leader, uint64_t& /*leader_lost_ns*/) {
  ServerProcess& follower = cluster.member(FollowerOf(leader));
  for (int cycle = 0; cycle < 20; ++cycle) {  // runs a quarter of the time, for 4 s
    follower.Pause();
    Sleep(milliseconds(150));
    follower.Resume();
    Sleep(milliseconds(50));
  }
}

void LoseFollowersDisk(Cluster& cluster, int leader, uint64_t& /*leader_lost_ns*/) {
  const int follower = FollowerOf(leader);
  cluster.member(follower).Kill();
  EXPECT_TRUE(cluster.member(follower).Reinitialize());
  cluster.Start(follower);
}

// Flips a byte in the middle of what `data_dir`'s newest segment holds: a group before the
// log's end no longer matches its checksum (not a torn tail). False when there is too little.
bool DamageNewestSegment(const std::string& data_dir) {
  std::string newest;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("wal-") && name.ends_with(".seg") && name > newest) newest = name;
  }
  if (newest.empty()) return false;
  std::fstream segment(data_dir + "/" + newest, std::ios::in | std::ios::out | std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(segment)), {});
  size_t end = bytes.size();
  while (end > 0 && bytes[end - 1] == 0) --end;  // preallocated: zeros past the log's end
  if (end < (size_t{256} << 10)) return false;
  segment.seekp(static_cast<std::streamoff>(end / 2));
  segment.put(static_cast<char>(bytes[end / 2] ^ 0x5a));
  return segment.good();
}

// A follower's segment is damaged while it is down: it cuts its log before the damage, takes
// the rest from the leader again, and counts in sync once caught up.
void DamageFollowersSegment(Cluster& cluster, int leader, uint64_t& /*leader_lost_ns*/) {
  const int follower = FollowerOf(leader);
  ServerProcess& member = cluster.member(follower);
  member.Kill();
  EXPECT_TRUE(DamageNewestSegment(member.data_dir()));
  cluster.Start(follower);
  const auto deadline = std::chrono::steady_clock::now() + kSettleWait;
  while (member.log().find("after the repair of the log") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    Sleep(milliseconds(50));
  }
  EXPECT_NE(member.log().find("before the damage: the rest comes from the leader again"),
            std::string::npos)
      << member.log();
  EXPECT_NE(member.log().find("after the repair of the log"), std::string::npos) << member.log();
}

// ---------------------------------------------------------------------------------------------
// The checker.

struct Checked {
  uint64_t acknowledged_batches = 0;
  uint64_t indefinite_batches = 0;
  uint64_t indefinite_found = 0;  // transfers of indefinite batches that were booked
  uint64_t transfers_found = 0;
};

// Looks up every transfer the writers sent and checks what the header says.
Checked CheckHistory(Client& reader, const std::vector<Op>& ops) {
  Checked checked;
  std::vector<TransferId> ids;
  for (const Op& op : ops) {
    for (const Transfer& transfer : op.transfers) ids.push_back(transfer.id);
  }
  std::map<TransferId, Transfer> found;
  const size_t chunk = reader.server_info().limits.query_ids_max;
  for (size_t at = 0; at < ids.size(); at += chunk) {
    auto page = reader.LookupTransfers(
        std::span<const TransferId>(ids).subspan(at, std::min(chunk, ids.size() - at)));
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) return checked;
    for (const Transfer& transfer : *page) found[transfer.id] = transfer;
  }
  checked.transfers_found = found.size();

  std::vector<std::pair<uint64_t, uint64_t>> completed;  // (complete_ns, newest timestamp)
  for (const Op& op : ops) {
    op.acknowledged ? ++checked.acknowledged_batches : ++checked.indefinite_batches;
    for (size_t i = 0; i < op.transfers.size(); ++i) {
      const Transfer& sent = op.transfers[i];
      auto it = found.find(sent.id);
      if (op.acknowledged) {
        const net::TransferResult& result = op.results[i];
        EXPECT_TRUE(result.status == CreateTransferResult::kOk ||
                    result.status == CreateTransferResult::kExists)
            << "an acknowledged transfer was refused: " << static_cast<int>(result.status);
        if (it == found.end()) {
          ADD_FAILURE() << "an acknowledged transfer was lost";
          continue;
        }
        EXPECT_EQ(it->second.timestamp_ns, result.timestamp_ns) << "booked twice, or altered";
      } else if (it != found.end()) {
        ++checked.indefinite_found;
      }
      if (it == found.end()) continue;
      EXPECT_EQ(it->second.amount, sent.amount);
      EXPECT_EQ(it->second.debit_account_id, sent.debit_account_id);
      EXPECT_EQ(it->second.credit_account_id, sent.credit_account_id);
      if ((sent.flags & transfer_flags::kLinked) != 0) {
        EXPECT_TRUE(found.count(op.transfers[i + 1].id)) << "half a linked chain was booked";
      }
    }
    if (op.acknowledged) {
      uint64_t newest = 0;
      for (const net::TransferResult& result : op.results) {
        newest = std::max(newest, result.timestamp_ns);
      }
      completed.emplace_back(op.complete_ns, newest);
    }
  }

  // Real time: every batch acknowledged before another was sent booked earlier.
  std::sort(completed.begin(), completed.end());
  std::vector<uint64_t> newest_before(completed.size() + 1, 0);
  for (size_t i = 0; i < completed.size(); ++i) {
    newest_before[i + 1] = std::max(newest_before[i], completed[i].second);
  }
  for (const Op& op : ops) {
    if (!op.acknowledged) continue;
    const size_t before =
        std::lower_bound(completed.begin(), completed.end(), std::make_pair(op.invoke_ns, 0ul)) -
        completed.begin();
    uint64_t oldest = UINT64_MAX;
    for (const net::TransferResult& result : op.results) {
      oldest = std::min(oldest, result.timestamp_ns);
    }
    EXPECT_LT(newest_before[before], oldest) << "a booking timestamp went back in real time";
  }

  // The reference model: each account's balances are the sums of the transfers found.
  std::map<AccountId, std::pair<u128, u128>> sums;  // debits, credits
  for (const auto& [id, transfer] : found) {
    sums[transfer.debit_account_id].first += transfer.amount.Get();
    sums[transfer.credit_account_id].second += transfer.amount.Get();
  }
  std::vector<AccountId> account_ids;
  for (uint64_t id = 1; id <= kAccounts; ++id) account_ids.push_back(AccountId::From(id));
  auto accounts = reader.LookupAccounts(account_ids);
  EXPECT_TRUE(accounts.ok()) << accounts.status();
  if (!accounts.ok()) return checked;
  EXPECT_EQ(accounts->size(), kAccounts);
  for (const Account& account : *accounts) {
    EXPECT_TRUE(account.debits_posted.Get() == sums[account.id].first) << "debits of an account";
    EXPECT_TRUE(account.credits_posted.Get() == sums[account.id].second) << "credits of an account";
  }
  return checked;
}

uint64_t Percentile(std::vector<uint64_t> values, double share) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1,
                         static_cast<size_t>(share * static_cast<double>(values.size())))];
}

// The first acknowledgement after `since_ns`, from the ops of a run.
std::optional<uint64_t> FirstAckAfter(const std::vector<Op>& ops, uint64_t since_ns) {
  std::optional<uint64_t> first;
  for (const Op& op : ops) {
    if (op.acknowledged && op.complete_ns > since_ns && (!first || op.complete_ns < *first)) {
      first = op.complete_ns;
    }
  }
  return first;
}

TEST(ClusterHarness, NothingAcknowledgedIsLostThroughKillsPausesPartitionsLossAndLostDisks) {
  if (!testing::Network::Available()) GTEST_SKIP() << "needs root, ip and iptables";
  Cluster cluster;
  ASSERT_TRUE(cluster.ok()) << "the harness's network or etcd did not come up";
  for (int i = 0; i < kMembers; ++i) ASSERT_TRUE(cluster.Start(i));
  ASSERT_TRUE(cluster.WaitForLeader(kMembers).has_value()) << cluster.Logs();
  ASSERT_TRUE(CreateLedgerAndAccounts(cluster.ClientOptions())) << cluster.Logs();

  struct Scheduled {
    const char* name;
    Fault fault;
  };
  std::vector<Scheduled> schedule = {
      {"kill the leader", KillLeader},
      {"kill a follower", KillFollower},
      {"pause the leader", PauseLeader},
      {"pause a follower", PauseFollower},
      {"partition the leader", PartitionLeader},
      {"one-way partition", OneWayPartition},
      {"packet loss", PacketLoss},
      {"slow follower", SlowFollower},
      {"lose a follower's disk", LoseFollowersDisk},
      {"damage a follower's segment", DamageFollowersSegment},
  };
  milliseconds pace(0);
  if (const char* rounds = std::getenv("LEDGER_CLUSTER_ROUNDS")) {
    pace = milliseconds(20);
    std::vector<Scheduled> long_run;
    for (int round = 0; round < std::atoi(rounds); ++round) {
      long_run.push_back(schedule[0]);
      long_run.push_back(schedule[4]);
      if (round % 25 == 24) long_run.insert(long_run.end(), schedule.begin(), schedule.end());
    }
    schedule = long_run;
  }
  if (const char* only = std::getenv("LEDGER_CLUSTER_FAULT")) {  // e.g. "pause the leader"
    std::erase_if(schedule, [&](const Scheduled& s) { return std::string(s.name) != only; });
  }

  Writers writers(cluster.ClientOptions(), pace);
  std::vector<std::pair<uint64_t, const char*>> failovers;  // (leader lost, fault)
  for (const Scheduled& scheduled : schedule) {
    const std::optional<int> leader = cluster.WaitForLeader(kMembers);
    ASSERT_TRUE(leader.has_value()) << "the group did not heal: " << cluster.Logs();
    Sleep(milliseconds(300));  // some writes before the fault
    const uint64_t acknowledged = writers.acknowledged();
    std::cout << "fault: " << scheduled.name << " (leader m" << *leader << ")" << std::endl;
    uint64_t leader_lost_ns = 0;
    scheduled.fault(cluster, *leader, leader_lost_ns);
    if (leader_lost_ns != 0) failovers.emplace_back(leader_lost_ns, scheduled.name);
    ASSERT_TRUE(cluster.WaitForLeader(kMembers).has_value())
        << "the group did not heal after: " << scheduled.name << "\n"
        << cluster.Logs();
    const auto deadline = std::chrono::steady_clock::now() + kSettleWait;
    while (writers.acknowledged() == acknowledged && std::chrono::steady_clock::now() < deadline) {
      Sleep(milliseconds(20));
    }
    ASSERT_GT(writers.acknowledged(), acknowledged) << "no write after: " << scheduled.name;
  }
  writers.Stop();
  const std::vector<Op> ops = writers.ops();

  // The final read, on the healed group's leader.
  ASSERT_TRUE(cluster.WaitForLeader(kMembers).has_value()) << cluster.Logs();
  auto reader = Client::Connect(cluster.ClientOptions());
  ASSERT_TRUE(reader.ok()) << reader.status();
  const Checked checked = CheckHistory(**reader, ops);
  reader->reset();
  std::cout << "batches acknowledged " << checked.acknowledged_batches << ", indefinite "
            << checked.indefinite_batches << " (their transfers found: " << checked.indefinite_found
            << "), transfers found " << checked.transfers_found << std::endl;

  std::vector<uint64_t> failover_ns;
  for (const auto& [lost_ns, name] : failovers) {
    // A reply already on its way when the leader went lands within microseconds; later ones
    // come from the next leader.
    const std::optional<uint64_t> first = FirstAckAfter(ops, lost_ns + kInFlightNs);
    if (!first) continue;
    failover_ns.push_back(*first - lost_ns);
    if (failovers.size() <= 10) {
      std::cout << name << ": first write acknowledged after " << (*first - lost_ns) / 1'000'000
                << " ms" << std::endl;
    }
  }
  std::cout << "failovers " << failover_ns.size() << ": p50 "
            << Percentile(failover_ns, 0.5) / 1'000'000 << " ms, p99 "
            << Percentile(failover_ns, 0.99) / 1'000'000 << " ms, max "
            << Percentile(failover_ns, 1.0) / 1'000'000 << " ms" << std::endl;

  // Every member's log ends alike, with every acknowledged transfer.
  std::vector<Transfer> acknowledged;
  for (const Op& op : ops) {
    if (op.acknowledged)
      acknowledged.insert(acknowledged.end(), op.transfers.begin(), op.transfers.end());
  }
  for (int i = 0; i < kMembers; ++i) EXPECT_EQ(cluster.member(i).Stop(), 0) << i;
  std::vector<testing::Recovered> members;
  for (int i = 0; i < kMembers; ++i) {
    members.push_back(testing::RecoverMember(cluster.member(i).data_dir()));
  }
  for (int i = 0; i < kMembers; ++i) {
    ASSERT_NE(members[i].engine, nullptr);
    testing::ExpectAll(*members[i].engine, acknowledged, absl::StrCat("member ", i));
    EXPECT_EQ(members[i].last_op, members[0].last_op) << i;
    EXPECT_EQ(members[i].chain_hash, members[0].chain_hash) << i;
    EXPECT_EQ(members[i].state_hash, members[0].state_hash) << i;
  }
  if (HasFailure()) std::cout << cluster.Logs();
}

}  // namespace
}  // namespace ledger::cluster
