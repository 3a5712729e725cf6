// The ledger server: recovers the ledger from its data directory, then serves the RPC contract
// (net/ledger.capnp) until SIGTERM or SIGINT, and shuts down gracefully.
//
// Pipeline: the KJ event loop decodes a batch; it waits for its turn at the engine; the apply
// thread runs the sequencer (op number, timestamp, append to the WAL's group commit) and the
// engine's apply; back on the loop its results are encoded, and the reply goes once the WAL
// writer thread reports the entry durable (an eventfd wakes the loop). Execution overlaps the
// write in flight, and the loop goes on reading requests while a batch applies.
//
// Reads take their turn at the engine on the loop and reply once the log is durable through
// the last op applied when they ran: they see every acknowledged write, and never report one
// that a crash could still take away. Those that old history alone answers (cold transfers,
// pages that end below the cold boundary) run on a thread of their own without waiting for a
// turn (docs/architecture.md, "The server").
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "base/hash.h"
#include "engine/engine.h"

namespace ledger::net {

// A limit on everything a client controls. Past one, the call fails with a clear error (or the
// connection stops being read: back-pressure) and nothing changes.
struct ServerLimits {
  uint32_t batch_events_max = 8190;   // events per create* call (the WAL's entry limit)
  uint32_t query_ids_max = 8190;      // ids per lookup call
  uint32_t query_results_max = 8190;  // results per query page, changes per feed page
  // Largest request. A full batch of 8,190 transfers is ~1.7 MB on the wire (208 B each).
  uint64_t message_bytes_max = uint64_t{8} << 20;
  uint32_t connections_max = 256;
  uint32_t inflight_calls_max = 64;  // per connection
  // Requests received and not yet answered, all connections together. Bounds the server's
  // memory with connections_max (each connection reads at most 2 messages ahead).
  uint64_t inflight_bytes_max = uint64_t{512} << 20;
  // A connection whose unread replies exceed this is closed: its client stopped reading.
  uint64_t unsent_reply_bytes_max = uint64_t{64} << 20;
  // Replies sent and not yet finished (Cap'n Proto keeps each until the client's Finish,
  // net/internal/unfinished_replies.h): a connection holding more is closed.
  uint64_t unfinished_reply_bytes_max = uint64_t{64} << 20;
  // Replies held, unsent or unfinished, all connections together: past it, a connection
  // holding 1 MiB or more of them is closed.
  uint64_t reply_bytes_total_max = uint64_t{256} << 20;
  uint32_t login_timeout_ms = 10'000;  // unauthenticated connections are closed after this
  // Connections not logged in yet (TLS handshakes included), all addresses together and from
  // one address (an IPv6 /64), each at most connections_max. A new connection past either
  // evicts the oldest one not logged in (net/internal/admission.h says which and why), which
  // is told so. A client logs in within a round trip or two: 64 covers bursts of clients
  // starting together, and leaves three quarters of 256 connections to logged-in ones.
  uint32_t unauthenticated_max = 64;
  uint32_t unauthenticated_per_address_max = 32;
  // The HTTP/JSON API (docs/http-api.md): connections served at once (more are closed when
  // accepted), and a request body's size (413 past it). A full batch of 8,190 transfers is
  // 3 to 6 MB of JSON.
  uint32_t http_connections_max = 64;
  uint64_t http_body_bytes_max = uint64_t{16} << 20;
};

// Membership of a replica group (docs/replication.md). Without a group name the server runs
// alone, as before.
struct GroupOptions {
  std::string name;                   // the group; empty: no group
  std::vector<std::string> etcd;      // host:port of etcd members' client URLs
  std::string member;                 // this member's name in the group
  std::string replication_listen;     // host:port where it serves the replication contract
  std::string replication_advertise;  // how the others reach it; default: the bound address
  std::string token;                  // the members' shared secret
  bool bootstrap = false;             // may start a group that has no configuration yet
  int64_t lease_ttl_s = 2;
  // A follower whose durable op stays behind the leader's for this long leaves the in-sync set.
  uint64_t lag_max_ms = 2000;
  // The leader's recent entries kept for its followers (older ones are read from the log).
  uint64_t ring_bytes = uint64_t{64} << 20;
};

struct ServerOptions {
  std::string data_dir;                           // initialised with `ledgerd init`
  std::string listen_address = "127.0.0.1:7700";  // host:port; port 0 picks a free one
  // The admin token clients log in with (--token-file); may be empty with a tokens_file.
  std::string token;
  // Where `token` was read from: re-read on SIGHUP too, so the admin token can be rotated
  // without a restart. Empty: `token` as given.
  std::string token_file;
  // Tokens with roles and ledgers (net/tokens.h), re-read on SIGHUP; empty: `token` alone.
  std::string tokens_file;
  std::string metrics_address;  // host:port for GET /metrics; empty: none
  std::string metrics_token;    // not empty: /metrics wants "Authorization: Bearer <token>"
  std::string http_address;     // host:port of the HTTP/JSON API; empty: none
  // The operator console's static files, served by the HTTP API at /console/ (read whole at
  // start: net/internal/console_files.h); empty: no console. Needs http_address.
  std::string console_dir;
  // How fast verifyLog's check may read the log, bytes per second; 0: as fast as it can.
  uint64_t verify_log_bytes_per_second_max = 0;
  std::string tls_certificate_file;  // PEM; with tls_key_file, the RPC port is TLS
  std::string tls_key_file;
  // PEM CA: clients must present a certificate it signed (mutual TLS); the certificate's common
  // name finds its role in the tokens file ("cert:<name>" lines). Needs the two above.
  std::string tls_client_ca_file;
  // Once listening, "<rpc address>\n<metrics address>\n<http address>\n" goes here (an address
  // not served: an empty line).
  std::string ready_file;
  uint32_t shard_count = 1;
  uint32_t shard_threads = 0;                // 0: one per shard, at most one per core
  uint64_t snapshot_interval_ops = 100'000;  // 0: none while running
  bool snapshot_on_shutdown = true;
  // Keyed checkpoints of the log's head (replica/checkpoint.h): the key's hex text (empty:
  // none), the file they are appended to, and how often.
  std::string checkpoint_key;
  std::string checkpoint_file;
  uint64_t checkpoint_interval_ops = 100'000;
  bool use_io_uring = true;
  uint64_t accounts_capacity = 1 << 16;  // committed at start; the tables grow past it
  uint64_t transfers_capacity = 1 << 20;
  // Hard limits of each shard's tables (engine::EngineOptions): a batch past them is refused
  // with "ledger full" (kLedgerFullPayload), never half applied.
  uint64_t accounts_max = engine::EngineOptions{}.accounts_max;
  uint64_t transfers_max = engine::EngineOptions{}.transfers_max;
  uint64_t feed_retention = 1 << 20;  // changes the change feed retains (~170 B each)
  // Transfers kept in memory; older ones live in the cold store on disk (docs/cold-store.md).
  // 0: all in memory, up to transfers_max. Otherwise at least 4 batches (limits'
  // batch_events_max) per shard: the cooler starts at half, and a shard must take a whole
  // batch while a run is being written.
  uint64_t hot_transfers = 0;
  // The turns on a core (base::SetThisThreadSliceNs) of the threads that answer: the event
  // loop and the history thread. Short turns let them take a core as soon as a request or a
  // read's answer arrives, ahead of the threads that run long; 0: the kernel's default.
  uint64_t reply_slice_ns = 100'000;
  ServerLimits limits;
  GroupOptions group;
  std::function<void(std::string_view)> log;  // operator messages; default: stderr
};

// Why a member of a replica group stopped serving on its own (docs/replication.md): it lost
// its lease while leading, its log must be cut (after `cut_after_op`, whose chain hash is
// `cut_chain_hash`) before it can follow, or it holds nothing and must install its leader's
// snapshot first (from the replication address `install_from`). Either way ledgerd starts it
// again (cutting or installing first): it then follows the new leader.
struct GroupStop {
  bool restart = false;
  bool cut = false;
  uint64_t cut_after_op = 0;
  base::Hash128 cut_chain_hash;
  std::string install_from;  // empty: no install
};

// Serves until SIGTERM/SIGINT, then stops accepting, finishes and flushes the batches in
// flight, snapshots (if asked) and returns OK. Errors: the data directory cannot be opened or
// recovered, the address cannot be bound, or the log failed (then nothing more was
// acknowledged). A member of a replica group also stops on its own (`*stop` says why, and the
// status). Must be called with no other thread running (it routes the signals to its event
// loop).
absl::Status RunServer(const ServerOptions& options, GroupStop* stop = nullptr);

// A member of a replica group (options.group) installs the snapshot and cold store of the
// member whose replication port is at `address` into its data directory, which must hold
// nothing yet (replica/install.h); an install that did not finish there before is cleared
// first. On an error the directory is left marked, and the next call clears it.
absl::Status InstallSnapshotFrom(const ServerOptions& options, const std::string& address);

}  // namespace ledger::net
