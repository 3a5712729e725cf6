#include "net/metrics.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <iterator>
#include <utility>

namespace ledger::net {
namespace {

// ---------------------------------------------------------------------------------------------
// Text helpers.

constexpr bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidMetricName(std::string_view name) {
  if (name.empty() || IsAsciiDigit(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return IsAsciiLetter(c) || IsAsciiDigit(c) || c == '_' || c == ':';
  });
}

// [a-zA-Z_][a-zA-Z0-9_]*, and not "__..." (reserved for Prometheus itself).
bool IsValidLabelName(std::string_view name) {
  if (name.empty() || IsAsciiDigit(name[0]) || name.starts_with("__")) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return IsAsciiLetter(c) || IsAsciiDigit(c) || c == '_'; });
}

// Label values escape \, " and newline; help text escapes \ and newline (format 0.0.4).
void AppendEscaped(std::string_view text, bool escape_quote, std::string* out) {
  for (char c : text) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '"' && escape_quote) {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

template <typename Integer>
void AppendInteger(Integer value, std::string* out) {
  char digits[24];  // 20 digits of 2^64 - 1, or a sign and 19 digits
  std::to_chars_result result = std::to_chars(std::begin(digits), std::end(digits), value);
  LEDGER_ASSERT(result.ec == std::errc());
  out->append(digits, result.ptr);
}

// `a="x",b="y"`: rendered once per child at registration.
std::string LabelText(const std::vector<std::string>& names, const LabelValues& values) {
  std::string text;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) text.push_back(',');
    text.append(names[i]);
    text.append("=\"");
    AppendEscaped(values[i], /*escape_quote=*/true, &text);
    text.push_back('"');
  }
  return text;
}

std::vector<std::string> ChildLabelTexts(const std::vector<std::string>& names,
                                         const std::vector<LabelValues>& children) {
  std::vector<std::string> texts;
  texts.reserve(children.size());
  for (const LabelValues& values : children) {
    LEDGER_ASSERT(values.size() == names.size(), values.size(), names.size());
    texts.push_back(LabelText(names, values));
  }
  return texts;
}

// Checks a family's names and label tuples: all of these come from our code, so a bad one is
// our bug.
void CheckFamily(std::string_view name, MetricType type, const std::vector<std::string>& names,
                 const std::vector<LabelValues>& children) {
  LEDGER_ASSERT(IsValidMetricName(name));
  LEDGER_ASSERT(!children.empty());
  for (size_t i = 0; i < names.size(); ++i) {
    LEDGER_ASSERT(IsValidLabelName(names[i]), i);
    LEDGER_ASSERT(!(type == MetricType::kHistogram && names[i] == "le"), i);
    for (size_t j = 0; j < i; ++j) LEDGER_ASSERT(names[i] != names[j], i, j);
  }
  std::vector<const LabelValues*> sorted;
  sorted.reserve(children.size());
  for (const LabelValues& values : children) sorted.push_back(&values);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return *a < *b; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    LEDGER_ASSERT(*sorted[i - 1] != *sorted[i], i);  // two children with the same labels
  }
}

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  LEDGER_ASSERT(false, static_cast<int>(type));
  return "";
}

// `name_suffix{labels,extra} ` or `name_suffix ` when both are empty.
void AppendSeriesName(std::string_view name, std::string_view suffix, std::string_view labels,
                      std::string_view extra_label, std::string* out) {
  out->append(name);
  out->append(suffix);
  if (!labels.empty() || !extra_label.empty()) {
    out->push_back('{');
    out->append(labels);
    if (!labels.empty() && !extra_label.empty()) out->push_back(',');
    out->append(extra_label);
    out->push_back('}');
  }
  out->push_back(' ');
}

