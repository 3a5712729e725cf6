// Prometheus metrics: counters, gauges and histograms that any thread updates without a lock,
// and a Registry that renders them in the text exposition format 0.0.4 (served by
// net/metrics_http.h). ServerMetrics, at the bottom, is the ledger server's set; every metric's
// meaning is in docs/metrics.md.
//
// Updates are relaxed atomic adds on cells allocated at registration: no lock, no allocation,
// no floating point. A family's children (one per tuple of label values) are created with the
// family and never move, so a reference to a metric stays valid as long as its Registry. Only
// rendering turns integers into text (nanoseconds into exact decimal seconds).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "base/assert.h"
#include "engine/operation.h"
#include "engine/types.h"

namespace ledger::net {

static_assert(std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<int64_t>::is_always_lock_free,
              "metric updates must never take a lock");

// A monotonic count. Wraps after 2^64 increments, which Prometheus reads as a counter reset.
class Counter {
 public:
  void Increment() { Add(1); }
  void Add(uint64_t delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down (a level, a count of things open, an op number).
class Gauge {
 public:
  void Set(int64_t value) { value_.store(value, std::memory_order_relaxed); }
  void Add(int64_t delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  void Increment() { Add(1); }
  void Decrement() { Add(-1); }
  int64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// A duration that only grows, kept in ns and rendered in seconds (process CPU time).
class DurationCounter {
 public:
  void Set(uint64_t value_ns) { value_ns_.store(value_ns, std::memory_order_relaxed); }
  uint64_t ValueNs() const { return value_ns_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_ns_{0};
};

// What a histogram observes, which decides how its bounds and sum are rendered.
enum class HistogramUnit : uint8_t {
  kNanoseconds,  // observed in ns, rendered in seconds (exact decimal); name ends in _seconds
  kBytes,        // observed and rendered as integers; name ends in _bytes
};

// Counts observations into fixed buckets. A value goes in the first bucket whose upper bound is
// >= the value (a value equal to a bound is in that bucket, as Prometheus's `le` says), or in
// the implicit +Inf bucket above the last bound.
class Histogram {
 public:
  // At most this many bounds: 16 cover 10 µs to 1 s in 1-2.5-5 steps; 64 is generous.
  static constexpr size_t kBoundsMax = 64;

  // bounds: strictly increasing, 1 to kBoundsMax of them, in the unit's integers (ns or bytes).
  Histogram(std::span<const uint64_t> bounds, HistogramUnit unit);

  // Two relaxed atomic adds after a search over the bounds. The sum wraps after 2^64 (584
  // years of nanoseconds), which Prometheus reads as a counter reset.
  void Observe(uint64_t value);

  // Counts per bucket (not cumulative; bounds().size() + 1 of them, the last for +Inf), their
  // total and the sum of the observed values. Each cell is read on its own, so an observation
  // racing with the read may be in `count` and not yet in `sum`, or the reverse; `count` always
  // equals the sum of the bucket counts. Allocates: for rendering and tests, not for updates.
  struct Snapshot {
    std::vector<uint64_t> bucket_counts;
    uint64_t count = 0;
    uint64_t sum = 0;
  };
  Snapshot Read() const;

  std::span<const uint64_t> bounds() const { return bounds_; }
  HistogramUnit unit() const { return unit_; }

 private:
  const std::vector<uint64_t> bounds_;
  const HistogramUnit unit_;
  const std::unique_ptr<std::atomic<uint64_t>[]> bucket_counts_;  // bounds_.size() + 1
  std::atomic<uint64_t> sum_{0};
};

enum class MetricType : uint8_t { kCounter, kGauge, kHistogram };

// One child's label values, in the order of its family's label names.
using LabelValues = std::vector<std::string>;

// A metric name, its help text and type, and a fixed set of children. Rendering only.
class FamilyBase {
 public:
  FamilyBase(std::string_view name, std::string_view help, MetricType type,
             std::vector<std::string> label_names, const std::vector<LabelValues>& children);
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  MetricType type() const { return type_; }
  size_t child_count() const { return child_labels_.size(); }

  // Appends the # HELP and # TYPE lines and every child's samples, in registration order.
  void RenderTo(std::string* out) const;

 protected:
  // The index of the child with these label values, or child_count() when there is none.
  size_t IndexOf(std::span<const std::string_view> label_values) const;

 private:
  virtual void RenderChild(size_t index, std::string_view labels, std::string* out) const = 0;

  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
  const std::vector<LabelValues> label_values_;
  const std::vector<std::string> child_labels_;  // `a="x",b="y"`, escaped once, at registration
};

void RenderSamples(std::string_view name, std::string_view labels, const Counter& counter,
                   std::string* out);
void RenderSamples(std::string_view name, std::string_view labels, const Gauge& gauge,
                   std::string* out);
void RenderSamples(std::string_view name, std::string_view labels, const Histogram& histogram,
                   std::string* out);
void RenderSamples(std::string_view name, std::string_view labels, const DurationCounter& counter,
                   std::string* out);

template <typename Metric>
class Family final : public FamilyBase {
 public:
  // Made by Registry::Add*Family; `metrics` are the children, in the order of `children`.
  Family(std::string_view name, std::string_view help, MetricType type,
         std::vector<std::string> label_names, const std::vector<LabelValues>& children,
         std::vector<std::unique_ptr<Metric>> metrics)
      : FamilyBase(name, help, type, std::move(label_names), children),
        metrics_(std::move(metrics)) {
    LEDGER_ASSERT(metrics_.size() == child_count(), metrics_.size(), child_count());
  }

  // The child registered at `index` (the order of the label value tuples given): O(1).
  Metric& child(size_t index) const {
    LEDGER_ASSERT(index < metrics_.size(), index, metrics_.size());
    return *metrics_[index];
  }

  // The child with these label values; asserts it exists. O(children): look it up at start-up
  // and keep the reference.
  Metric& Find(std::initializer_list<std::string_view> label_values) const {
    return child(
        IndexOf(std::span<const std::string_view>(label_values.begin(), label_values.size())));
  }

 private:
  void RenderChild(size_t index, std::string_view labels, std::string* out) const override {
    RenderSamples(name(), labels, *metrics_[index], out);
  }

  const std::vector<std::unique_ptr<Metric>> metrics_;
};

// Owns every metric family and renders them. Register at start-up (a bad name, a duplicate
// name or a malformed label tuple is our bug: it asserts); update from any thread; Render from
// any thread. Families render in registration order, children in the order given.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // A metric without labels. Names match [a-zA-Z_:][a-zA-Z0-9_:]*; help is any text.
  Counter& AddCounter(std::string_view name, std::string_view help);
  Gauge& AddGauge(std::string_view name, std::string_view help);
  DurationCounter& AddDurationCounter(std::string_view name, std::string_view help);
  Histogram& AddHistogram(std::string_view name, std::string_view help,
                          std::span<const uint64_t> bounds, HistogramUnit unit);

  // A family with one child per tuple in `children` (each as long as `label_names`, no two
  // alike). Label names match [a-zA-Z_][a-zA-Z0-9_]*, do not start with "__", and a histogram's
  // are not "le".
  Family<Counter>& AddCounterFamily(std::string_view name, std::string_view help,
                                    std::vector<std::string> label_names,
                                    const std::vector<LabelValues>& children);
  Family<Gauge>& AddGaugeFamily(std::string_view name, std::string_view help,
                                std::vector<std::string> label_names,
                                const std::vector<LabelValues>& children);
  Family<Histogram>& AddHistogramFamily(std::string_view name, std::string_view help,
                                        std::vector<std::string> label_names,
                                        const std::vector<LabelValues>& children,
                                        std::span<const uint64_t> bounds, HistogramUnit unit);

  // The text exposition format 0.0.4 (Content-Type: text/plain; version=0.0.4).
  std::string Render() const;

 private:
  template <typename Metric>
  Family<Metric>& Add(std::unique_ptr<Family<Metric>> family);

  mutable absl::Mutex mutex_;  // guards the list only; metric updates never take it
  std::vector<std::unique_ptr<FamilyBase>> families_ ABSL_GUARDED_BY(mutex_);
};

// Exact decimal seconds with no trailing zeros: 1500000 -> "0.0015", 2000000000 -> "2", 0 ->
// "0". Prometheus wants seconds; the data path keeps integer nanoseconds.
std::string FormatSeconds(uint64_t duration_ns);
void AppendSeconds(uint64_t duration_ns, std::string* out);

// ---------------------------------------------------------------------------------------------
// Label values of the ledger server's metrics: snake_case, fixed at compile time.

// Result codes are named by engine/result_names.h.

// Operations are engine/operation.h's: their names label the create metrics.
using engine::kOperationCount;
using engine::Operation;
inline std::string_view OperationName(Operation operation) {  // "create_transfers"
  return engine::InfoOf(operation).name;
}

// ok: the batch was logged and answered; rejected: refused before the log (over a limit,
// malformed, shutting down, engine full), so none of its events were looked at.
enum class BatchOutcome : uint8_t { kOk = 0, kRejected = 1 };
inline constexpr size_t kBatchOutcomeCount = 2;
std::string_view BatchOutcomeName(BatchOutcome outcome);

// The read methods of the Ledger interface (net/ledger.capnp).
enum class QueryMethod : uint8_t {
  kLookupLedgers = 0,
  kLookupAccounts = 1,
  kLookupTransfers = 2,
  kGetAccountTransfers = 3,
  kGetAccountBalances = 4,
  kTrialBalance = 5,
  kChanges = 6,
};
inline constexpr size_t kQueryMethodCount = 7;
std::string_view QueryMethodName(QueryMethod method);  // "lookup_accounts"

// Why a request was refused before it reached the engine or the log.
enum class RejectReason : uint8_t {
  kBatchTooLarge = 0,  // more events than batchEventsMax
  kIdsTooMany = 1,     // a lookup with more ids than queryIdsMax
  kMalformed = 2,      // a field out of range or a message that does not decode
  kShuttingDown = 3,   // the server is draining
  kEngineFull = 4,     // the engine's hard limits (accounts_max, transfers_max) are reached
};
inline constexpr size_t kRejectReasonCount = 5;
std::string_view RejectReasonName(RejectReason reason);  // "batch_too_large"

// Histogram bounds in ns. A batch waits for the log: commit p50 0.6-1.1 ms and p99 2-5 ms on
// the reference disk (docs/benchmarks.md), so 50 µs to 1 s in 1-2.5-5 steps brackets it with
// room on both sides. Queries and single WAL flushes can be faster: from 10 µs.
inline constexpr uint64_t kBatchLatencyBoundsNs[] = {
    50'000,     100'000,    250'000,    500'000,     1'000'000,   2'500'000,   5'000'000,
    10'000'000, 25'000'000, 50'000'000, 100'000'000, 250'000'000, 500'000'000, 1'000'000'000};
inline constexpr uint64_t kFastLatencyBoundsNs[] = {
    10'000,      25'000,      50'000,      100'000,      250'000,    500'000,
    1'000'000,   2'500'000,   5'000'000,   10'000'000,   25'000'000, 50'000'000,
    100'000'000, 250'000'000, 500'000'000, 1'000'000'000};

// The ledger server's metrics (docs/metrics.md), all registered and preallocated by the
// constructor. Every accessor is O(1) and returns a metric that any thread may update.
// `registry` must outlive this object.
struct ServerMetrics {
  explicit ServerMetrics(Registry& registry);

  // ledger_events_total{operation, result}: one per event, by result code.
  template <typename Result>
  Counter& Event(Result result) const {
    return EventCounter(engine::kOperationOfResult<Result>, static_cast<size_t>(result));
  }
  // Counts a batch's results: tallies on the stack (at most 256 codes), then one atomic add
  // per distinct code, so a batch of 8,190 events costs a few adds rather than one per event.
  template <typename Results>  // a range of one operation's result codes
  void CountEvents(const Results& results) const {
    using Result = std::remove_cvref_t<decltype(*std::begin(results))>;
    constexpr Operation kOperation = engine::kOperationOfResult<Result>;
    std::array<uint64_t, engine::InfoOf(kOperation).result_count> tally{};
    for (Result result : results) {
      const auto code = static_cast<size_t>(result);
      LEDGER_ASSERT(code < tally.size(), code);
      ++tally[code];
    }
    AddEventTally(kOperation, tally);
  }

  Counter& Batches(Operation operation, BatchOutcome outcome) const;
  Histogram& BatchLatency(Operation operation) const;  // observe ns from receipt to reply
  Counter& Queries(QueryMethod method) const;
  Histogram& QueryLatency(QueryMethod method) const;  // observe ns from receipt to reply
  Counter& RequestsRejected(RejectReason reason) const;

  Family<Counter>& events_total;
  Family<Counter>& batches_total;
  Family<Histogram>& batch_latency_seconds;
  Family<Counter>& queries_total;
  Family<Histogram>& query_latency_seconds;
  Family<Counter>& requests_rejected_total;

  Histogram& wal_flush_latency_seconds;  // observe ns from a group's submit to durable
  Counter& wal_written_bytes_total;
  Counter& wal_groups_total;
  Counter& wal_entries_total;

  Gauge& inflight_batches;
  Gauge& awaiting_durability_batches;
  Gauge& connections;
  Counter& connections_accepted_total;
  Counter& connections_rejected_total;
  Counter& logins_failed_total;

  Gauge& last_op;
  Gauge& durable_op;
  Gauge& accounts;
  Gauge& transfers;
  Gauge& up;                  // 1 from construction
  Gauge& start_time_seconds;  // Unix time of construction, whole seconds
  // The standard process metrics, set when scraped (UpdateProcessMetrics).
  DurationCounter& process_cpu_seconds_total;
  Gauge& process_resident_memory_bytes;

  // Reads this process's CPU time (user + system) and resident memory into the two above.
  void UpdateProcessMetrics() const;

 private:
  Counter& EventCounter(Operation operation, size_t code) const;
  void AddEventTally(Operation operation, std::span<const uint64_t> tally) const;
};

}  // namespace ledger::net
