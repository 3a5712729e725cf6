// The RPC interfaces' implementations: Gateway (login), Ledger (every method) and the change
// feed's subscriptions, over the shared server state.
#pragma once

#include <cstdint>
#include <list>
#include <set>
#include <string>
#include <vector>

#include "capnp/rpc-twoparty.h"
#include "kj/async-io.h"
#include "kj/timer.h"
#include "net/internal/core.h"
#include "net/ledger.capnp.h"
#include "net/server.h"
#include "net/server_metrics.h"

namespace ledger::net::internal {

// One client connection's state, shared by its capabilities (which may outlive the socket).
struct Connection : public kj::Refcounted {
  bool authenticated = false;
  bool closed = false;
  uint32_t failed_logins = 0;
  uint32_t inflight_calls = 0;
  capnp::TwoPartyVatNetwork* network = nullptr;  // borrowed; null once the socket is gone
  kj::Own<kj::PromiseFulfiller<void>> closer;    // fulfilling it closes the connection
  void Close() {
    if (!closed && closer->isWaiting()) closer->fulfill();
    closed = true;
  }
};

struct Subscriber;

// Everything the interfaces share. Lives on the loop thread for the server's lifetime.
class ServiceState {
 public:
  ServiceState(Core& core, const ServerOptions& options, kj::Timer& timer, ServerMetrics& metrics);

  Core& core;
  const ServerOptions& options;
  kj::Timer& timer;
  ServerMetrics& metrics;
  bool shutting_down = false;
  uint64_t inflight_bytes = 0;
  uint64_t inflight_calls = 0;
  std::set<Connection*> connections;
  std::list<Subscriber*> subscribers;

  // Decoding scratch, reused by every call (the loop runs one call at a time).
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

  rpc::ServerInfo::Builder FillInfo(rpc::ServerInfo::Builder out) const;
  // Pushes durable changes to every subscriber that is ready for more.
  void PumpSubscriptions();
  // Ends every subscription (shutdown).
  void EndSubscriptions(kj::StringPtr reason);
};

// The bootstrap capability of a connection.
kj::Own<rpc::Gateway::Server> NewGateway(ServiceState& state, kj::Own<Connection> connection);

}  // namespace ledger::net::internal
