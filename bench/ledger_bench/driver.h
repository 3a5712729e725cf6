// The load itself: set-up (a ledger and its accounts), the timed run over several connections,
// and what follows it (expiry, timed history lookups, validation against the generator).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/ledger_bench/options.h"
#include "bench/ledger_bench/report.h"
#include "bench/ledger_bench/workload.h"
#include "net/client.h"

namespace ledger::bench {

class Load {
 public:
  // Connects (one client per connection), creates this run's ledger and accounts.
  static absl::StatusOr<std::unique_ptr<Load>> Prepare(const BenchOptions& options,
                                                       const std::string& address,
                                                       const std::string& token, uint64_t nonce);
  ~Load();

  // The timed part: fills the report's throughput and batch latency.
  absl::Status Run(Report& report);
  // After it: lets the expiring reservations expire, times the history lookups and validates.
  absl::Status Finish(Report& report);

 private:
  struct BatchSample {
    uint64_t sent_ns;  // since the load started; the due time in open loop
    uint64_t acknowledged_ns;
    uint32_t events;
    bool late;
  };
  // One thread sending one batch at a time over its connection.
  struct Worker {
    net::Client* client = nullptr;  // borrowed from clients_
    std::unique_ptr<Stream> stream;
    std::vector<Transfer> events;
    std::vector<net::TransferResult> results;
    std::vector<BatchSample> samples;
    Validation validation;
    absl::Status status;
    std::thread thread;
  };

  explicit Load(const BenchOptions& options);
  absl::Status CreateLedgerAndAccounts();
  void Work(Worker& worker);
  absl::Status Expire(Validation& validation);
  void TimeQueries(Report& report);
  // --cold-queries: on its own connection while the workers run. Each answer is checked (the
  // transfer asked for; a page that starts with it), into `validation`.
  struct OldQueryTimes {
    std::vector<uint64_t> lookups_ns;
    std::vector<uint64_t> pages_ns;
    std::vector<uint64_t> round_trips_ns;  // of an info call beside each lookup
  };
  void TimeOldQueries(OldQueryTimes& times, Validation& validation);
  void Validate(Validation& validation);
  void FillLatencies(const std::vector<BatchSample>& samples, Report& report) const;
  void FillThroughput(const std::vector<BatchSample>& samples, Report& report) const;

  const BenchOptions& options_;
  uint32_t ledger_ = 1;
  std::vector<std::unique_ptr<net::Client>> clients_;
  std::unique_ptr<AccountSpace> space_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<uint64_t> next_id_{0};
  std::atomic<uint64_t> claimed_{0};  // transfers handed to workers
  std::atomic<uint64_t> acknowledged_{0};
  std::atomic<bool> failed_{false};
  std::atomic<uint32_t> workers_running_{0};
  uint64_t start_ns_ = 0;
};

}  // namespace ledger::bench
