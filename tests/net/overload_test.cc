// Overload: clients that never read their replies, offering ten times what the server can book.
//
// A real ledgerd. Its capacity C (transfers/s) is measured first with well-behaved clients
// (net::Client, closed loop, batches of 8,190 new transfers). Then K raw-RPC clients, each its
// own socket and thread, log in and send createTransfersPacked calls of 8,190 new transfers,
// paced to offer together ratio x C transfers/s, never reading a reply and never sending Finish
// (so the server would keep every answer for as long as the connection lives, but for its
// limits on the replies it holds). A connection the server closes, or stops reading for
// kStallTimeout, is opened again. Throughout, the server's
// resident set is sampled every 100 ms and a well-behaved client times lookups.
//
// Afterwards the server must (a) have stayed within a memory bound, (b) still serve (the baseline
// accounts unchanged, the flood's accounts changed by exactly what it booked, the trial balance
// balanced, a new transfer booked), (c) have logged no crash and (d) shut down cleanly. One line
// sums the figures (docs/benchmarks.md, "Overload: clients that never read"). Only memory is
// held to a limit, never time.
//
//   LEDGER_OVERLOAD_SECONDS=<s>  the flood's length (default 4; the documented figure: 60)
//   LEDGER_OVERLOAD_CLIENTS=<k>  flooding clients (default 32)
//   LEDGER_OVERLOAD_RATIO=<r>    offered load / capacity (default 10)
//   LEDGER_OVERLOAD_READ=1       the flooding clients read their replies (and drop them), still
//                                never sending Finish
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "capnp/any.h"
#include "net/client.h"
#include "net/ledger.capnp.h"
#include "net/server.h"
#include "tests/net/hostile_util.h"
#include "tests/net/raw_rpc.h"
#include "tests/net/server_process.h"

