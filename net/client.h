// The C++ client of the ledger server.
//
// A Client owns one connection (TCP, optionally TLS), logged in with the server's token, and a
// thread running its event loop. Every method is thread-safe and blocking: call it from any
// number of threads.
//
// Automatic batching: Submit() coalesces the transfers of many concurrent callers into shared
// batches (up to the server's batch limit, several batches in flight), and gives each caller
// its own results. A submission (a single transfer, or a linked chain) always travels whole in
// one batch, so a chain stays atomic.
//
// Errors: a Status whose code says what to do. Unavailable: the connection is gone or the
// server is shutting down (reconnect; creates are safe to retry, ids are idempotency keys);
// a client of a replica group has already reconnected to the leader and retried until its
// failover timeout.
// ResourceExhausted: the server is busy (calls or memory in flight), or its disk is full
// (kStorageFullPayload); retry later.
// FailedPrecondition: the server refused the request (over a limit, a feed cursor out of range,
// a table at its maximum with kLedgerFullPayload; the message says which): not worth retrying
// as is. InvalidArgument: refused by the client
// itself (e.g. a submission ending with a linked transfer). Unauthenticated: wrong token, or
// the token was revoked (the server closed the connection). PermissionDenied: the token's role
// or ledgers do not allow the call (docs/operations.md, "Tokens and roles"); nothing changed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/types.h"

