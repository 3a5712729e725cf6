// A small etcd v3 client: the keys, leases, elections and compare-and-set transactions that a
// replica group's coordination needs (docs/replication.md), and nothing of the data path.
//
// It speaks etcd's JSON gateway (POST /v3/..., served by every etcd 3.4 member on its client
// port) over KJ's HTTP client, on the caller's event loop: no gRPC runtime, no threads of its
// own. Keys and values travel base64-encoded, 64-bit numbers as decimal strings, as the
// gateway's protobuf-JSON mapping requires.
//
// Errors: Unavailable when no endpoint answered within the request timeout (every endpoint is
// tried in turn, starting from the last that answered). A write that ends Unavailable is
// indefinite (etcd may still apply it): what must happen once goes through PutIf.
// FailedPrecondition for etcd's own refusals (an unknown or expired lease, for instance); DataLoss
// when an answer is not the JSON etcd sends. A call never throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kj/async-io.h"
#include "kj/compat/http.h"

namespace ledger::cluster {

struct EtcdOptions {
  std::vector<std::string> endpoints;  // host:port of etcd members' client URLs (plain HTTP)
  // One request's bound, per endpoint tried. A campaign waits longer (Campaign's wait_ns).
  uint64_t request_timeout_ns = 1'000'000'000;
  // An answer larger than this is refused (etcd's own request limit is 1.5 MiB).
  uint64_t response_bytes_max = 4u << 20;
};

struct EtcdKeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;  // the revision that created the key (0: never)
  int64_t mod_revision = 0;     // the revision of its last change
  int64_t lease = 0;            // 0: none
};

// A condition of a transaction: a key's revision is `revision` (0: the key is absent).
struct EtcdCondition {
  enum class Target { kCreateRevision, kModRevision };
  std::string key;
  Target target = Target::kModRevision;
  int64_t revision = 0;
};

// A won election: the leader key etcd made for this campaign. Its create revision is unique
// and grows with every new leader of any election: the group's epoch.
struct EtcdLeadership {
  std::string election;
  std::string key;
  int64_t create_revision = 0;
  int64_t lease = 0;
};

class EtcdClient {
 public:
  // io: borrowed for the client's lifetime; every call runs on its event loop.
  EtcdClient(kj::AsyncIoProvider& io, EtcdOptions options);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // The store's revision after the put.
  kj::Promise<absl::StatusOr<int64_t>> Put(std::string key, std::string value, int64_t lease = 0);
  // The key's value, or nullopt when it is absent.
  kj::Promise<absl::StatusOr<std::optional<EtcdKeyValue>>> Get(std::string key);
  // Puts `value` at `key` only if every condition holds, in one transaction. False when one
  // did not (another write came first): nothing was changed.
  kj::Promise<absl::StatusOr<bool>> PutIf(std::vector<EtcdCondition> conditions, std::string key,
                                          std::string value);

  // A lease of `ttl_s` seconds; its id.
  kj::Promise<absl::StatusOr<int64_t>> GrantLease(int64_t ttl_s);
  // Renews the lease; its remaining time to live in seconds, 0 when it has already expired
  // (or was revoked): whatever it held is gone.
  kj::Promise<absl::StatusOr<int64_t>> KeepAlive(int64_t lease);
  kj::Promise<absl::Status> RevokeLease(int64_t lease);

  // Waits up to `wait_ns` to lead `election` with `value`, tied to `lease` (its expiry ends the
  // leadership). DeadlineExceeded when another leader held on throughout.
  kj::Promise<absl::StatusOr<EtcdLeadership>> Campaign(std::string election, int64_t lease,
                                                       std::string value, uint64_t wait_ns);
  // The election's current leader, or nullopt when it has none.
  kj::Promise<absl::StatusOr<std::optional<EtcdKeyValue>>> Leader(std::string election);
  kj::Promise<absl::Status> Resign(const EtcdLeadership& leadership);

 private:
  class Impl;
  kj::Own<Impl> impl_;
};

}  // namespace ledger::cluster
