// ledger-bench's command line: the workload, the server to drive, and the outputs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ledger::bench {

enum class Distribution { kUniform, kZipf, kHot };
enum class IdOrder { kSequential, kRandom };

struct BenchOptions {
  // The server: an address (with its token file) to drive a running ledgerd, or empty to start
  // one on a temporary data directory and stop it at the end.
  std::string address;         // HOST:PORT, or a replica group's members HOST:PORT,HOST:PORT,...
  std::string etcd_endpoints;  // a replica group's etcd (HOST:PORT,...), with replica_group
  std::string replica_group;
  std::string token_file;
  std::string metrics_address;  // a running server's metrics endpoint (RSS, CPU); optional
  std::string ledgerd_binary;   // the one to start; default: tools/ledgerd beside this binary
  std::vector<std::string> server_flags;  // extra flags for the started ledgerd

  // The workload. Defaults: the industry's usual benchmark.
  uint64_t accounts = 10'000;
  uint64_t transfers = 10'000'000;
  uint32_t batch_events = 8'190;
  uint32_t connections = 2;
  uint32_t inflight_per_connection = 1;  // batches outstanding per connection
  uint64_t rate_per_s = 0;               // open loop: offered transfers/s; 0: closed loop
  Distribution distribution = Distribution::kUniform;
  double zipf_skew = 1.0;
  uint64_t hot_accounts = 100;  // the hot set's size
  double hot_share = 0.9;       // of transfers touching only the hot set
  double pending_share = 0;     // of transfers that reserve; each pending is then
  double post_share = 0.5;      //   posted (some partially),
  double void_share = 0.3;      //   voided,
  double expire_share = 0.1;    //   left to expire (timeout 1 s); the rest stays pending
  double chain_share = 0;       // of transfers that begin a linked chain (2 to 4 transfers)
  // Of transfers that resubmit one acknowledged earlier (any age: in memory or cold), with the
  // same id and fields: the ledger must answer `exists`.
  double resubmit_share = 0;
  double cross_shard_share = 0;  // of transfers whose two accounts live on different shards
  uint32_t shards = 0;           // shard count the cross-shard share is about; 0: the server's
  IdOrder id_order = IdOrder::kSequential;
  uint64_t seed = 1;

  bool packed = true;  // --wire packed (createTransfersPacked) or list (List(Transfer))

  uint32_t queries = 1'000;          // history lookups timed after the load
  uint32_t cold_queries = 0;         // old lookups and history pages timed during the load
  uint64_t cold_age = 0;             // their transfers at least this many older; 0: first half
  uint32_t query_slice_us = 0;       // turns on a core for the threads timing them; 0: kernel's
  uint32_t sample_accounts = 1'024;  // accounts whose balances are checked at the end

  std::string json_file;
  std::string chart_file;
  bool progress = true;
};

// Parses argv (without argv[0]). InvalidArgument with a message naming the flag; "--help"
// gives NotFound carrying the usage text.
absl::StatusOr<BenchOptions> ParseOptions(const std::vector<std::string>& args);

// A short description of the workload for reports ("zipf:1.0", "hot:100:0.9").
std::string DistributionName(const BenchOptions& options);

}  // namespace ledger::bench