namespace ledger::net {

// The payload (absl::Status::GetPayload) of a Connect failure in the TLS handshake: the
// server's certificate is not trusted or holds neither the name nor the address dialled, or
// the server does not speak TLS. Its value is the reason.
inline constexpr char kTlsFailurePayload[] = "type.ledger/tls-failure";

// The payload of a create's failure because a table of the ledger is at its maximum (the
// server's --accounts-max or --transfers-max): retrying will not help. Its code is
// FailedPrecondition.
inline constexpr char kLedgerFullPayload[] = "type.ledger/ledger-full";

// The payload of a create's failure because the server's disk is full: nothing was booked,
// reads still work, and the server takes writes again by itself once space is freed, so
// retrying later helps. Its code is ResourceExhausted; the message says why.
inline constexpr char kStorageFullPayload[] = "type.ledger/storage-full";

// A transfer's status (engine/types.h, TransferStatus) with its id and its oldest reversals
// (all of them up to 64; reversal_count says how many there are).
struct TransferStatusInfo {
  TransferId id;
  TransferStatus status;
  std::vector<TransferId> reversals;
};

struct ClientOptions {
  std::string address = "127.0.0.1:7700";  // host:port
  // A replica group (docs/replication.md) instead of `address`: its members' client addresses,
  // or etcd's endpoints with the group's name (both may be given). The client connects to
  // the leader and follows it: a call that fails as Unavailable (the connection broke, the
  // server is no longer the leader, the group has fewer than two members in sync) reconnects
  // to the current leader and runs again, until failover_timeout_ns has passed. A create that
  // ran again answers `exists` for each event its lost first attempt had booked.
  std::vector<std::string> addresses;
  std::vector<std::string> etcd_endpoints;  // host:port
  std::string replica_group;
  uint64_t failover_timeout_ns = 15'000'000'000;
  // A call unanswered this long fails as Unavailable, its outcome unknown (0: never). Meant for
  // a group: a leader that stopped without closing its connections (paused, or cut off by the
  // network) would hold a call for as long as TCP takes to give up; then the call runs again
  // on the next leader. Above the group's --lag-max-ms, which a write may wait out. 0: never
  // for one server, 3 s for a group. With etcd_endpoints, a call unanswered for 1 s also ends
  // (the same way) once etcd's election has a new leader.
  uint64_t call_timeout_ns = 0;
  std::string token;
  // PEM file of the certificate authority (or the server's self-signed certificate) to trust.
  // Set: the connection uses TLS.
  std::string tls_ca_file;
  // PEM certificate and key this client presents (mutual TLS: a server with --tls-client-ca
  // maps the certificate's common name to a role; log in with an empty token then).
  std::string tls_certificate_file;
  std::string tls_key_file;
  // Expected in the server's certificate. Default: the host; an address (127.0.0.1, ::1) is
  // then matched against the certificate's IP addresses.
  std::string tls_server_name;
  // A replica group's member answers this client's reads even when it does not lead: from
  // what the group has committed as far as the member knows, possibly behind the leader (a
  // server before schema 5 ignores it). Writes still need the leader.
  bool stale_reads = false;
  uint32_t submit_batch_events_max = 0;  // Submit's batches; 0: the server's limit
  uint32_t submit_inflight_batches_max = 4;
  // Send transfers as packed records (createTransfersPacked) when the server has them; false
  // sends List(Transfer), as clients without the packed form do (benchmarks compare the two).
  bool packed_transfers = true;
  // Turns on a core for the client's I/O thread (base::SetThisThreadSliceNs; 0: the kernel's),
  // for a caller that times its calls on a machine whose cores are busy: a reply then wakes the
  // thread at once rather than up to a turn later.
  uint64_t io_slice_ns = 0;
};

template <typename Code>
struct EventResult {
  Code status{};
  uint64_t timestamp_ns = 0;  // booking timestamp when ok (or exists); else 0
};
using LedgerResult = EventResult<CreateLedgerResult>;
using AccountResult = EventResult<CreateAccountResult>;
using TransferResult = EventResult<CreateTransferResult>;

struct ServerLimitsInfo {
  uint32_t batch_events_max = 0;
  uint32_t query_ids_max = 0;
  uint32_t query_results_max = 0;
  uint64_t message_bytes_max = 0;
  uint32_t inflight_calls_max = 0;
  uint64_t feed_retention = 0;
};

struct ServerInfo {
  uint32_t schema_version = 0;
  ServerLimitsInfo limits;
  uint32_t shard_count = 0;
  uint64_t last_op = 0;
};

template <typename Record>
struct Page {
  std::vector<Record> records;
  uint64_t next_timestamp_ns = 0;  // the next page's cursor (see AccountFilter); 0: last page
};

// One entry of the change feed, as the server sends it.
struct FeedChange {
  uint64_t sequence = 0;
  ChangeKind kind = ChangeKind::kSinglePhase;
  uint64_t timestamp_ns = 0;
  Transfer transfer{};
  AccountBalance debit_balance{};   // the debit account's, right after the change
  AccountBalance credit_balance{};  // the credit account's
};

struct ChangePage {
  std::vector<FeedChange> changes;
  uint64_t next_sequence = 0;
  uint64_t oldest_sequence = 0;
};

// A keyed checkpoint of the server's log head (schema 6; docs/wal-format.md, "Checkpoints").
// `line` is what an auditor verifies with the key (replica::ParseCheckpoint, or openssl); op,
// chain hash and timestamp repeat what it signs. change_sequence_next is not signed.
struct FeedCheckpoint {
  uint64_t op = 0;
  uint64_t chain_hash_high = 0;  // the line's chain=, high word first
  uint64_t chain_hash_low = 0;
  uint64_t timestamp_ns = 0;
  std::string line;  // exactly the checkpoint file's line, without its newline
  // The feed's cursor after op: the changes below it are op's or older.
  uint64_t change_sequence_next = 0;
};

// A subscription to the change feed (Client::Subscribe). The callbacks run on the client's
// thread, one at a time, in the feed's order (keep them short; the next push comes after one
// returns).
struct SubscribeOptions {
  uint64_t from_sequence = 0;
  std::function<void(std::span<const FeedChange>)> on_changes;
  // The server's keyed checkpoints too (schema 6; none from a server without a checkpoint
  // key): each after every change below its change_sequence_next, those retained at or past
  // from_sequence first. Empty: none asked for.
  std::function<void(const FeedCheckpoint&)> on_checkpoint;
  // Once, when the stream ends (the server ended it, or the connection broke).
  std::function<void(const absl::Status&)> on_end;
};

// The server a tool's flags name: `addresses` is one server's HOST:PORT or a replica group's
// members as HOST:PORT,HOST:PORT,...; `etcd_endpoints` (HOST:PORT,...) with `replica_group`
// finds a group's leader through etcd. InvalidArgument when they do not go together.
absl::Status SetServer(const std::string& addresses, const std::string& etcd_endpoints,
                       const std::string& replica_group, ClientOptions& options);

// The login token in a token file as `ledgerd init` writes it, without trailing whitespace.
// NotFound when the file cannot be read; InvalidArgument when the token is shorter than 16
// characters, which no server accepts (ledgerd refuses to start with one).
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

// As ReadTokenFile, for a server's own secrets (ledgerd's login and group tokens): also
// PermissionDenied, with the chmod that mends it, when the file's group or others may read or
// write it (mode & 077 != 0): any local user could log in with it, or replace it.
absl::StatusOr<std::string> ReadPrivateTokenFile(const std::string& path);

// A change as the HTTP API writes it (docs/http-api.md: ids and amounts as decimal strings),
// for tools that forward the feed (ledger-feed).
std::string ChangeJson(const FeedChange& change);

class Client {
 public:
  // Connects and logs in. Unauthenticated when the token is wrong, Unavailable when the server
  // cannot be reached.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(const ClientOptions& options);
  ~Client();  // waits for nothing: calls in flight fail with Unavailable

