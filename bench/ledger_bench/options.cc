#include "bench/ledger_bench/options.h"

#include <functional>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/shard.h"

namespace ledger::bench {
namespace {

constexpr char kUsage[] = R"(ledger-bench: drives ledgerd over RPC and reports what it measured.

Usage: ledger-bench [flags]

Server (default: start ledgerd on a temporary data directory, stop it at the end):
  --address HOST:PORT      drive a running server instead; a replica group's members as
                           HOST:PORT,HOST:PORT,... (the client follows the leader)
  --etcd HOST:PORT,...     with --replica-group NAME: find a group's leader through etcd
  --token-file FILE        its token (required with --address)
  --metrics HOST:PORT      its metrics endpoint, for server RSS and CPU per transfer
  --ledgerd FILE           the ledgerd to start (default: tools/ledgerd beside this binary)
  --server-flag FLAG       an extra flag for the started ledgerd (repeat; e.g. --feed-retention=0)

Workload (defaults: 10,000 accounts, 10,000,000 transfers, batches of 8,190, uniform):
  --accounts N  --transfers N  --batch N
  --connections N          concurrent connections (default 2)
  --inflight N             batches outstanding per connection (default 1)
  --rate N                 open loop at N transfers/s (default 0: closed loop)
  --distribution D         uniform | zipf | hot
  --zipf-skew S            Zipf exponent (default 1.0)
  --hot-accounts N         the hot set's size (default 100)
  --hot-share P            share of transfers within the hot set (default 0.9)
  --pending P              share of transfers that are pending (default 0)
  --post P --void P --expire P   of the pending: posted, voided, left to expire (1 s timeout);
                           the rest stays pending (defaults 0.5, 0.3, 0.1)
  --chains P               share of transfers that begin a linked chain of 2 to 4 (default 0)
  --resubmit-share P       share of transfers that resubmit an acknowledged one, any age, and
                           expect exists (default 0)
  --cross-shard P          share of transfers between accounts on different shards (default 0)
  --shards N               the shard count that share is about (default: the server's);
                           a server started here gets it too
  --id-order O             sequential | random (default sequential)
  --seed N                 (default 1)
  --wire W                 packed (createTransfersPacked, the default) | list (List(Transfer))

Measurement and output:
  --queries N              history lookups timed after the load (default 1000)
  --cold-queries N         during the load, up to N lookups of transfers from the run's first
                           half and N pages of their debit account's history up to them (old:
                           in the cold store once the server's window has moved on), timed,
                           each beside an info call's round trip, the floor for any call
                           (default 0)
  --cold-age N             with --cold-queries: only transfers at least N transfers older than
                           the newest acknowledged (give the server's --hot-transfers to time
                           cold ones only; default 0: the first half)
  --query-slice-us N       with --cold-queries: turns of N µs on a core for the thread that
                           times them and its connection's thread (0: the kernel's; default 0),
                           so on a machine the load keeps busy they wake at once
  --sample-accounts N      accounts whose balances are checked (default 1024)
  --json FILE              the report as JSON
  --chart FILE.svg         throughput over time and latency percentiles
  --no-progress            no progress bar (there is none when stderr is not a terminal)

Exit status: 0 the run validated, 1 it could not run (the server, the network, a file),
2 the ledger's answers differed from the generator's, 64 a bad flag.
)";

using Setter = std::function<absl::Status(const std::string&)>;

template <typename Int>
Setter Number(const std::string& name, Int* out, uint64_t min, uint64_t max) {
  return [name, out, min, max](const std::string& text) {
    uint64_t value = 0;
    if (!absl::SimpleAtoi(text, &value) || value < min || value > max) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be a whole number in ", min, "..", max, ", not '", text, "'"));
    }
    *out = static_cast<Int>(value);
    return absl::OkStatus();
  };
}

// Shares are fractions; the generator draws against them (no money involved).
Setter Share(const std::string& name, double* out, double max = 1.0) {
  return [name, out, max](const std::string& text) {
    double value = 0;
    if (!absl::SimpleAtod(text, &value) || !(value >= 0 && value <= max)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be a number in 0..", max, ", not '", text, "'"));
    }
    *out = value;
    return absl::OkStatus();
  };
}

Setter Text(std::string* out) {
  return [out](const std::string& text) {
    *out = text;
    return absl::OkStatus();
  };
}

template <typename Enum>
Setter Choice(const std::string& name, Enum* out, std::map<std::string, Enum> choices) {
  return [name, out, choices](const std::string& text) {
    auto it = choices.find(text);
    if (it == choices.end()) {
      std::string names;
      for (const auto& [choice, value] : choices) absl::StrAppend(&names, " ", choice);
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be one of", names, ", not '", text, "'"));
    }
    *out = it->second;
    return absl::OkStatus();
  };
}

