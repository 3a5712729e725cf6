#include "bench/ledger_bench/driver.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "base/clock.h"
#include "base/thread.h"
#include "engine/result_names.h"

namespace ledger::bench {
namespace {

constexpr uint64_t kLateNs = 1'000'000;  // open loop: sent this much after its due time
constexpr uint32_t kQueryPageSize = 10;  // a history lookup: an account's newest transfers

uint64_t ProcessCpuNs() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(now.tv_nsec);
}

// The machine's CPU time so far, all of it and the part stolen (/proc/stat, in ticks).
struct CpuTicks {
  uint64_t total = 0;
  uint64_t steal = 0;
  bool known = false;
};
CpuTicks MachineCpuTicks() {
  CpuTicks ticks;
  std::FILE* stat = std::fopen("/proc/stat", "r");
  if (stat == nullptr) return ticks;
  unsigned long long field[8] = {};  // user nice system idle iowait irq softirq steal
  ticks.known =
      std::fscanf(stat, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &field[0], &field[1],
                  &field[2], &field[3], &field[4], &field[5], &field[6], &field[7]) == 8;
  std::fclose(stat);
  for (unsigned long long value : field) ticks.total += value;
  ticks.steal = field[7];
  return ticks;
}

void SleepUntilSteady(uint64_t due_ns) {
  const uint64_t now = base::MonotonicNs();
  if (due_ns > now) std::this_thread::sleep_for(std::chrono::nanoseconds(due_ns - now));
}

}  // namespace

Load::Load(const BenchOptions& options) : options_(options) {}

Load::~Load() {
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) worker->thread.join();
  }
}