  const ServerInfo& server_info() const { return server_info_; }

  // One call = one batch = one log entry; results in order, results.size() == events.size().
  absl::Status CreateLedgers(std::span<const Ledger> events, std::span<LedgerResult> results);
  absl::Status CreateAccounts(std::span<const Account> events, std::span<AccountResult> results);
  absl::Status CreateTransfers(std::span<const Transfer> events, std::span<TransferResult> results);

  // Automatic batching (see above). `chain` is one transfer or a linked chain; its last event
  // must not have the linked flag (InvalidArgument).
  absl::StatusOr<TransferResult> Submit(const Transfer& transfer);
  absl::Status Submit(std::span<const Transfer> chain, std::span<TransferResult> results);

  // The records found, in request order; missing ids are left out.
  absl::StatusOr<std::vector<Ledger>> LookupLedgers(std::span<const uint32_t> ids);
  absl::StatusOr<std::vector<Account>> LookupAccounts(std::span<const AccountId> ids);
  // failures, when given: of the ids not found, those whose first attempt failed with a
  // recorded code (engine/types.h, FailedTransfer), in request order (schema 4; an older
  // server leaves it empty).
  absl::StatusOr<std::vector<Transfer>> LookupTransfers(
      std::span<const TransferId> ids, std::vector<FailedTransfer>* failures = nullptr);
  // What became of each transfer found (schema 3; FailedPrecondition from an older server).
  absl::StatusOr<std::vector<TransferStatusInfo>> GetTransferStatuses(
      std::span<const TransferId> ids);
  // An account's posted balances as of a value time (schema 3); FailedPrecondition when there
  // is no such account.
  absl::StatusOr<PostedAtValueTime> GetPostedAtValueTime(AccountId id, uint64_t value_time_ns);

  // filter.limit 0 means the server's page size.
  absl::StatusOr<Page<Transfer>> GetAccountTransfers(const AccountFilter& filter);
  absl::StatusOr<Page<AccountBalance>> GetAccountBalances(const AccountFilter& filter);
  // Accounts or transfers across the ledger (schema 4; FailedPrecondition from an older
  // server). filter.limit 0 means the server's page size; pages continue from
  // next_timestamp_ns as timestamp_min_ns (timestamp_max_ns when reversed).
  absl::StatusOr<Page<Account>> QueryAccounts(const QueryFilter& filter);
  absl::StatusOr<Page<Transfer>> QueryTransfers(const QueryFilter& filter);
  absl::StatusOr<TrialBalance> GetTrialBalance(uint32_t ledger);
  absl::StatusOr<ServerInfo> GetServerInfo();

  // The change feed from `from_sequence` (limit 0: the server's page size).
  absl::StatusOr<ChangePage> GetChanges(uint64_t from_sequence, uint32_t limit);

  // Streams changes from `from_sequence` on: on_changes runs on the client's thread for each
  // batch, in order (keep it short; the next batch comes after it returns). on_end runs once
  // when the stream ends (the server ended it, or the connection broke). One subscription
  // per client; ends with the client or Unsubscribe().
  absl::Status Subscribe(uint64_t from_sequence,
                         std::function<void(std::span<const FeedChange>)> on_changes,
                         std::function<void(const absl::Status&)> on_end);
  // The same with keyed checkpoints when options.on_checkpoint is set (FailedPrecondition from
  // a server before schema 6).
  absl::Status Subscribe(SubscribeOptions options);
  void Unsubscribe();

  // The keyed checkpoints the server retains (its newest 64 since it started) whose op is at
  // or after from_op, in op order; empty without a checkpoint key (schema 6;
  // FailedPrecondition from an older server).
  absl::StatusOr<std::vector<FeedCheckpoint>> Checkpoints(uint64_t from_op);

  class Impl;
  class Connections;

 private:
  explicit Client(std::unique_ptr<Connections> connections);
  std::unique_ptr<Connections> connections_;
  ServerInfo server_info_;
};

}  // namespace ledger::net