absl::Status Check(const BenchOptions& options) {
  if (options.etcd_endpoints.empty() != options.replica_group.empty()) {
    return absl::InvalidArgumentError("--etcd and --replica-group go together");
  }
  if (!options.etcd_endpoints.empty() && options.address.empty()) {
    return absl::InvalidArgumentError("--etcd drives a running group: give --address too");
  }
  if (!options.address.empty() && options.token_file.empty()) {
    return absl::InvalidArgumentError("--address needs --token-file");
  }
  if (options.address.empty() &&
      (!options.token_file.empty() || !options.metrics_address.empty())) {
    return absl::InvalidArgumentError("--token-file and --metrics go with --address");
  }
  if (options.post_share + options.void_share + options.expire_share > 1.0 + 1e-9) {
    return absl::InvalidArgumentError("--post, --void and --expire add up to more than 1");
  }
  if (options.accounts < 2) return absl::InvalidArgumentError("--accounts must be at least 2");
  if (options.distribution == Distribution::kHot &&
      (options.hot_accounts < 2 || options.hot_accounts > options.accounts)) {
    return absl::InvalidArgumentError("--hot-accounts must be in 2..accounts");
  }
  if (options.chain_share > 0 && options.batch_events < 4) {
    return absl::InvalidArgumentError("--chains needs batches of at least 4");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BenchOptions> ParseOptions(const std::vector<std::string>& args) {
  BenchOptions options;
  constexpr uint64_t kMax = ~uint64_t{0};
  std::map<std::string, Setter> flags = {
      {"--address", Text(&options.address)},
      {"--token-file", Text(&options.token_file)},
      {"--etcd", Text(&options.etcd_endpoints)},
      {"--replica-group", Text(&options.replica_group)},
      {"--metrics", Text(&options.metrics_address)},
      {"--ledgerd", Text(&options.ledgerd_binary)},
      {"--server-flag",
       [&](const std::string& text) {
         options.server_flags.push_back(text);
         return absl::OkStatus();
       }},
      {"--accounts", Number("--accounts", &options.accounts, 2, uint64_t{1} << 31)},
      {"--transfers", Number("--transfers", &options.transfers, 1, uint64_t{1} << 40)},
      {"--batch", Number("--batch", &options.batch_events, 1, 8190)},
      {"--connections", Number("--connections", &options.connections, 1, 256)},
      {"--inflight", Number("--inflight", &options.inflight_per_connection, 1, 64)},
      {"--rate", Number("--rate", &options.rate_per_s, 0, kMax)},
      {"--distribution", Choice("--distribution", &options.distribution,
                                {{"uniform", Distribution::kUniform},
                                 {"zipf", Distribution::kZipf},
                                 {"hot", Distribution::kHot}})},
      {"--zipf-skew", Share("--zipf-skew", &options.zipf_skew, 10.0)},
      {"--hot-accounts", Number("--hot-accounts", &options.hot_accounts, 2, uint64_t{1} << 31)},
      {"--hot-share", Share("--hot-share", &options.hot_share)},
      {"--pending", Share("--pending", &options.pending_share)},
      {"--post", Share("--post", &options.post_share)},
      {"--void", Share("--void", &options.void_share)},
      {"--expire", Share("--expire", &options.expire_share)},
      {"--chains", Share("--chains", &options.chain_share)},
      {"--resubmit-share", Share("--resubmit-share", &options.resubmit_share)},
      {"--cross-shard", Share("--cross-shard", &options.cross_shard_share)},
      {"--shards", Number("--shards", &options.shards, 0, engine::kShardsMax)},
      {"--id-order", Choice("--id-order", &options.id_order,
                            {{"sequential", IdOrder::kSequential}, {"random", IdOrder::kRandom}})},
      {"--seed", Number("--seed", &options.seed, 0, kMax)},
      {"--wire", Choice("--wire", &options.packed, {{"packed", true}, {"list", false}})},
      {"--queries", Number("--queries", &options.queries, 0, 1'000'000)},
      {"--cold-queries", Number("--cold-queries", &options.cold_queries, 0, 1'000'000)},
      {"--cold-age", Number("--cold-age", &options.cold_age, 0, uint64_t{1} << 40)},
      {"--query-slice-us", Number("--query-slice-us", &options.query_slice_us, 0, 100'000)},
      {"--sample-accounts", Number("--sample-accounts", &options.sample_accounts, 0, 1'000'000)},
      {"--json", Text(&options.json_file)},
      {"--chart", Text(&options.chart_file)},
  };
  for (size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    if (name == "--help" || name == "-h") return absl::NotFoundError(kUsage);
    if (name == "--no-progress") {
      options.progress = false;
      continue;
    }
    std::string value;
    bool has_value = false;
    if (const size_t equals = name.find('='); name.rfind("--", 0) == 0 && equals != name.npos) {
      value = name.substr(equals + 1);
      name.resize(equals);
      has_value = true;
    }
    auto it = flags.find(name);
    if (it == flags.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag '", name, "' (see --help)"));
    }
    if (!has_value) {
      if (i + 1 >= args.size())
        return absl::InvalidArgumentError(absl::StrCat(name, " needs a value"));
      value = args[++i];
    }
    if (absl::Status status = it->second(value); !status.ok()) return status;
  }
  if (absl::Status status = Check(options); !status.ok()) return status;
  return options;
}

std::string DistributionName(const BenchOptions& options) {
  switch (options.distribution) {
    case Distribution::kUniform:
      return "uniform";
    case Distribution::kZipf:
      return absl::StrFormat("zipf:%g", options.zipf_skew);
    case Distribution::kHot:
      return absl::StrFormat("hot:%d:%g", options.hot_accounts, options.hot_share);
  }
  return "?";
}

}  // namespace ledger::bench
