// The server ledger-bench drives: one it starts on a temporary data directory (and stops), and
// the metrics endpoint it reads the server's CPU time and memory from.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ledger::bench {

class SpawnedServer {
 public:
  // Initialises a data directory under $TMPDIR (or /tmp) and starts `ledgerd` on loopback with
  // an ephemeral RPC and metrics port, passing `extra_flags`; returns once it listens. The
  // server dies with this process (PR_SET_PDEATHSIG) and is stopped by the destructor.
  static absl::StatusOr<std::unique_ptr<SpawnedServer>> Start(
      const std::string& ledgerd_binary, uint64_t accounts_capacity, uint64_t transfers_capacity,
      const std::vector<std::string>& extra_flags);
  ~SpawnedServer();

  const std::string& address() const { return address_; }
  const std::string& metrics_address() const { return metrics_address_; }
  const std::string& http_address() const { return http_address_; }  // empty: not served
  const std::string& token_file() const { return token_file_; }
  // SIGTERM and wait: a clean shutdown (it snapshots). The exit code, or 128 + signal.
  int Stop();

 private:
  SpawnedServer() = default;
  std::string directory_;
  std::string address_;
  std::string metrics_address_;
  std::string http_address_;
  std::string token_file_;
  pid_t pid_ = -1;
};

// The server's process metrics, from its Prometheus endpoint.
struct ServerStats {
  uint64_t cpu_ns = 0;
  uint64_t rss_bytes = 0;
};
absl::StatusOr<ServerStats> ScrapeServerStats(const std::string& metrics_address);

// tools/ledgerd beside this binary's directory (the build tree's layout).
std::string DefaultLedgerdBinary();

}  // namespace ledger::bench