absl::StatusOr<std::unique_ptr<Load>> Load::Prepare(const BenchOptions& options,
                                                    const std::string& address,
                                                    const std::string& token, uint64_t nonce) {
  std::unique_ptr<Load> load(new Load(options));
  net::ClientOptions client_options;
  LEDGER_RETURN_IF_ERROR(
      net::SetServer(address, options.etcd_endpoints, options.replica_group, client_options));
  client_options.token = token;
  client_options.packed_transfers = options.packed;
  for (uint32_t i = 0; i < options.connections + (options.cold_queries > 0 ? 1 : 0); ++i) {
    // The last connection times the old queries.
    if (i == options.connections) client_options.io_slice_ns = options.query_slice_us * 1'000ULL;
    auto client = net::Client::Connect(client_options);
    if (!client.ok()) return client.status();
    load->clients_.push_back(std::move(*client));
  }
  const net::ServerInfo& info = load->clients_[0]->server_info();
  if (options.batch_events > info.limits.batch_events_max) {
    return absl::InvalidArgumentError(absl::StrCat("--batch ", options.batch_events,
                                                   " is over the server's limit of ",
                                                   info.limits.batch_events_max));
  }
  const uint32_t shards = options.shards != 0 ? options.shards : info.shard_count;
  // A fresh ledger per run on a running server; ledger 1 on one we started.
  load->ledger_ = options.address.empty() ? 1 : 1 + static_cast<uint32_t>(nonce % 0x7FFF'FFFF);
  load->space_ = std::make_unique<AccountSpace>(options, nonce, load->ledger_, shards);
  if (absl::Status status = load->CreateLedgerAndAccounts(); !status.ok()) return status;

  const uint32_t worker_count = options.connections * options.inflight_per_connection;
  for (uint32_t i = 0; i < worker_count; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->client = load->clients_[i % options.connections].get();
    worker->stream = std::make_unique<Stream>(options, *load->space_, i, load->next_id_);
    worker->events.resize(options.batch_events);
    worker->results.resize(options.batch_events);
    worker->samples.reserve(options.transfers / options.batch_events / worker_count + 16);
    load->workers_.push_back(std::move(worker));
  }
  return load;
}

absl::Status Load::CreateLedgerAndAccounts() {
  net::Client& client = *clients_[0];
  Ledger ledger{};
  ledger.id = ledger_;
  ledger.scale = 2;
  std::copy_n("BENCH", 5, ledger.asset_code);
  net::LedgerResult ledger_result;
  if (absl::Status status = client.CreateLedgers({&ledger, 1}, {&ledger_result, 1}); !status.ok()) {
    return status;
  }
  if (ledger_result.status != CreateLedgerResult::kOk &&
      ledger_result.status != CreateLedgerResult::kExists) {
    return absl::FailedPreconditionError(
        absl::StrCat("creating ledger ", ledger_, ": ", ResultName(ledger_result.status)));
  }
  std::vector<Account> accounts;
  std::vector<net::AccountResult> results;
  const uint64_t count = space_->count();
  for (uint64_t first = 0; first < count; first += options_.batch_events) {
    const uint64_t size = std::min<uint64_t>(options_.batch_events, count - first);
    accounts.assign(size, Account{});
    results.assign(size, net::AccountResult{});
    for (uint64_t i = 0; i < size; ++i) {
      accounts[i].id = space_->IdOf(first + i);
      accounts[i].ledger = ledger_;
      accounts[i].code = 1;
    }
    if (absl::Status status = client.CreateAccounts(accounts, results); !status.ok()) return status;
    for (uint64_t i = 0; i < size; ++i) {
      if (results[i].status != CreateAccountResult::kOk) {
        return absl::FailedPreconditionError(
            absl::StrCat("creating account ", first + i, ": ", ResultName(results[i].status)));
      }
    }
  }
  return absl::OkStatus();
}

void Load::Work(Worker& worker) {
  const uint64_t rate = options_.rate_per_s;
  while (!failed_.load(std::memory_order_relaxed)) {
    const uint64_t offset = claimed_.fetch_add(options_.batch_events, std::memory_order_relaxed);
    if (offset >= options_.transfers) break;
    const size_t size =
        static_cast<size_t>(std::min<uint64_t>(options_.batch_events, options_.transfers - offset));
    std::span<Transfer> batch(worker.events.data(), size);
    std::span<net::TransferResult> results(worker.results.data(), size);
    worker.stream->Fill(batch);
    uint64_t sent_ns = base::MonotonicNs();
    bool late = false;
    if (rate != 0) {  // open loop: due at offset / rate; latency counts from then
      const uint64_t due_ns =
          start_ns_ + static_cast<uint64_t>(u128{offset} * 1'000'000'000 / rate);
      SleepUntilSteady(due_ns);
      sent_ns = base::MonotonicNs();
      late = sent_ns > due_ns + kLateNs;
      sent_ns = due_ns;
    }
    worker.status = worker.client->CreateTransfers(batch, results);
    const uint64_t acknowledged_ns = base::MonotonicNs();
    if (!worker.status.ok()) {
      failed_.store(true);
      return;
    }
    worker.stream->Check(batch, results, worker.validation);
    worker.samples.push_back(BatchSample{sent_ns - start_ns_, acknowledged_ns - start_ns_,
                                         static_cast<uint32_t>(size), late});
    acknowledged_.fetch_add(size, std::memory_order_relaxed);
  }
}

absl::Status Load::Run(Report& report) {
  ProgressBar progress(options_.progress ? stderr : nullptr, options_.transfers);
  const uint64_t cpu_start_ns = ProcessCpuNs();
  const CpuTicks machine_start = MachineCpuTicks();
  start_ns_ = base::MonotonicNs();
  workers_running_.store(static_cast<uint32_t>(workers_.size()));
  for (auto& worker : workers_) {
    worker->thread = std::thread([this, raw = worker.get()] {
      Work(*raw);
      workers_running_.fetch_sub(1);
    });
  }
  OldQueryTimes old_times;
  std::thread old_queries;
  if (options_.cold_queries > 0) {
    old_queries = std::thread([&] { TimeOldQueries(old_times, report.validation); });
  }
  while (workers_running_.load() != 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    progress.Update(acknowledged_.load(), base::MonotonicNs());
  }
  if (old_queries.joinable()) old_queries.join();
  report.cold_lookup_latency = Summarize(old_times.lookups_ns);
  report.cold_page_latency = Summarize(old_times.pages_ns);
  report.round_trip_latency = Summarize(old_times.round_trips_ns);
  std::vector<BatchSample> samples;
  for (auto& worker : workers_) {
    worker->thread.join();
    samples.insert(samples.end(), worker->samples.begin(), worker->samples.end());
  }
  progress.Finish();
  const uint64_t cpu_ns = ProcessCpuNs() - cpu_start_ns;
  const CpuTicks machine_end = MachineCpuTicks();
  for (auto& worker : workers_) {
    if (!worker->status.ok()) return worker->status;
  }

  if (machine_start.known && machine_end.known && machine_end.total > machine_start.total) {
    report.steal_share = static_cast<double>(machine_end.steal - machine_start.steal) /
                         static_cast<double>(machine_end.total - machine_start.total);
  }
  report.transfers_acknowledged = acknowledged_.load();
  report.client_cpu_ns_per_transfer =
      report.transfers_acknowledged == 0
          ? 0
          : static_cast<double>(cpu_ns) / static_cast<double>(report.transfers_acknowledged);
  report.offered_per_s = static_cast<double>(options_.rate_per_s);
  FillLatencies(samples, report);
  FillThroughput(samples, report);
  return absl::OkStatus();
}

void Load::FillLatencies(const std::vector<BatchSample>& samples, Report& report) const {
  std::vector<uint64_t> latencies_ns;
  latencies_ns.reserve(samples.size());
  uint64_t last_ns = 0;
  uint64_t slowest_ns = 0;
  for (const BatchSample& sample : samples) {
    latencies_ns.push_back(sample.acknowledged_ns - sample.sent_ns);
    if (latencies_ns.back() >= slowest_ns) {
      slowest_ns = latencies_ns.back();
      report.slowest_batch_sent_ns = sample.sent_ns;
    }
    last_ns = std::max(last_ns, sample.acknowledged_ns);
    report.batches_late += sample.late ? 1 : 0;
  }
  report.batch_latency = Summarize(latencies_ns);
  report.batches = samples.size();
  report.duration_ns = last_ns;
  report.transfers_per_s = last_ns == 0 ? 0
                                        : static_cast<double>(report.transfers_acknowledged) * 1e9 /
                                              static_cast<double>(last_ns);
}

void Load::FillThroughput(const std::vector<BatchSample>& samples, Report& report) const {
  // About 200 points, in whole milliseconds of at least 10.
  const uint64_t interval_ns =
      std::max<uint64_t>(10'000'000, report.duration_ns / 200 / 1'000'000 * 1'000'000);
  const size_t count = static_cast<size_t>(report.duration_ns / interval_ns + 1);
  report.throughput.assign(count, ThroughputPoint{});
  for (size_t i = 0; i < count; ++i) report.throughput[i].end_ns = (i + 1) * interval_ns;
  for (const BatchSample& sample : samples) {
    report.throughput[sample.acknowledged_ns / interval_ns].transfers += sample.events;
  }
}

absl::Status Load::Finish(Report& report) {
  Validation& validation = report.validation;
  for (auto& worker : workers_) {
    validation.results_checked += worker->validation.results_checked;
    validation.results_unexpected += worker->validation.results_unexpected;
    validation.resubmits_exist += worker->validation.resubmits_exist;
    if (validation.first_unexpected.empty()) {
      validation.first_unexpected = worker->validation.first_unexpected;
    }
  }
  if (absl::Status status = Expire(validation); !status.ok()) return status;
  TimeQueries(report);
  Validate(validation);

  WorkloadEcho& echo = report.workload;
  echo.accounts = options_.accounts;
  echo.transfers = options_.transfers;
  echo.batch_events = options_.batch_events;
  echo.connections = options_.connections;
  echo.inflight_per_connection = options_.inflight_per_connection;
  echo.rate_per_s = options_.rate_per_s;
  echo.distribution = DistributionName(options_);
  echo.pending_share = options_.pending_share;
  echo.post_share = options_.post_share;
  echo.void_share = options_.void_share;
  echo.expire_share = options_.expire_share;
  echo.chain_share = options_.chain_share;
  echo.resubmit_share = options_.resubmit_share;
  echo.cross_shard_share = options_.cross_shard_share;
  echo.id_order = options_.id_order == IdOrder::kRandom ? "random" : "sequential";
  echo.wire = options_.packed ? "packed" : "list";
  echo.seed = options_.seed;
  echo.server_shards = space_->shards();
  return absl::OkStatus();
}

// Reservations left to expire: wait out the last deadline, then send one more batch so the
// ledger's clock passes it (expiry runs at the start of a batch).
absl::Status Load::Expire(Validation& validation) {
  uint64_t deadline_ns = 0;
  for (auto& worker : workers_) {
    deadline_ns = std::max(deadline_ns, worker->stream->expiry_deadline_ns());
  }
  if (deadline_ns == 0) return absl::OkStatus();
  const uint64_t now_ns = base::RealtimeNs();
  if (deadline_ns > now_ns) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(deadline_ns - now_ns + 10'000'000));
  }
  Worker& worker = *workers_[0];
  std::span<Transfer> batch(worker.events.data(), 1);
  std::span<net::TransferResult> results(worker.results.data(), 1);
  worker.stream->Fill(batch);
  if (absl::Status status = worker.client->CreateTransfers(batch, results); !status.ok()) {
    return status;
  }
  worker.stream->Check(batch, results, validation);
  for (auto& each : workers_) each->stream->ExpireAll();
  return absl::OkStatus();
}

