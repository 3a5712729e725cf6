#include "net/server_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <iterator>
#include <string>
#include <vector>

#include "base/clock.h"
#include "engine/result_names.h"

namespace ledger::net {

// ---------------------------------------------------------------------------------------------
// Label values of the ledger server's metrics.

namespace {

// engine::kOperations' names, in operation order.
constexpr std::array<std::string_view, kOperationCount> kOperationNames = [] {
  std::array<std::string_view, kOperationCount> names;
  for (const engine::OperationInfo& info : engine::kOperations) {
    names[engine::OperationIndex(info.operation)] = info.name;
  }
  return names;
}();
constexpr std::string_view kBatchOutcomeNames[] = {"ok", "rejected"};
constexpr std::string_view kQueryMethodNames[] = {
    "lookup_ledgers",           "lookup_accounts", "lookup_transfers", "get_account_transfers",
    "get_account_balances",     "trial_balance",   "changes",          "get_transfer_statuses",
    "get_posted_at_value_time", "query_accounts",  "query_transfers",  "query_ledgers"};
constexpr std::string_view kLogVerificationResultNames[] = {"intact", "corrupt", "failed"};
constexpr std::string_view kRejectReasonNames[] = {
    "batch_too_large", "ids_too_many", "malformed",         "shutting_down",
    "engine_full",     "not_leader",   "permission_denied", "storage_full"};
constexpr std::string_view kRoleNames[] = {"read", "write", "admin"};
constexpr std::string_view kEvictReasonNames[] = {"unauthenticated", "unauthenticated_per_address",
                                                  "connections"};
constexpr std::string_view kReplyCloseReasonNames[] = {"unread_replies", "unfinished_replies"};
// The statuses the HTTP API answers with (net/internal/http_api.cc); "other" last.
constexpr std::string_view kHttpStatusNames[] = {"200", "302", "400", "401",  "403", "404",
                                                 "405", "408", "413", "415",  "429", "500",
                                                 "501", "503", "507", "other"};

// Every name is a non-empty [a-z0-9_]+ and no two in a table are alike.
template <typename Names>
constexpr bool AreDistinctLabelValues(const Names& names) {
  const size_t kCount = std::size(names);
  for (size_t i = 0; i < kCount; ++i) {
    if (names[i].empty()) return false;
    for (char c : names[i]) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    for (size_t j = 0; j < i; ++j) {
      if (names[i] == names[j]) return false;
    }
  }
  return true;
}

static_assert(std::size(kOperationNames) == kOperationCount &&
              std::size(kBatchOutcomeNames) == kBatchOutcomeCount &&
              std::size(kQueryMethodNames) == kQueryMethodCount &&
              std::size(kRejectReasonNames) == kRejectReasonCount &&
              std::size(kEvictReasonNames) == kEvictReasonCount &&
              std::size(kReplyCloseReasonNames) == kReplyCloseReasonCount &&
              std::size(kRoleNames) == kRoleCount);
static_assert(AreDistinctLabelValues(kOperationNames) &&
              AreDistinctLabelValues(kBatchOutcomeNames) &&
              AreDistinctLabelValues(kQueryMethodNames) &&
              AreDistinctLabelValues(kRejectReasonNames) &&
              AreDistinctLabelValues(kEvictReasonNames) &&
              AreDistinctLabelValues(kReplyCloseReasonNames) && AreDistinctLabelValues(kRoleNames));

template <size_t kCount, typename Enum>
std::string_view NameOf(const std::string_view (&names)[kCount], Enum value) {
  auto index = static_cast<size_t>(value);
  return index < kCount ? names[index] : std::string_view();
}

// ledger_events_total's children: each operation's result codes in enum order, operations in
// their order.
constexpr std::array<size_t, kOperationCount> kEventsFirstChild = [] {
  std::array<size_t, kOperationCount> first{};
  for (size_t i = 1; i < kOperationCount; ++i) {
    first[i] = first[i - 1] + engine::kOperations[i - 1].result_count;
  }
  return first;
}();

// Result names come from engine/result_names.h (snake_case, distinct: checked by its tests).
std::vector<LabelValues> EventLabels() {
  std::vector<LabelValues> children;
  for (const engine::OperationInfo& info : engine::kOperations) {
    engine::VisitOperation(info.operation, [&](auto operation) {
      using Result = typename engine::OperationTraits<operation()>::Result;
      for (size_t code = 0; code < info.result_count; ++code) {
        children.push_back(
            {std::string(info.name), std::string(ResultName(static_cast<Result>(code)))});
      }
    });
  }
  return children;
}

// One child per name, labelled with it.
template <typename Names>
std::vector<LabelValues> LabelsOf(const Names& names) {
  std::vector<LabelValues> children;
  for (std::string_view name : names) children.push_back({std::string(name)});
  return children;
}

// Operation-major: index = operation * kBatchOutcomeCount + outcome.
std::vector<LabelValues> BatchLabels() {
  std::vector<LabelValues> children;
  for (std::string_view operation : kOperationNames) {
    for (std::string_view outcome : kBatchOutcomeNames) {
      children.push_back({std::string(operation), std::string(outcome)});
    }
  }
  return children;
}

size_t EventIndex(Operation operation, size_t code) {
  const size_t op = engine::OperationIndex(operation);
  LEDGER_ASSERT(op < kOperationCount && code < engine::kOperations[op].result_count, op, code);
  return kEventsFirstChild[op] + code;
}

int64_t UnixTimeSeconds() { return static_cast<int64_t>(base::RealtimeNs() / 1'000'000'000); }

}  // namespace

std::string_view BatchOutcomeName(BatchOutcome outcome) {
  return NameOf(kBatchOutcomeNames, outcome);
}
std::string_view QueryMethodName(QueryMethod method) { return NameOf(kQueryMethodNames, method); }
std::string_view RejectReasonName(RejectReason reason) {
  return NameOf(kRejectReasonNames, reason);
}

// ---------------------------------------------------------------------------------------------
// ServerMetrics.

ServerMetrics::ServerMetrics(Registry& registry)
    : events_total(registry.AddCounterFamily(
          "ledger_events_total", "Events of create batches, by operation and result code.",
          {"operation", "result"}, EventLabels())),
      batches_total(registry.AddCounterFamily(
          "ledger_batches_total",
          "Create batches, by operation and outcome (rejected: refused before the log).",
          {"operation", "outcome"}, BatchLabels())),
      batch_latency_seconds(registry.AddHistogramFamily(
          "ledger_batch_latency_seconds",
          "Create batches from receipt to reply (durable and applied), by operation.",
          {"operation"}, LabelsOf(kOperationNames), kBatchLatencyBoundsNs,
          HistogramUnit::kNanoseconds)),
      queries_total(registry.AddCounterFamily("ledger_queries_total", "Read requests, by method.",
                                              {"method"}, LabelsOf(kQueryMethodNames))),
      query_latency_seconds(registry.AddHistogramFamily(
          "ledger_query_latency_seconds", "Read requests from receipt to reply, by method.",
          {"method"}, LabelsOf(kQueryMethodNames), kFastLatencyBoundsNs,
          HistogramUnit::kNanoseconds)),
      requests_rejected_total(registry.AddCounterFamily(
          "ledger_requests_rejected_total",
          "Requests refused before reaching the engine or the log, by reason.", {"reason"},
          LabelsOf(kRejectReasonNames))),
      wal_flush_latency_seconds(
          registry.AddHistogram("ledger_wal_flush_latency_seconds",
                                "WAL group commits from submitting the write to durable on disk.",
                                kFastLatencyBoundsNs, HistogramUnit::kNanoseconds)),
      wal_written_bytes_total(registry.AddCounter("ledger_wal_written_bytes_total",
                                                  "Bytes written to the WAL (durable).")),
      wal_groups_total(
          registry.AddCounter("ledger_wal_groups_total", "WAL group commits made durable.")),
      wal_entries_total(registry.AddCounter("ledger_wal_entries_total",
                                            "WAL entries (one per logged batch) made durable.")),
      inflight_batches(registry.AddGauge("ledger_inflight_batches",
                                         "Create batches accepted and not yet replied to.")),
      awaiting_durability_batches(
          registry.AddGauge("ledger_awaiting_durability_batches",
                            "Create batches applied and waiting for their WAL group commit.")),
      connections(registry.AddGauge("ledger_connections", "RPC connections open.")),
      connections_accepted_total(
          registry.AddCounter("ledger_connections_accepted_total", "RPC connections accepted.")),
      connections_rejected_total(registry.AddCounter(
          "ledger_connections_rejected_total",
          "RPC connections refused when accepted: every one of --max-connections was logged in.")),
      connections_unauthenticated(
          registry.AddGauge("ledger_connections_unauthenticated",
                            "RPC connections not logged in yet (TLS handshakes included).")),
      connections_evicted_total(registry.AddCounterFamily(
          "ledger_connections_evicted_total",
          "RPC connections not logged in that were closed to admit a newer one, by the budget "
          "that was full: all addresses', the new one's address's, or all connections'.",
          {"reason"}, LabelsOf(kEvictReasonNames))),
      connections_closed_total(registry.AddCounterFamily(
          "ledger_connections_closed_total",
          "Logged-in RPC connections closed for the replies the server held for them: unsent "
          "(the client stopped reading) or sent and never finished (Cap'n Proto Finish).",
          {"reason"}, LabelsOf(kReplyCloseReasonNames))),
      held_reply_bytes(registry.AddGauge(
          "ledger_held_reply_bytes",
          "Bytes of replies held for clients, all connections: queued unsent (as last seen) "
          "and sent but not yet finished (Cap'n Proto Finish); --max-reply-bytes-total bounds "
          "it.")),
      tls_handshakes_failed_total(
          registry.AddCounter("ledger_tls_handshakes_failed_total",
                              "TLS handshakes that failed or timed out (clients without TLS, "
                              "untrusted certificates).")),
      logins_failed_total(
          registry.AddCounter("ledger_logins_failed_total", "Logins refused: wrong token.")),
      logins_total(registry.AddCounterFamily("ledger_logins_total",
                                             "Logins accepted, by the token's role.", {"role"},
                                             LabelsOf(kRoleNames))),
      calls_denied_total(registry.AddCounterFamily(
          "ledger_calls_denied_total",
          "Calls refused because the token's role or ledgers do not allow them, by role.", {"role"},
          LabelsOf(kRoleNames))),
      token_reloads_total(registry.AddCounter("ledger_token_reloads_total",
                                              "Tokens files re-read and taken (SIGHUP).")),
      token_reloads_failed_total(registry.AddCounter(
          "ledger_token_reloads_failed_total",
          "Tokens files that could not be re-read or parsed: the tokens in use were kept.")),
      metrics_requests_unauthorized_total(registry.AddCounter(
          "ledger_metrics_requests_unauthorized_total",
          "Requests to the metrics endpoint answered 401: without its token, or a wrong one.")),
      http_responses_total(registry.AddCounterFamily(
          "ledger_http_responses_total",
          "Responses of the HTTP/JSON API, by status (errors: docs/http-api.md).", {"status"},
          LabelsOf(kHttpStatusNames))),
      http_connections_rejected_total(registry.AddCounter(
          "ledger_http_connections_rejected_total",
          "HTTP connections closed when accepted: --max-http-connections were open.")),
      http_connections(
          registry.AddGauge("ledger_http_connections", "HTTP connections being served.")),
      log_verifications_total(registry.AddCounterFamily(
          "ledger_log_verifications_total",
          "Checks of the log on disk (verifyLog) that ended, by result: intact, corrupt (the "
          "log is damaged), failed (it could not be read).",
          {"result"}, LabelsOf(kLogVerificationResultNames))),
      log_verification_corrupt(registry.AddGauge(
          "ledger_log_verification_corrupt",
          "1 when the last check of the log on disk (verifyLog) that ended found it damaged.")),
      last_op(registry.AddGauge("ledger_last_op", "The log's last op number (sequenced).")),
      durable_op(registry.AddGauge("ledger_durable_op", "The last op number durable on disk.")),
      storage_full(registry.AddGauge(
          "ledger_storage_full",
          "1 while the disk has no room for the log's next segment: writes are refused, reads "
          "go on, and writes resume by themselves once space is freed.")),
      accounts(registry.AddGauge("ledger_accounts", "Accounts in the ledger.")),
      transfers(registry.AddGauge("ledger_transfers", "Successful transfers in the ledger.")),
      failed_transfers(registry.AddGauge(
          "ledger_failed_transfers",
          "Transfer ids recorded as failed; with ledger_transfers, against transfers_max.")),
      accounts_max(registry.AddGauge(
          "ledger_accounts_max", "Accounts each shard's table holds at most (--accounts-max).")),
      transfers_max(registry.AddGauge(
          "ledger_transfers_max",
          "Transfers and recorded failures each shard's table holds at most (--transfers-max).")),
      hot_transfers(registry.AddGauge("ledger_hot_transfers", "Transfers in memory (the window).")),
      cold_transfers(
          registry.AddGauge("ledger_cold_transfers", "Transfers in the cold store on disk.")),
      cold_runs(registry.AddGauge("ledger_cold_runs", "Run files of the cold store.")),
      cold_filter_bytes(registry.AddGauge(
          "ledger_cold_filter_bytes",
          "Memory of the cold store's id filter (at most 2 bytes per cold transfer).")),
      cold_fence_bytes(registry.AddGauge(
          "ledger_cold_fence_bytes",
          "Memory of the cold runs' fences (ids and accounts: 0.16 bytes per cold transfer).")),
      cold_read_ahead_batches_total(registry.AddCounter(
          "ledger_cold_read_ahead_batches_total",
          "Batches that waited for the cold store's read-ahead before they were applied.")),
      cold_history_reads_total(registry.AddCounter(
          "ledger_cold_history_reads_total",
          "Queries answered from old history alone, beside the batches being applied.")),
      cold_history_read_seconds(registry.AddHistogram(
          "ledger_cold_history_read_seconds",
          "Reads of old history on the history thread, from its start to its answer.",
          kFastLatencyBoundsNs, HistogramUnit::kNanoseconds)),
      group_leader(registry.AddGauge("ledger_group_leader",
                                     "1 while this member leads its replica group's epoch.")),
      group_epoch(registry.AddGauge(
          "ledger_group_epoch", "The highest epoch of its replica group this member has seen.")),
      group_in_sync(registry.AddGauge(
          "ledger_group_in_sync_members",
          "On the leader: the members every acknowledgement waits for, itself included.")),
      group_committed_op(registry.AddGauge(
          "ledger_group_committed_op",
          "The last op every in-sync member has durable, as this member knows it.")),
      up(registry.AddGauge("ledger_up", "1 while the server runs.")),
      start_time_seconds(registry.AddGauge("ledger_start_time_seconds",
                                           "When the server started: Unix time in seconds.")),
      process_cpu_seconds_total(registry.AddDurationCounter(
          "process_cpu_seconds_total", "CPU time of the server process, user and system.")),
      process_resident_memory_bytes(registry.AddGauge("process_resident_memory_bytes",
                                                      "Resident memory of the server process.")) {
  up.Set(1);
  start_time_seconds.Set(UnixTimeSeconds());
}

void ServerMetrics::UpdateProcessMetrics() const {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    const auto ns = [](const timeval& time) {
      return static_cast<uint64_t>(time.tv_sec) * 1'000'000'000 +
             static_cast<uint64_t>(time.tv_usec) * 1'000;
    };
    process_cpu_seconds_total.Set(ns(usage.ru_utime) + ns(usage.ru_stime));
  }
  // statm: total and resident size in pages.
  if (std::FILE* statm = std::fopen("/proc/self/statm", "r")) {
    unsigned long long total_pages = 0, resident_pages = 0;
    if (std::fscanf(statm, "%llu %llu", &total_pages, &resident_pages) == 2) {
      process_resident_memory_bytes.Set(
          static_cast<int64_t>(resident_pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE))));
    }
    std::fclose(statm);
  }
}

