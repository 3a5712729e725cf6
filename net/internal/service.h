// The RPC interfaces' implementations: Gateway (login), Ledger (every method) and the change
// feed's subscriptions, over the shared server state.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "capnp/rpc-twoparty.h"
#include "kj/async-io.h"
#include "kj/timer.h"
#include "net/internal/admission.h"
#include "net/internal/checkpoint_ring.h"
#include "net/internal/core.h"
#include "net/internal/log_verifier.h"
#include "net/internal/unfinished_replies.h"
#include "net/ledger.capnp.h"
#include "net/server.h"
#include "net/server_metrics.h"
#include "net/tokens.h"

namespace ledger::net::internal {

// One client connection's state, shared by its capabilities (which may outlive the socket).
struct Connection : public kj::Refcounted {
  bool authenticated = false;
  bool stale_reads = false;  // asked at login: reads served by a member that does not lead
  bool closed = false;
  uint32_t failed_logins = 0;
  uint32_t inflight_calls = 0;
  TokenGrant grant;              // what the login's token may do; updated by a reload
  std::string certificate_name;  // a verified client certificate's common name (mutual TLS)
  bool revoked = false;  // its token was taken out of the tokens file: every call is refused
  kj::Own<kj::PromiseFulfiller<void>> revoker;   // fulfilling it closes the connection soon
  capnp::TwoPartyVatNetwork* network = nullptr;  // borrowed; null once the socket is gone
  UnfinishedReplies* replies = nullptr;          // borrowed; null once the socket is gone
  uint64_t unsent_reply_bytes = 0;    // its network's queue when last seen (ReplyLimitPassed)
  Admission::Place* place = nullptr;  // borrowed; null once the socket is gone
  kj::Own<kj::PromiseFulfiller<void>> closer;  // fulfilling it closes the connection
  std::string close_reason;                    // told to the client when not empty (CloseFor)
  void Close() {
    if (!closed && closer->isWaiting()) closer->fulfill();
    closed = true;
  }
  // Closes it and tells the client why (an RPC Abort, net/server.cc).
  void CloseFor(std::string reason) {
    if (!closed) close_reason = std::move(reason);
    Close();
  }
  // From now on every call fails with kTokenRevokedMarker (the client learns why), and the
  // connection is closed after the login timeout (net/server.cc).
  void Revoke() {
    if (!revoked && revoker.get() != nullptr && revoker->isWaiting()) revoker->fulfill();
    revoked = true;
  }
};

struct Subscriber;
class GroupRole;

// Event arrays of batches on their way to the apply thread, reused: a fresh 1.2 MB array per
// batch cost the loop a page fault per 4 KiB and its zeroing. Taken on the loop; given back by
// whichever thread lets go of the batch last (a cancelled call's batch may still be applying).
template <typename Event>
class EventBuffers {
 public:
  explicit EventBuffers(size_t events_max) : events_max_(events_max) {}
  // events_max() events.
  std::vector<Event> Take() {
    {
      std::lock_guard lock(mutex_);
      if (!spare_.empty()) {
        std::vector<Event> buffer = std::move(spare_.back());
        spare_.pop_back();
        return buffer;
      }
    }
    return std::vector<Event>(events_max_);
  }
  void Give(std::vector<Event> buffer) {
    std::lock_guard lock(mutex_);
    if (spare_.size() < kSpareMax) spare_.push_back(std::move(buffer));
  }

 private:
  static constexpr size_t kSpareMax = 4;  // a few batches in flight; more are allocated
  const size_t events_max_;
  std::mutex mutex_;
  std::vector<std::vector<Event>> spare_;
};

// Everything the interfaces share. Lives on the loop thread for the server's lifetime.
class ServiceState {
 public:
  ServiceState(Core& core, const ServerOptions& options, kj::Timer& timer, ServerMetrics& metrics);

