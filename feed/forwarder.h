// The change feed on a broker (docs/feed.md): reads the ledger's committed changes in order
// (net::Client::GetChanges) and publishes each to an AMQP topic exchange with publisher
// confirms, then records how far the broker confirmed in a cursor file. After a crash of
// either side it resumes from that cursor, so every change reaches the broker at least once,
// in order; a change published again carries the same message id (its sequence), by which
// consumers deduplicate.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "feed/amqp.h"
#include "net/client.h"

namespace ledger::feed {

struct ForwarderOptions {
  net::ClientOptions ledger;  // the ledger's RPC address and a token that may read the feed
  BrokerOptions broker;
  std::string exchange = "ledger.changes";
  // The cursor: the next change to publish, replaced atomically after each confirmed batch.
  std::string cursor_file;
  uint64_t from_sequence = 0;        // where to start when there is no cursor file yet
  uint32_t batch_changes = 1024;     // changes per read and per confirm round
  uint64_t poll_interval_ms = 2;     // between reads while the feed has nothing new
  uint64_t retry_interval_ms = 500;  // between attempts to reach a side that is away
  std::function<void(std::string_view)> log;
  const std::atomic<bool>* stop = nullptr;  // set (by a signal handler): return after the batch
};

// Forwards until *stop is set: OK. FailedPrecondition when the cursor is older than the changes
// the ledger retains (the gap cannot be filled: the operator decides), InvalidArgument for an
// unreadable cursor file, PermissionDenied when the token may not read the feed. A side that is
// away, and a change no queue is bound for (the broker returns it), are retried every
// retry_interval_ms, for ever.
absl::Status RunForwarder(const ForwarderOptions& options);

// "ledger.<ledger id>.<kind>" (kind: singlePhase, pending, posted, voided, expired): consumers
// bind to one ledger ("ledger.7.#") or one kind ("ledger.*.posted").
std::string RoutingKey(const net::FeedChange& change);

// The cursor file's next change: nullopt when there is no file; InvalidArgument when it does not
// parse.
absl::StatusOr<std::optional<uint64_t>> ReadCursor(const std::string& path);
absl::Status WriteCursor(const std::string& path, uint64_t next_sequence);

}  // namespace ledger::feed