Counter& ServerMetrics::EventCounter(Operation operation, size_t code) const {
  return events_total.child(EventIndex(operation, code));
}

void ServerMetrics::AddEventTally(Operation operation, std::span<const uint64_t> tally) const {
  for (size_t code = 0; code < tally.size(); ++code) {
    if (tally[code] != 0) events_total.child(EventIndex(operation, code)).Add(tally[code]);
  }
}

Counter& ServerMetrics::Batches(Operation operation, BatchOutcome outcome) const {
  const size_t op = engine::OperationIndex(operation);
  auto result = static_cast<size_t>(outcome);
  LEDGER_ASSERT(op < kOperationCount && result < kBatchOutcomeCount, op, result);
  return batches_total.child(op * kBatchOutcomeCount + result);
}

Histogram& ServerMetrics::BatchLatency(Operation operation) const {
  return batch_latency_seconds.child(engine::OperationIndex(operation));
}

Counter& ServerMetrics::Queries(QueryMethod method) const {
  return queries_total.child(static_cast<size_t>(method));
}

Histogram& ServerMetrics::QueryLatency(QueryMethod method) const {
  return query_latency_seconds.child(static_cast<size_t>(method));
}

Counter& ServerMetrics::RequestsRejected(RejectReason reason) const {
  return requests_rejected_total.child(static_cast<size_t>(reason));
}

Counter& ServerMetrics::Logins(Role role) const {
  return logins_total.child(static_cast<size_t>(role));
}

Counter& ServerMetrics::CallsDenied(Role role) const {
  return calls_denied_total.child(static_cast<size_t>(role));
}

Counter& ServerMetrics::LogVerifications(LogVerificationResult result) const {
  return log_verifications_total.child(static_cast<size_t>(result));
}

Counter& ServerMetrics::HttpResponses(unsigned status) const {
  const std::string text = std::to_string(status);
  size_t index = 0;
  while (index + 1 < std::size(kHttpStatusNames) && kHttpStatusNames[index] != text) ++index;
  return http_responses_total.child(index);
}

Counter& ServerMetrics::ConnectionsEvicted(EvictReason reason) const {
  return connections_evicted_total.child(static_cast<size_t>(reason));
}

Counter& ServerMetrics::ConnectionsClosed(ReplyCloseReason reason) const {
  return connections_closed_total.child(static_cast<size_t>(reason));
}

}  // namespace ledger::net
