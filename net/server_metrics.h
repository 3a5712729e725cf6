// The ledger server's metrics (docs/metrics.md): their label values and the set itself, over
// the metrics library (net/metrics.h).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <string_view>
#include <type_traits>

#include "base/assert.h"
#include "engine/operation.h"
#include "engine/types.h"
#include "net/metrics.h"
#include "net/tokens.h"

namespace ledger::net {

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
  kGetTransferStatuses = 7,
  kGetPostedAtValueTime = 8,
  kQueryAccounts = 9,
  kQueryTransfers = 10,
  kQueryLedgers = 11,
};
inline constexpr size_t kQueryMethodCount = 12;
std::string_view QueryMethodName(QueryMethod method);  // "lookup_accounts"

// How a verification of the log ended (verifyLog).
enum class LogVerificationResult : uint8_t { kIntact = 0, kCorrupt = 1, kFailed = 2 };

// Why a request was refused before it reached the engine or the log.
enum class RejectReason : uint8_t {
  kBatchTooLarge = 0,     // more events than batchEventsMax
  kIdsTooMany = 1,        // a lookup with more ids than queryIdsMax
  kMalformed = 2,         // a field out of range or a message that does not decode
  kShuttingDown = 3,      // the server is draining
  kEngineFull = 4,        // the engine's hard limits (accounts_max, transfers_max) are reached
  kNotLeader = 5,         // a replica group's member that does not lead, or cannot acknowledge
  kPermissionDenied = 6,  // the login token's role or ledgers do not allow the call
  kStorageFull = 7,       // the disk has no room for the log to grow (writes only)
};
inline constexpr size_t kRejectReasonCount = 8;
std::string_view RejectReasonName(RejectReason reason);  // "batch_too_large"

// Which budget of connections not logged in (ServerLimits) was full when the oldest of them was
// closed to admit a new connection.
enum class EvictReason : uint8_t {
  kUnauthenticated = 0,            // unauthenticated_max, all addresses together
  kUnauthenticatedPerAddress = 1,  // unauthenticated_per_address_max, the new one's address
  kConnections = 2,                // connections_max, logged in or not
};
inline constexpr size_t kEvictReasonCount = 3;

// Why a logged-in connection was closed for the replies the server holds for it.
enum class ReplyCloseReason : uint8_t {
  kUnreadReplies = 0,      // its unsent replies passed unsent_reply_bytes_max: it stopped reading
  kUnfinishedReplies = 1,  // its replies not yet finished passed a limit (unfinished_reply_*)
};
inline constexpr size_t kReplyCloseReasonCount = 2;

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
  Counter& ConnectionsEvicted(EvictReason reason) const;
  Counter& ConnectionsClosed(ReplyCloseReason reason) const;
  Counter& Logins(Role role) const;               // accepted logins, by the token's role
  Counter& CallsDenied(Role role) const;          // calls the token's role or ledgers do not allow
  Counter& HttpResponses(unsigned status) const;  // an HTTP status; unlisted ones count as "other"

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
  Gauge& connections_unauthenticated;  // not logged in yet (TLS handshakes included)
  Family<Counter>& connections_evicted_total;
  Family<Counter>& connections_closed_total;  // by ReplyCloseReason
  Gauge& held_reply_bytes;                    // set when scraped
  Counter& tls_handshakes_failed_total;
  Counter& logins_failed_total;
  Family<Counter>& logins_total;        // by role
  Family<Counter>& calls_denied_total;  // by role
  Counter& token_reloads_total;
  Counter& token_reloads_failed_total;
  Counter& metrics_requests_unauthorized_total;  // set when scraped
  // The HTTP/JSON API (docs/http-api.md).
  Family<Counter>& http_responses_total;  // by status (HttpResponses)
  Counter& http_connections_rejected_total;
  Gauge& http_connections;  // set when scraped

  // verifyLog's checks of the log on disk (net/internal/log_verifier.h), set by its thread.
  Family<Counter>& log_verifications_total;  // by LogVerificationResult
  Gauge& log_verification_corrupt;           // 1 when the last one that ended found the log damaged
  Counter& LogVerifications(LogVerificationResult result) const;

  Gauge& last_op;
  Gauge& durable_op;
  Gauge& storage_full;  // 1 while the log cannot reserve room and writes are refused
  Gauge& accounts;
  Gauge& transfers;
  Gauge& failed_transfers;  // recorded failures: they count against transfers_max
  Gauge& accounts_max;      // the tables' hard limits, per shard
  Gauge& transfers_max;
  // History beyond memory (docs/cold-store.md): the window in memory and the cold store.
  Gauge& hot_transfers;
  Gauge& cold_transfers;
  Gauge& cold_runs;
  Gauge& cold_filter_bytes;
  Gauge& cold_fence_bytes;
  Counter& cold_read_ahead_batches_total;  // batches that waited for their cold reads
  Counter& cold_history_reads_total;       // queries answered from old history, off the engine
  Histogram& cold_history_read_seconds;    // observe ns of each on the history thread
  // A replica group's member (docs/replication.md), set when scraped; 0 without a group.
  Gauge& group_leader;        // 1 while this member leads a sealed epoch
  Gauge& group_epoch;         // the highest epoch it has seen
  Gauge& group_in_sync;       // members the leader's acknowledgements wait for
  Gauge& group_committed_op;  // the group's committed op, as this member knows it
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