void AppendHistogramValue(uint64_t value, HistogramUnit unit, std::string* out) {
  if (unit == HistogramUnit::kNanoseconds) {
    AppendSeconds(value, out);
  } else {
    AppendInteger(value, out);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Histogram.

Histogram::Histogram(std::span<const uint64_t> bounds, HistogramUnit unit)
    : bounds_(bounds.begin(), bounds.end()),
      unit_(unit),
      bucket_counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {
  LEDGER_ASSERT(!bounds_.empty() && bounds_.size() <= kBoundsMax, bounds_.size(), kBoundsMax);
  for (size_t i = 1; i < bounds_.size(); ++i) {
    LEDGER_ASSERT(bounds_[i - 1] < bounds_[i], i, bounds_[i - 1], bounds_[i]);
  }
}

void Histogram::Observe(uint64_t value) {
  // First bound >= value: a value equal to a bound counts in that bound's bucket. At most 64
  // bounds, so the search is a handful of well-predicted compares.
  auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  size_t index = static_cast<size_t>(bucket - bounds_.begin());
  bucket_counts_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.bucket_counts.resize(bounds_.size() + 1);
  for (size_t i = 0; i < snapshot.bucket_counts.size(); ++i) {
    snapshot.bucket_counts[i] = bucket_counts_[i].load(std::memory_order_relaxed);
    snapshot.count += snapshot.bucket_counts[i];
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

// ---------------------------------------------------------------------------------------------
// Families and rendering.

FamilyBase::FamilyBase(std::string_view name, std::string_view help, MetricType type,
                       std::vector<std::string> label_names,
                       const std::vector<LabelValues>& children)
    : name_(name),
      help_(help),
      type_(type),
      label_names_(std::move(label_names)),
      label_values_(children),
      child_labels_(ChildLabelTexts(label_names_, children)) {
  CheckFamily(name_, type_, label_names_, label_values_);
}

size_t FamilyBase::IndexOf(std::span<const std::string_view> label_values) const {
  for (size_t i = 0; i < label_values_.size(); ++i) {
    const LabelValues& values = label_values_[i];
    if (std::equal(values.begin(), values.end(), label_values.begin(), label_values.end())) {
      return i;
    }
  }
  return label_values_.size();
}

void FamilyBase::RenderTo(std::string* out) const {
  out->append("# HELP ");
  out->append(name_);
  out->push_back(' ');
  AppendEscaped(help_, /*escape_quote=*/false, out);
  out->append("\n# TYPE ");
  out->append(name_);
  out->push_back(' ');
  out->append(TypeName(type_));
  out->push_back('\n');
  for (size_t i = 0; i < child_labels_.size(); ++i) RenderChild(i, child_labels_[i], out);
}

void RenderSamples(std::string_view name, std::string_view labels, const Counter& counter,
                   std::string* out) {
  AppendSeriesName(name, "", labels, "", out);
  AppendInteger(counter.Value(), out);
  out->push_back('\n');
}

void RenderSamples(std::string_view name, std::string_view labels, const Gauge& gauge,
                   std::string* out) {
  AppendSeriesName(name, "", labels, "", out);
  AppendInteger(gauge.Value(), out);
  out->push_back('\n');
}

void RenderSamples(std::string_view name, std::string_view labels, const DurationCounter& counter,
                   std::string* out) {
  AppendSeriesName(name, "", labels, "", out);
  AppendSeconds(counter.ValueNs(), out);
  out->push_back('\n');
}

void RenderSamples(std::string_view name, std::string_view labels, const Histogram& histogram,
                   std::string* out) {
  Histogram::Snapshot snapshot = histogram.Read();
  std::span<const uint64_t> bounds = histogram.bounds();
  uint64_t cumulative = 0;
  std::string le;
  for (size_t i = 0; i < bounds.size(); ++i) {
    cumulative += snapshot.bucket_counts[i];
    le.assign("le=\"");
    AppendHistogramValue(bounds[i], histogram.unit(), &le);
    le.push_back('"');
    AppendSeriesName(name, "_bucket", labels, le, out);
    AppendInteger(cumulative, out);
    out->push_back('\n');
  }
  AppendSeriesName(name, "_bucket", labels, "le=\"+Inf\"", out);
  AppendInteger(snapshot.count, out);
  out->push_back('\n');
  AppendSeriesName(name, "_sum", labels, "", out);
  AppendHistogramValue(snapshot.sum, histogram.unit(), out);
  out->push_back('\n');
  AppendSeriesName(name, "_count", labels, "", out);
  AppendInteger(snapshot.count, out);
  out->push_back('\n');
}

void AppendSeconds(uint64_t duration_ns, std::string* out) {
  constexpr uint64_t kNsPerSecond = 1'000'000'000;
  AppendInteger(duration_ns / kNsPerSecond, out);
  uint64_t fraction_ns = duration_ns % kNsPerSecond;
  if (fraction_ns == 0) return;
  char digits[9];  // the fraction's nine digits, leading zeros kept
  for (int i = 8; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + fraction_ns % 10);
    fraction_ns /= 10;
  }
  size_t length = 9;
  while (digits[length - 1] == '0') --length;  // the fraction is not zero: stops at a digit
  out->push_back('.');
  out->append(digits, length);
}

std::string FormatSeconds(uint64_t duration_ns) {
  std::string text;
  AppendSeconds(duration_ns, &text);
  return text;
}

// ---------------------------------------------------------------------------------------------
// Registry.

template <typename Metric>
Family<Metric>& Registry::Add(std::unique_ptr<Family<Metric>> family) {
  Family<Metric>& added = *family;
  absl::MutexLock lock(&mutex_);
  for (const auto& existing : families_) {
    LEDGER_ASSERT(existing->name() != added.name());  // each name is registered once
  }
  families_.push_back(std::move(family));
  return added;
}

Counter& Registry::AddCounter(std::string_view name, std::string_view help) {
  return AddCounterFamily(name, help, {}, {LabelValues{}}).child(0);
}

Gauge& Registry::AddGauge(std::string_view name, std::string_view help) {
  return AddGaugeFamily(name, help, {}, {LabelValues{}}).child(0);
}

DurationCounter& Registry::AddDurationCounter(std::string_view name, std::string_view help) {
  std::vector<std::unique_ptr<DurationCounter>> metrics;
  metrics.push_back(std::make_unique<DurationCounter>());
  return Add(std::make_unique<Family<DurationCounter>>(
                 name, help, MetricType::kCounter, std::vector<std::string>{},
                 std::vector<LabelValues>{LabelValues{}}, std::move(metrics)))
      .child(0);
}

Histogram& Registry::AddHistogram(std::string_view name, std::string_view help,
                                  std::span<const uint64_t> bounds, HistogramUnit unit) {
  return AddHistogramFamily(name, help, {}, {LabelValues{}}, bounds, unit).child(0);
}

Family<Counter>& Registry::AddCounterFamily(std::string_view name, std::string_view help,
                                            std::vector<std::string> label_names,
                                            const std::vector<LabelValues>& children) {
  std::vector<std::unique_ptr<Counter>> metrics;
  for (size_t i = 0; i < children.size(); ++i) metrics.push_back(std::make_unique<Counter>());
  return Add(std::make_unique<Family<Counter>>(
      name, help, MetricType::kCounter, std::move(label_names), children, std::move(metrics)));
}

Family<Gauge>& Registry::AddGaugeFamily(std::string_view name, std::string_view help,
                                        std::vector<std::string> label_names,
                                        const std::vector<LabelValues>& children) {
  std::vector<std::unique_ptr<Gauge>> metrics;
  for (size_t i = 0; i < children.size(); ++i) metrics.push_back(std::make_unique<Gauge>());
  return Add(std::make_unique<Family<Gauge>>(name, help, MetricType::kGauge, std::move(label_names),
                                             children, std::move(metrics)));
}

Family<Histogram>& Registry::AddHistogramFamily(std::string_view name, std::string_view help,
                                                std::vector<std::string> label_names,
                                                const std::vector<LabelValues>& children,
                                                std::span<const uint64_t> bounds,
                                                HistogramUnit unit) {
  std::vector<std::unique_ptr<Histogram>> metrics;
  for (size_t i = 0; i < children.size(); ++i) {
    metrics.push_back(std::make_unique<Histogram>(bounds, unit));
  }
  return Add(std::make_unique<Family<Histogram>>(
      name, help, MetricType::kHistogram, std::move(label_names), children, std::move(metrics)));
}

std::string Registry::Render() const {
  std::string text;
  absl::MutexLock lock(&mutex_);
  // The ledger server's set (ServerMetrics) renders to ~28 KB: one allocation.
  text.reserve(32 * 1024);
  for (const auto& family : families_) family->RenderTo(&text);
  return text;
}

}  // namespace ledger::net
