// What ledger-bench measured, and the three ways it shows it: text on stdout, JSON for
// machines (--json), and an SVG chart (--chart) drawn without any plotting dependency.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace ledger::bench {

// Percentiles of a set of latencies, nearest-rank, in nanoseconds.
struct LatencySummary {
  uint64_t count = 0;
  uint64_t p1_ns = 0;
  uint64_t p10_ns = 0;
  uint64_t p50_ns = 0;
  uint64_t p90_ns = 0;
  uint64_t p99_ns = 0;
  uint64_t p100_ns = 0;
};
// Sorts `samples_ns` in place. An empty set gives all zeros.
LatencySummary Summarize(std::vector<uint64_t>& samples_ns);

// Transfers acknowledged in one interval of the run (the chart's throughput line).
struct ThroughputPoint {
  uint64_t end_ns = 0;  // since the load started
  uint64_t transfers = 0;
};

// The workload as run (echoed into the report so a JSON file says what it measured).
struct WorkloadEcho {
  uint64_t accounts = 0;
  uint64_t transfers = 0;
  uint32_t batch_events = 0;
  uint32_t connections = 0;
  uint32_t inflight_per_connection = 0;
  uint64_t rate_per_s = 0;   // open loop's offered rate; 0: closed loop
  std::string distribution;  // "uniform", "zipf:1.0", "hot:1%:90%"
  double pending_share = 0;  // of transfers, and of those: posted / voided / left to expire
  double post_share = 0;
  double void_share = 0;
  double expire_share = 0;
  double chain_share = 0;
  double resubmit_share = 0;
  double cross_shard_share = 0;
  std::string id_order;  // "sequential" or "random"
  std::string wire;      // "packed" or "list"
  uint64_t seed = 0;
  uint32_t server_shards = 0;
  std::string server;  // "spawned" or the address
};

struct Validation {
  bool ran = false;
  uint64_t results_checked = 0;
  uint64_t results_unexpected = 0;  // a result other than the one the generator expected
  std::string first_unexpected;     // the first one, described; empty when none
  bool trial_balance_ok = false;
  uint64_t accounts_checked = 0;
  uint64_t accounts_mismatched = 0;
  std::string first_mismatch;
  uint64_t resubmits_exist = 0;  // resubmitted transfers answered `exists`, as expected
  bool ok() const {
    return ran && results_unexpected == 0 && trial_balance_ok && accounts_mismatched == 0;
  }
};

struct Report {
  WorkloadEcho workload;
  uint64_t transfers_acknowledged = 0;
  uint64_t batches = 0;
  uint64_t duration_ns = 0;  // first send to last acknowledgement
  double transfers_per_s = 0;
  double offered_per_s = 0;   // open loop only; 0 otherwise
  uint64_t batches_late = 0;  // open loop: batches sent later than scheduled (client saturated)
  LatencySummary batch_latency;
  uint64_t slowest_batch_sent_ns = 0;  // when the p100 batch was sent, since the load started
  LatencySummary query_latency;        // history lookups (getAccountTransfers), after the load
  // During the load (--cold-queries): lookups of transfers from the run's first half, and a
  // page of their debit account's history up to each.
  LatencySummary cold_lookup_latency;
  LatencySummary cold_page_latency;
  LatencySummary round_trip_latency;  // an info call's, beside each old lookup
  // Server resources, from its metrics endpoint; has_server_stats false when unreachable.
  bool has_server_stats = false;
  uint64_t server_rss_bytes = 0;
  uint64_t server_cpu_ns = 0;  // during the load
  double server_cpu_ns_per_transfer = 0;
  double client_cpu_ns_per_transfer = 0;  // ledger-bench's own CPU during the load
  // Of this machine's CPU time during the load, the share the hypervisor gave to other guests
  // (/proc/stat steal): on a shared VM it explains runs that differ; -1 when unknown.
  double steal_share = -1;
  std::vector<ThroughputPoint> throughput;
  Validation validation;
};

void PrintText(const Report& report, std::FILE* out);
std::string ToJson(const Report& report);
// Two panels: transfers/s over time, and the batch latency percentiles (bars, log scale).
std::string ToSvg(const Report& report);

// A one-line progress bar on a terminal (nothing when `out` is not a terminal).
class ProgressBar {
 public:
  ProgressBar(std::FILE* out, uint64_t total);
  // Redraws at most every 100 ms. `done` of `total`; rate in transfers per second.
  void Update(uint64_t done, uint64_t now_ns);
  void Finish();  // clears the line

 private:
  std::FILE* out_;
  uint64_t total_;
  bool enabled_;
  uint64_t start_ns_ = 0;
  uint64_t last_draw_ns_ = 0;
};

}  // namespace ledger::bench