// Ids are handed out in order (Stream::NextId), so a number from the first half of those
// acknowledged names a transfer booked long ago; a lookup of one that failed or was never
// booked is timed too. Spread over the load: one lookup and one page every 5 ms at most. An
// info call, which the server's event loop answers at once, times the round trip beside them:
// what any call waits for on this machine under this load, old history or not.
void Load::TimeOldQueries(OldQueryTimes& times, Validation& validation) {
  if (options_.query_slice_us != 0) base::SetThisThreadSliceNs(options_.query_slice_us * 1'000ULL);
  net::Client& client = *clients_.back();
  Random random{Mix(options_.seed ^ 0x01D)};
  const auto unexpected = [&validation](std::string what) {
    ++validation.results_unexpected;
    if (validation.first_unexpected.empty()) validation.first_unexpected = std::move(what);
  };
  while (workers_running_.load() != 0 && times.lookups_ns.size() < options_.cold_queries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const uint64_t acknowledged = acknowledged_.load(std::memory_order_relaxed);
    const uint64_t range = options_.cold_age == 0
                               ? acknowledged / 2
                               : acknowledged - std::min(acknowledged, options_.cold_age);
    if (range == 0) continue;
    const uint64_t number = 1 + random.Below(range);
    const TransferId id{options_.id_order == IdOrder::kRandom ? Mix(number) : number,
                        space_->nonce()};
    uint64_t start_ns = base::MonotonicNs();
    if (!client.GetServerInfo().ok()) return;
    times.round_trips_ns.push_back(base::MonotonicNs() - start_ns);
    start_ns = base::MonotonicNs();
    auto found = client.LookupTransfers(std::vector<TransferId>{id});
    if (!found.ok()) return;
    times.lookups_ns.push_back(base::MonotonicNs() - start_ns);
    ++validation.results_checked;
    if (found->empty()) continue;
    const Transfer transfer = found->front();
    if (found->size() != 1 || transfer.id != id) {
      unexpected(absl::StrCat("old lookup of transfer ", number, ": another transfer answered"));
      continue;
    }
    AccountFilter filter;
    filter.account_id = transfer.debit_account_id;
    filter.timestamp_max_ns = transfer.timestamp_ns;
    filter.flags |= filter_flags::kReversed;
    filter.limit = kQueryPageSize;
    start_ns = base::MonotonicNs();
    auto page = client.GetAccountTransfers(filter);
    if (!page.ok()) return;
    times.pages_ns.push_back(base::MonotonicNs() - start_ns);
    // Its debit account's history up to it, newest first, starts with it.
    ++validation.results_checked;
    if (page->records.empty() ||
        std::memcmp(&page->records.front(), &transfer, sizeof(Transfer)) != 0) {
      unexpected(
          absl::StrCat("old history page up to transfer ", number, " does not start with it"));
    }
  }
}

void Load::TimeQueries(Report& report) {
  Random random{Mix(options_.seed ^ 0xC0FFEE)};
  std::vector<uint64_t> latencies_ns;
  latencies_ns.reserve(options_.queries);
  for (uint32_t i = 0; i < options_.queries; ++i) {
    AccountFilter filter;
    filter.account_id = space_->IdOf(space_->Pick(random));
    filter.flags |= filter_flags::kReversed;
    filter.limit = kQueryPageSize;
    const uint64_t start_ns = base::MonotonicNs();
    auto page = clients_[0]->GetAccountTransfers(filter);
    if (!page.ok()) continue;
    latencies_ns.push_back(base::MonotonicNs() - start_ns);
  }
  report.query_latency = Summarize(latencies_ns);
}

}  // namespace ledger::bench
