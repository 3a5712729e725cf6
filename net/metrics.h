// Prometheus metrics: counters, gauges and histograms that any thread updates without a lock,
// and a Registry that renders them in the text exposition format 0.0.4 (served by
// net/metrics_http.h). The ledger server's own set is net/server_metrics.h; every metric's
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

}  // namespace ledger::net