  Core& core;
  const ServerOptions& options;
  kj::Timer& timer;
  ServerMetrics& metrics;
  std::function<void(std::string_view)> log;  // for the operator; may be empty
  bool shutting_down = false;
  // In a replica group: whether this member takes client calls now (null: no group).
  const GroupRole* role = nullptr;
  LogVerifier* log_verifier = nullptr;  // verifyLog's; borrowed, outlives this state
  uint64_t inflight_bytes = 0;
  uint64_t inflight_calls = 0;
  // Replies held for clients, all connections: sent and not finished (UnfinishedReplies, kept
  // up to date) and queued unsent (each connection's as last seen by ReplyLimitPassed).
  uint64_t unfinished_reply_bytes = 0;
  uint64_t unsent_reply_bytes = 0;
  std::set<Connection*> connections;
  std::shared_ptr<const TokenSet> tokens;  // replaced whole by a reload (ReloadTokens)
  std::list<Subscriber*> subscribers;

  // Batches' events (shared with the batches, which may outlive this state).
  std::shared_ptr<EventBuffers<Ledger>> ledger_buffers;
  std::shared_ptr<EventBuffers<Account>> account_buffers;
  std::shared_ptr<EventBuffers<Transfer>> transfer_buffers;
  // Scratch of calls that use the engine, reused by each (they take turns at it).
  std::vector<Ledger> ledgers;
  std::vector<Account> accounts;
  std::vector<Transfer> transfers;
  std::vector<Account> query_accounts;  // a queryAccounts page and one more
  std::vector<CreateLedgerResult> ledger_results;
  std::vector<CreateAccountResult> account_results;
  std::vector<CreateTransferResult> transfer_results;
  std::vector<uint64_t> timestamps_ns;  // each event's booking timestamp (replica's Submit)
  std::vector<AccountBalance> balances;
  std::vector<Change> changes;
  std::vector<TransferId> status_ids;  // getTransferStatuses: the ids found and their statuses
  std::vector<TransferStatus> statuses;
  std::vector<FailedTransfer> failed_transfers;  // lookupTransfers: the ids that failed
  CheckpointRing::Entry checkpoint = CheckpointRing::MakeEntry();  // a subscription's next
  std::vector<CheckpointRing::Entry> checkpoints;                  // a `checkpoints` reply's

  // The server's info as `grant`'s holder sees it (its role and ledgers).
  rpc::ServerInfo::Builder FillInfo(rpc::ServerInfo::Builder out, const TokenGrant& grant) const;
  // Pushes durable changes to every subscriber that is ready for more.
  void PumpSubscriptions();
  // Ends every subscription (shutdown).
  void EndSubscriptions(kj::StringPtr reason);
  // Takes `next` as the tokens in use: connections logged in with a token no longer listed are
  // revoked (Connection::Revoke), the others take their token's new role and ledgers.
  // Returns how many were revoked.
  size_t ReplaceTokens(std::shared_ptr<const TokenSet> next);
};

// Whether `connection` holds more in replies than the limits allow (ServerLimits: unsent,
// unfinished, all connections' together): why it must be closed ("" if not), counted in the
// metrics and logged. Run as each call comes in and as each reply is written.
std::string ReplyLimitPassed(ServiceState& state, Connection& connection);

// Whether `guess` is `token`, compared in time independent of where they differ (and of the
// guess's length). A guess may end with the token file's newline (or CR, spaces), as a client
// that sends the file as read does: they are not part of the token (ReadTokenFile drops them
// too). Logins and the replication port's group token.
bool TokenMatches(kj::ArrayPtr<const kj::byte> guess, const std::string& token);

// A Ledger capability for a connection authenticated otherwise than by login (the HTTP API
// checks each request's bearer token): `connection` must be authenticated, with its grant.
kj::Own<rpc::Ledger::Server> NewLedger(ServiceState& state, kj::Own<Connection> connection);

// The bootstrap capability of a connection.
kj::Own<rpc::Gateway::Server> NewGateway(ServiceState& state, kj::Own<Connection> connection);

}  // namespace ledger::net::internal