namespace ledger::net {
namespace {

using testing::Append;
using testing::Baseline;
using testing::BootstrapFrame;
using testing::EnvironmentNumber;
using testing::ExpectCleanShutdown;
using testing::ExpectStillServing;
using testing::HttpGet;
using testing::kLoginQuestion;
using testing::kStallTimeout;
using testing::LedgerCallFrame;
using testing::LoginFrame;
using testing::MakeAccount;
using testing::MakeTransfer;
using testing::RawSocket;
using testing::RssBytes;
using testing::ServerProcess;
using testing::SetUpBaseline;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr uint16_t kCreateTransfersPackedMethod = 12;  // net/ledger.capnp
constexpr uint32_t kBatchEvents = 8190;
constexpr size_t kBatchBytes = size_t{kBatchEvents} * sizeof(Transfer);
// The well-behaved clients book between accounts 101..108, the flood between 201..216 (amount 1
// each, so an account set's debits are the transfers it booked); the baseline's 1..4 are left
// alone by both.
constexpr uint64_t kCapacityAccountFirst = 101;
constexpr uint64_t kCapacityAccounts = 8;
constexpr uint64_t kFloodAccountFirst = 201;
constexpr uint64_t kFloodAccounts = 16;
// Transfer ids: hi 1 + client for a flooding client, 1000 + thread for the capacity phase (the
// baseline's have hi 0).
constexpr uint64_t kCapacityIdHi = 1000;
constexpr int kCapacityThreads = 3;
constexpr auto kCapacityTime = milliseconds(2000);
// Transfers the server keeps in memory (--hot-transfers), their tables committed at start
// (--transfers-capacity); older ones move to the cold store on disk, as on a production server
// (whose window is a quarter of its memory). The server books ~C transfers a second, more than
// a test machine could hold for a minute (~190 bytes each): with the window the ledger's own
// memory stays flat, and what the resident set does is what the flood makes it do. The cold
// store's filter and fences still grow, ~2 bytes per transfer moved out (read from /metrics).
constexpr uint64_t kHotTransfers = uint64_t{1} << 20;
// What a flood may make the server hold, by its limits (docs/rpc-api.md, "Limits"):
// - requests read and not yet answered: at most --max-inflight-bytes (512 MiB) in all (each
//   connection reads 2 x 8 MiB ahead at most: 32 connections fill it);
// - replies held for the clients, queued unsent or sent and never finished (Cap'n Proto keeps
//   each answer until the client's Finish): at most --max-reply-bytes-total (256 MiB) in all,
//   past which a connection holding 1 MiB or more is closed, and per connection what it holds
//   under that 1 MiB plus what its calls in flight may add before the server looks again (64
//   replies of 8,190 transfers, 16 bytes each): kReplyBytesPerConnection;
// - the cold store's growth (above);
// - the rest (allocator caches and fragmentation, buffers): kRssGrowthBytesMax, as for every
//   hostile client (300 MB; 1,200 MB under the sanitizers).
// Requests past the limits are refused (`overloaded`) and freed: memory that grew with the bytes
// the flood sent (tens of gigabytes in a minute), or with the transfers booked for it, would
// break the bound in time.
constexpr uint64_t kReplyBytesPerConnection = (uint64_t{1} << 20) + 64 * 8190 * 16;

double Seconds(Clock::duration duration) { return std::chrono::duration<double>(duration).count(); }
double Mb(uint64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

std::vector<AccountId> AccountIds(uint64_t first, uint64_t count) {
  std::vector<AccountId> ids;
  for (uint64_t i = 0; i < count; ++i) ids.push_back(AccountId::From(first + i));
  return ids;
}

// Transfers an account set booked: the sum of its debits (each transfer moves 1) and of its
// credits, which must agree.
struct Booked {
  uint64_t debits = 0;
  uint64_t credits = 0;
};

Booked BookedBetween(Client& client, uint64_t first, uint64_t count) {
  Booked booked;
  auto accounts = client.LookupAccounts(AccountIds(first, count));
  EXPECT_TRUE(accounts.ok()) << accounts.status();
  if (!accounts.ok()) return booked;
  EXPECT_EQ(accounts->size(), count);
  for (const Account& account : *accounts) {
    booked.debits += account.debits_posted.lo;
    booked.credits += account.credits_posted.lo;
  }
  return booked;
}

// A gauge or counter of the server's /metrics (without labels), or 0.
uint64_t Metric(const ServerProcess& server, const std::string& name) {
  const std::string text = HttpGet(server.metrics_address(), "/metrics");
  const size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return 0;
  return std::strtoull(text.c_str() + at + name.size() + 2, nullptr, 10);
}

uint64_t ColdIndexBytes(const ServerProcess& server) {
  return Metric(server, "ledger_cold_filter_bytes") + Metric(server, "ledger_cold_fence_bytes");
}

// ---------------------------------------------------------------------------------------------
// Capacity: well-behaved clients, closed loop

struct Capacity {
  uint64_t booked = 0;
  double seconds = 0;
  double per_second = 0;
};

Capacity MeasureCapacity(const ServerProcess& server) {
  std::atomic<uint64_t> booked{0};
  const auto start = Clock::now();
  const auto end = start + kCapacityTime;
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kCapacityThreads; ++thread) {
    threads.emplace_back([&, thread] {
      auto client = testing::Connect(server);
      if (client == nullptr) return;
      std::vector<Transfer> batch;
      for (uint64_t i = 0; i < kBatchEvents; ++i) {
        batch.push_back(MakeTransfer(0, kCapacityAccountFirst + i % kCapacityAccounts,
                                     kCapacityAccountFirst + (i + 1) % kCapacityAccounts, 1));
        batch.back().id.hi = kCapacityIdHi + static_cast<uint64_t>(thread);
      }
      std::vector<TransferResult> results(kBatchEvents);
      for (uint64_t next_id = 1; Clock::now() < end;) {
        for (Transfer& transfer : batch) transfer.id.lo = next_id++;
        const absl::Status status = client->CreateTransfers(batch, results);
        ASSERT_TRUE(status.ok()) << status;
        for (const TransferResult& result : results) {
          ASSERT_EQ(result.status, CreateTransferResult::kOk);
        }
        booked += kBatchEvents;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  Capacity capacity;
  capacity.booked = booked.load();
  capacity.seconds = Seconds(Clock::now() - start);
  capacity.per_second = static_cast<double>(capacity.booked) / capacity.seconds;
  return capacity;
}

// ---------------------------------------------------------------------------------------------
// The flood: raw RPC clients that never read

// One flooding client's createTransfersPacked call, built once; each call patches in its
// question id and fresh transfer ids (the sender's CPU is the server's: two cores in all).
class FloodCall {
 public:
  explicit FloodCall(uint64_t id_hi) { Prepare(id_hi); }

  bool ready() const { return ready_; }

  std::span<const std::byte> Next(uint32_t question) {
    std::memcpy(frame_.data() + question_at_, &question, sizeof(question));
    for (uint64_t i = 0; i < kBatchEvents; ++i) {
      const uint64_t id = next_id_++;
      std::memcpy(frame_.data() + records_at_ + i * sizeof(Transfer) + offsetof(Transfer, id), &id,
                  sizeof(id));
    }
    return frame_;
  }

 private:
  void Prepare(uint64_t id_hi) {
    std::vector<Transfer> transfers;
    for (uint64_t i = 0; i < kBatchEvents; ++i) {
      transfers.push_back(MakeTransfer(i + 1, kFloodAccountFirst + i % kFloodAccounts,
                                       kFloodAccountFirst + (i + 3) % kFloodAccounts, 1));
      transfers.back().id.hi = id_hi;
    }
    frame_ = Build(0x5a5a5a5a, transfers);
    // Where the question id is: the only bytes in which two calls differ.
    const std::vector<std::byte> other = Build(0xa5a5a5a5, transfers);
    ASSERT_EQ(other.size(), frame_.size());
    const auto differ = std::mismatch(frame_.begin(), frame_.end(), other.begin());
    ASSERT_NE(differ.first, frame_.end());
    question_at_ = static_cast<size_t>(differ.first - frame_.begin());
    ASSERT_TRUE(std::equal(frame_.begin() + static_cast<ptrdiff_t>(question_at_ + 4), frame_.end(),
                           other.begin() + static_cast<ptrdiff_t>(question_at_ + 4)));
    // The records end the message (the Data is its last allocation, in a segment of its own).
    ASSERT_GE(frame_.size(), kBatchBytes);
    records_at_ = frame_.size() - kBatchBytes;
    ASSERT_EQ(std::memcmp(frame_.data() + records_at_, transfers.data(), kBatchBytes), 0);
    ready_ = true;
  }

  static std::vector<std::byte> Build(uint32_t question, std::span<const Transfer> transfers) {
    return LedgerCallFrame(
        question, kCreateTransfersPackedMethod, [&](capnp::AnyPointer::Builder params) {
          auto records =
              params.initAs<rpc::Ledger::CreateTransfersPackedParams>().initRecords(kBatchBytes);
          std::memcpy(records.begin(), transfers.data(), kBatchBytes);
        });
  }

  std::vector<std::byte> frame_;
  size_t question_at_ = 0;
  size_t records_at_ = 0;
  uint64_t next_id_ = 1;
  bool ready_ = false;
};

struct FloodTally {
  std::atomic<uint64_t> bytes_sent{0};        // taken by the connections' sockets
  std::atomic<uint64_t> bytes_received{0};    // replies read (LEDGER_OVERLOAD_READ=1)
  std::atomic<uint64_t> calls_sent{0};        // sent whole
  std::atomic<uint64_t> connections{0};       // opened (each logs in)
  std::atomic<uint64_t> closed_by_server{0};  // then reopened
  std::atomic<uint64_t> stalled{0};           // not read for kStallTimeout: reopened
  std::atomic<uint64_t> connect_failures{0};
};

enum class Progress { kSent, kClosed, kStalled, kStopped };

// One connection of a flooding client. It never sends Finish, so the server keeps every answer
// until the connection goes or it closes it; it reads nothing, or (`read`) reads and drops what
// comes.
class FloodConnection {
 public:
  FloodConnection(int fd, bool read, const std::atomic<bool>& stop, FloodTally& tally)
      : fd_(fd), read_(read), stop_(stop), tally_(tally) {}

  // Writes `bytes` until all went, the server closes the connection, takes nothing for
  // kStallTimeout, or `stop` is set (then the rest of the message is never sent).
  Progress Send(std::span<const std::byte> bytes) {
    size_t sent = 0;
    auto progressed = Clock::now();
    while (sent < bytes.size()) {
      if (stop_.load(std::memory_order_relaxed)) return Progress::kStopped;
      pollfd poll_fd{fd_, static_cast<short>(POLLOUT | (read_ ? POLLIN : 0)), 0};
      const int ready = poll(&poll_fd, 1, 100);
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) {
        if (Clock::now() - progressed > kStallTimeout) return Progress::kStalled;
        continue;
      }
      if ((poll_fd.revents & (POLLERR | POLLHUP)) != 0 || !Drain(poll_fd.revents)) {
        return Progress::kClosed;
      }
      if ((poll_fd.revents & POLLOUT) == 0) continue;
      const ssize_t count =
          send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (count < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (count < 0) return Progress::kClosed;
      sent += static_cast<size_t>(count);
      tally_.bytes_sent.fetch_add(static_cast<uint64_t>(count), std::memory_order_relaxed);
      progressed = Clock::now();
    }
    return Progress::kSent;
  }

  // Waits until `due` (reading meanwhile, when it reads). False when the server closed the
  // connection.
  bool WaitUntil(Clock::time_point due) {
    while (Clock::now() < due && !stop_.load(std::memory_order_relaxed)) {
      const auto left = std::chrono::duration_cast<milliseconds>(due - Clock::now()).count();
      if (!read_) {
        std::this_thread::sleep_for(milliseconds(std::clamp<int64_t>(left, 0, 50)));
        continue;
      }
      pollfd poll_fd{fd_, POLLIN, 0};
      const int ready = poll(&poll_fd, 1, static_cast<int>(std::clamp<int64_t>(left, 0, 50)));
      if (ready > 0 && !Drain(poll_fd.revents)) return false;
    }
    return true;
  }

 private:
  // Reads what is there, when it reads. False at the end of the stream.
  bool Drain(short revents) {
    if (!read_ || (revents & POLLIN) == 0) return true;
    char buffer[65536];
    while (true) {
      const ssize_t count = recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
      if (count > 0) {
        tally_.bytes_received.fetch_add(static_cast<uint64_t>(count), std::memory_order_relaxed);
        continue;
      }
      return count < 0 && (errno == EAGAIN || errno == EINTR);
    }
  }

  int fd_;
  bool read_;
  const std::atomic<bool>& stop_;
  FloodTally& tally_;
};

// One flooding client: logs in, then sends a call every 1 / calls_per_second (at once when it
// is behind); when the connection ends, opens another. Until `stop`.
void Flood(const ServerProcess& server, FloodCall& call, double calls_per_second, bool read,
           const std::atomic<bool>& stop, FloodTally& tally) {
  std::vector<std::byte> opening = BootstrapFrame();
  Append(opening, LoginFrame(kLoginQuestion, server.token()));
  const auto interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(1.0 / calls_per_second));
  auto due = Clock::now();
  while (!stop.load()) {
    // A small receive buffer: unread replies back up into the server sooner.
    RawSocket socket(server.address(), /*receive_buffer_bytes=*/read ? 0 : 4096);
    if (!socket.connected()) {
      ++tally.connect_failures;
      std::this_thread::sleep_for(milliseconds(10));
      continue;
    }
    ++tally.connections;
    FloodConnection connection(socket.fd(), read, stop, tally);
    Progress progress = connection.Send(opening);
    for (uint32_t question = kLoginQuestion + 1; progress == Progress::kSent; ++question) {
      // A second behind at most: a client held up by the server does not save up its calls.
      due = std::max(due + interval, Clock::now() - std::chrono::seconds(1));
      if (!connection.WaitUntil(due)) progress = Progress::kClosed;
      if (progress != Progress::kSent || stop.load()) break;
      progress = connection.Send(call.Next(question));
      if (progress == Progress::kSent) ++tally.calls_sent;
    }
    if (progress == Progress::kClosed) ++tally.closed_by_server;
    if (progress == Progress::kStalled) ++tally.stalled;
  }
}

// ---------------------------------------------------------------------------------------------
// Watching the server during the flood

struct RssSample {
  double seconds = 0;  // since the flood started
  uint64_t bytes = 0;
};

// Samples the server's resident set every 100 ms until `stop`.
void SampleRss(pid_t pid, Clock::time_point start, const std::atomic<bool>& stop,
               std::vector<RssSample>* samples) {
  while (!stop.load()) {
    samples->push_back({Seconds(Clock::now() - start), RssBytes(pid)});
    std::this_thread::sleep_for(milliseconds(100));
  }
}

struct Lookups {
  std::vector<double> latencies_ms;  // of the lookups answered
  uint64_t failed = 0;
  std::string first_failure;
};

// A well-behaved client looks the baseline accounts up every 250 ms until `stop`.
void LookUp(Client& client, const std::atomic<bool>& stop, Lookups* lookups) {
  while (!stop.load()) {
    const auto start = Clock::now();
    auto found = client.LookupAccounts(testing::kBaselineIds);
    const double ms = Seconds(Clock::now() - start) * 1000;
    if (found.ok() && found->size() == testing::kBaselineIds.size()) {
      lookups->latencies_ms.push_back(ms);
    } else {
      if (lookups->failed++ == 0) {
        lookups->first_failure = found.ok() ? "accounts missing" : found.status().ToString();
      }
    }
    std::this_thread::sleep_for(milliseconds(250));
  }
}

double Percentile(std::vector<double> values, double share) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1,
                         static_cast<size_t>(share * static_cast<double>(values.size())))];
}

// ---------------------------------------------------------------------------------------------

// CPU time `pid` has used (user and system), in seconds.
double CpuSeconds(pid_t pid) {
  const std::string stat = testing::ReadWholeFile(absl::StrCat("/proc/", pid, "/stat"));
  const size_t name_end = stat.rfind(')');  // the command may hold spaces
  if (name_end == std::string::npos) return 0;
  // After ") ": state (field 3), then fields 4..13; utime and stime are fields 14 and 15.
  const char* field = stat.c_str() + name_end + 2;
  for (int skip = 0; skip < 11; ++skip) {
    field = std::strchr(field, ' ');
    if (field == nullptr) return 0;
    ++field;
  }
  char* end = nullptr;
  const double user = std::strtod(field, &end);
  const double system = std::strtod(end, nullptr);
  return (user + system) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

TEST(Overload, ClientsThatNeverReadOfferingTenTimesCapacityLeaveMemoryBounded) {
  const uint64_t flood_seconds = EnvironmentNumber("LEDGER_OVERLOAD_SECONDS", 4);
  const uint64_t flooders = EnvironmentNumber("LEDGER_OVERLOAD_CLIENTS", 32);
  const uint64_t ratio = EnvironmentNumber("LEDGER_OVERLOAD_RATIO", 10);
  const bool read = EnvironmentNumber("LEDGER_OVERLOAD_READ", 0) != 0;
  ASSERT_GT(flood_seconds, 0u);
  ASSERT_GT(flooders, 0u);
  ASSERT_GT(ratio, 0u);

  ServerProcess server;
  ASSERT_TRUE(server.Start({"--accounts-capacity", "1024", "--transfers-capacity",
                            std::to_string(kHotTransfers), "--hot-transfers",
                            std::to_string(kHotTransfers), "--feed-retention", "4096",
                            "--snapshot-interval-ops", "0", "--metrics", "127.0.0.1:0"}))
      << server.log();
  Baseline baseline;
  ASSERT_NO_FATAL_FAILURE(SetUpBaseline(server, &baseline));
  auto client = testing::Connect(server);
  ASSERT_NE(client, nullptr);
  {
    std::vector<Account> accounts;
    for (const AccountId& id : AccountIds(kCapacityAccountFirst, kCapacityAccounts)) {
      accounts.push_back(MakeAccount(id.lo));
    }
    for (const AccountId& id : AccountIds(kFloodAccountFirst, kFloodAccounts)) {
      accounts.push_back(MakeAccount(id.lo));
    }
    std::vector<AccountResult> results(accounts.size());
    ASSERT_TRUE(client->CreateAccounts(accounts, results).ok());
    for (const AccountResult& result : results) ASSERT_EQ(result.status, CreateAccountResult::kOk);
  }

  // The capacity C.
  const Capacity capacity = MeasureCapacity(server);
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_GT(capacity.booked, 0u);
  const Booked capacity_booked = BookedBetween(*client, kCapacityAccountFirst, kCapacityAccounts);
  ASSERT_EQ(capacity_booked.debits, capacity.booked);
  ASSERT_EQ(capacity_booked.credits, capacity.booked);

  // The flood, watched.
  const double offered_per_second = static_cast<double>(ratio) * capacity.per_second;
  const double calls_per_second =
      offered_per_second / static_cast<double>(flooders) / static_cast<double>(kBatchEvents);
  auto looker_client = testing::Connect(server);
  ASSERT_NE(looker_client, nullptr);
  std::vector<std::unique_ptr<FloodCall>> calls;
  for (uint64_t i = 0; i < flooders; ++i) {
    calls.push_back(std::make_unique<FloodCall>(1 + i));
    ASSERT_TRUE(calls.back()->ready());
  }
  const uint64_t rss_before = RssBytes(server.pid());
  const uint64_t cold_index_before = ColdIndexBytes(server);
  const uint64_t transfers_before = Metric(server, "ledger_transfers");
  const double server_cpu_before = CpuSeconds(server.pid());
  const double own_cpu_before = CpuSeconds(getpid());
  FloodTally tally;
  std::atomic<bool> stop_flood{false};
  std::atomic<bool> stop_sampling{false};
  std::vector<RssSample> rss_samples;
  Lookups lookups;
  const auto flood_start = Clock::now();
  std::thread sampler(SampleRss, server.pid(), flood_start, std::cref(stop_sampling), &rss_samples);
  std::thread looker(LookUp, std::ref(*looker_client), std::cref(stop_flood), &lookups);
  std::vector<std::thread> threads;
  for (uint64_t i = 0; i < flooders; ++i) {
    threads.emplace_back(Flood, std::cref(server), std::ref(*calls[i]), calls_per_second, read,
                         std::cref(stop_flood), std::ref(tally));
  }
  std::this_thread::sleep_for(std::chrono::seconds(flood_seconds));
  const uint64_t rss_flood_end = RssBytes(server.pid());
  const auto scrape_start = Clock::now();
  const uint64_t booked_in_flood = Metric(server, "ledger_transfers") - transfers_before;
  const uint64_t held_reply_bytes = Metric(server, "ledger_held_reply_bytes");
  const uint64_t closed_unread =
      Metric(server, "ledger_connections_closed_total{reason=\"unread_replies\"}");
  const uint64_t closed_unfinished =
      Metric(server, "ledger_connections_closed_total{reason=\"unfinished_replies\"}");
  const double scrape_ms = Seconds(Clock::now() - scrape_start) * 1000;
  stop_flood.store(true);
  for (std::thread& thread : threads) thread.join();  // their connections close
  const double flood_time = Seconds(Clock::now() - flood_start);
  const double server_cpu = CpuSeconds(server.pid()) - server_cpu_before;
  const double own_cpu = CpuSeconds(getpid()) - own_cpu_before;
  looker.join();

  // The calls the server had taken go on; wait until its booking stops.
  const auto drain_start = Clock::now();
  Booked flood_booked = BookedBetween(*client, kFloodAccountFirst, kFloodAccounts);
  for (const auto deadline = Clock::now() + std::chrono::seconds(120); Clock::now() < deadline;) {
    std::this_thread::sleep_for(milliseconds(500));
    const Booked now = BookedBetween(*client, kFloodAccountFirst, kFloodAccounts);
    if (now.debits == flood_booked.debits) break;
    flood_booked = now;
  }
  const double drain_time = Seconds(Clock::now() - drain_start);
  EXPECT_EQ(Metric(server, "ledger_transfers") - transfers_before, flood_booked.debits);
  stop_sampling.store(true);
  sampler.join();
  const uint64_t rss_after = RssBytes(server.pid());
  const uint64_t cold_index_after = ColdIndexBytes(server);
  const uint64_t cold_index_growth =
      cold_index_after - std::min(cold_index_after, cold_index_before);

  uint64_t rss_max = 0;
  for (const RssSample& sample : rss_samples) rss_max = std::max(rss_max, sample.bytes);
  // The largest sample of each tenth of the flood: flat, or still growing?
  std::string by_tenth;
  for (int tenth = 0; tenth < 10; ++tenth) {
    uint64_t max = 0;
    for (const RssSample& sample : rss_samples) {
      if (sample.seconds >= flood_time * tenth / 10 &&
          sample.seconds < flood_time * (tenth + 1) / 10) {
        max = std::max(max, sample.bytes);
      }
    }
    absl::StrAppend(&by_tenth, tenth == 0 ? "" : " ", static_cast<uint64_t>(Mb(max)));
  }

  const uint64_t calls_sent = tally.calls_sent.load();
  const uint64_t transfers_sent = calls_sent * kBatchEvents;
  const uint64_t connections = tally.connections.load();
  std::printf(
      "overload: capacity C %.0f transfers/s (%d clients, closed loop, %.1f s); %llu clients %s "
      "offered %.0f/s (%.1f x C) for %.1f s; the server took %.0f MB from them (%llu whole "
      "calls, %llu transfers, %.2f x C), booked %llu during the flood (%.0f/s, %.2f x C) and "
      "%llu in all, the last %.1f s after it; the clients read %.0f MB; connections closed by "
      "the server %llu (for replies unread %llu, unfinished %llu; replies held at the flood's "
      "end %.0f MB), stalled %llu, reconnects %llu; server RSS before the flood %.0f MB, max "
      "%.0f MB (+%.0f), at its end %.0f MB, after %.0f MB, by tenth of the flood %s MB (cold "
      "store index +%.1f MB); well-behaved lookups %zu answered, %llu failed, p50 %.1f ms, max "
      "%.1f ms; /metrics answered in %.0f ms at the flood's end; CPU during the flood: server "
      "%.2f cores, clients %.2f cores\n",
      capacity.per_second, kCapacityThreads, capacity.seconds,
      static_cast<unsigned long long>(flooders),
      read ? "reading replies but never finishing a call" : "never reading", offered_per_second,
      offered_per_second / capacity.per_second, flood_time, Mb(tally.bytes_sent.load()),
      static_cast<unsigned long long>(calls_sent), static_cast<unsigned long long>(transfers_sent),
      static_cast<double>(transfers_sent) / flood_time / capacity.per_second,
      static_cast<unsigned long long>(booked_in_flood),
      static_cast<double>(booked_in_flood) / flood_time,
      static_cast<double>(booked_in_flood) / flood_time / capacity.per_second,
      static_cast<unsigned long long>(flood_booked.debits), drain_time,
      Mb(tally.bytes_received.load()),
      static_cast<unsigned long long>(tally.closed_by_server.load()),
      static_cast<unsigned long long>(closed_unread),
      static_cast<unsigned long long>(closed_unfinished), Mb(held_reply_bytes),
      static_cast<unsigned long long>(tally.stalled.load()),
      static_cast<unsigned long long>(connections - std::min(connections, flooders)),
      Mb(rss_before), Mb(rss_max), Mb(rss_max - std::min(rss_max, rss_before)), Mb(rss_flood_end),
      Mb(rss_after), by_tenth.c_str(), Mb(cold_index_growth), lookups.latencies_ms.size(),
      static_cast<unsigned long long>(lookups.failed), Percentile(lookups.latencies_ms, 0.5),
      Percentile(lookups.latencies_ms, 1.0), scrape_ms, server_cpu / flood_time,
      own_cpu / flood_time);
  std::fflush(stdout);

  // (a) Memory: within what the limits let the flood hold (see kReplyBytesPerConnection).
  const ServerLimits limits;
  const uint64_t held_max = limits.inflight_bytes_max + limits.reply_bytes_total_max +
                            flooders * kReplyBytesPerConnection + cold_index_growth +
                            testing::kRssGrowthBytesMax;
  EXPECT_LT(rss_max, rss_before + held_max)
      << "the server grew from " << rss_before << " to " << rss_max << " bytes";
  // (b) Served: the flood's accounts moved by what it booked (and it booked only calls it sent
  // whole), the capacity phase's by what it booked, the baseline's not at all.
  EXPECT_EQ(flood_booked.credits, flood_booked.debits);
  EXPECT_LE(flood_booked.debits, transfers_sent);
  EXPECT_EQ(tally.connect_failures.load(), 0u);
  const Booked capacity_after = BookedBetween(*client, kCapacityAccountFirst, kCapacityAccounts);
  EXPECT_EQ(capacity_after.debits, capacity.booked);
  EXPECT_EQ(capacity_after.credits, capacity.booked);
  EXPECT_GT(lookups.latencies_ms.size(), 0u) << "no lookup was answered during the flood";
  EXPECT_EQ(lookups.failed, 0u) << lookups.first_failure;
  baseline.rss_bytes = rss_before;
  ExpectStillServing(server, baseline, 1000, held_max);  // (b) and (c): no crash in the log
  looker_client.reset();
  client.reset();
  ExpectCleanShutdown(server);  // (d)
}

}  // namespace
}  // namespace ledger::net
