// ledgerd: the ledger server.
//
//   ledgerd init --data-dir DIR        create a data directory and its login token
//   ledgerd [run] --data-dir DIR ...   serve it (see --help)
//
// Exit codes: 0 clean shutdown, 64 usage (or a token file others may open, or a tokens file
// that does not parse), 66 the data
// directory or token file is missing or not initialised,
// 69 the address cannot be bound or another server holds the directory, 74 the log failed or
// is corrupt, 70 anything else.
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/assert.h"
#include "engine/shard.h"
#include "net/client.h"
#include "net/server.h"
#include "net/tokens.h"
#include "replica/install.h"
#include "replica/recovery.h"
#include "wal/directory.h"

namespace ledger::tools {
namespace {

constexpr int kExitUsage = 64;
constexpr int kExitNoInput = 66;
constexpr int kExitUnavailable = 69;
constexpr int kExitSoftware = 70;
constexpr int kExitCantCreate = 73;
constexpr int kExitIo = 74;
constexpr size_t kTokenBytes = 32;  // 256 bits: not guessable at any login rate

constexpr const char* kUsage = R"(usage:
  ledgerd init [--data-dir DIR] [--token-file FILE] [--segment-size-mib N]
              [--checkpoint-key-file FILE]
      Creates the data directory (default: data; mode 0700, and everything the server
      writes in it is 0600) and a random login token (default: DIR/token, mode 0600);
      with --checkpoint-key-file, a random checkpoint key there too (mode 0600; keep it
      outside the data directory).
  ledgerd [run] [flags]
      Recovers the ledger in the data directory and serves it until SIGTERM or SIGINT;
      SIGHUP re-reads --tokens-file and --token-file.

flags for run:
  --data-dir DIR              data directory created by `ledgerd init` (default: data)
  --listen HOST:PORT          RPC address (default: 127.0.0.1:7700; port 0 picks one)
  --token-file FILE           an admin login token (default: DIR/token, unless
                              --tokens-file is given); refused (exit 64) when group or others
                              may read or write it: chmod 600 FILE
  --tokens-file FILE          login tokens with roles, one a line (docs/operations.md,
                              "Tokens and roles"):
                                <read|write|admin> <token> [ledgers=<id>,...]  [# comment]
                              read: lookups, queries, the change feed; write: also creates;
                              admin: also imports (past timestamps). ledgers=
                              limits a token to those ledgers. Mode 0600 as --token-file;
                              one that does not parse is refused (exit 64). SIGHUP re-reads
                              it: revoked tokens' connections are closed; a file that does
                              not parse keeps the tokens in use (the log says why)
  --metrics HOST:PORT         serve Prometheus metrics at http://HOST:PORT/metrics
  --metrics-token-file FILE   /metrics then answers only requests with the header
                              "Authorization: Bearer <token in FILE>" (401 otherwise); mode
                              0600, as --token-file
  --http HOST:PORT            serve the HTTP/JSON API at http://HOST:PORT/v1/ (docs/http-api.md;
                              bearer tokens as the RPC port's); a port alone binds loopback
  --console-dir DIR           serve the operator console's files in DIR at /console/ on
                              --http (read whole at start: index.html needed, at most 512
                              files and 64 MiB, no symbolic links; docs/http-api.md)
  --max-http-connections N    HTTP connections served at once (default 64); more are closed
  --verify-log-max-bytes-per-second N
                              how fast verifyLog's check reads the log (default 0: as fast
                              as it can; docs/operations.md)
  --max-http-body-bytes N     largest HTTP request body (default 16777216; 413 past it)
  --checkpoint-key-file FILE --checkpoint-file FILE
                              sign the log's head with this key (HMAC-SHA-256) every
                              --checkpoint-interval-ops ops (default 100000) and at shutdown,
                              appending to FILE; both outside the data directory
                              (docs/wal-format.md, "Checkpoints"; ledger-wal verify --key)
  --tls-cert FILE --tls-key FILE
                              serve RPC over TLS with this PEM certificate and key
  --tls-client-ca FILE        mutual TLS: clients must present a certificate this PEM CA
                              signed; its subject's common name NAME gets the role of the
                              tokens file's "cert:NAME" line (log in with an empty token)
  --shards N                  shards (1 to 16, default 1; docs/shards.md)
  --shard-threads N           threads applying them: 0 = one per shard, at most one per core
                              (default 0; at most --shards)
  --snapshot-interval-ops N   snapshot every N ops (default 100000; 0: never while running)
  --no-snapshot-on-shutdown   skip the snapshot at a graceful shutdown
  --no-io-uring               write the log with pwrite + fdatasync
  --reply-slice-us N          turns on a core, in microseconds, of the threads that answer
                              (the event loop, the history thread): short turns let them take
                              a core as soon as a request arrives, on Linux 6.12 and later
                              (default 100, the kernel's least; 0: the kernel's default)
  --accounts-capacity N       accounts to commit memory for at start (default 65536)
  --transfers-capacity N      transfers to commit memory for at start (default 1048576)
  --accounts-max N            accounts a shard holds at most (default 67108864); past it,
                              creates are refused with "ledger full"
  --transfers-max N           with --hot-transfers 0: transfers and recorded failures a
                              shard holds at most (default 268435456)
  --feed-retention N          changes the change feed retains (default 1048576)
  --hot-transfers N|auto      transfers kept in memory; older ones move to the cold store in
                              DIR/cold (docs/cold-store.md). auto (the default): about an
                              eighth of the machine's memory at ~384 bytes each (8M on
                              24 GiB); 0: all in memory, up to --transfers-max
  --max-batch-events N        events per create call (default and most: 8190)
  --max-query-ids N           ids per lookup (default 8190)
  --max-query-results N       results per query page (default 8190)
  --max-message-bytes N       largest request (default 8388608)
  --max-connections N         concurrent connections (default 256); when all are logged in,
                              a new one is refused and told why
  --max-unauthenticated N     connections not logged in yet (default 64, at most
                              --max-connections); past it, the oldest of them (of the address
                              holding the most) is closed to admit the new one, and told why
  --max-unauthenticated-per-address N
                              the same from one address (an IPv6 /64) (default 32); past it, that
                              address's oldest is closed
  --max-inflight-calls N      calls in flight per connection (default 64)
  --max-inflight-bytes N      request bytes in flight, all connections (default 536870912)
  --max-unfinished-reply-bytes N
                              replies sent and never finished (Cap'n Proto Finish) one
                              connection may hold; past it, it is closed (default 67108864)
  --max-reply-bytes-total N   replies held, unsent or never finished, all connections
                              together; past it, a connection holding 1 MiB or more of them is
                              closed (default 268435456)
  --login-timeout-ms N        close connections not logged in after N ms (default 10000)
  --ready-file FILE           write the bound addresses (RPC, metrics, HTTP; one a line, empty
                              when not served) here once listening
  --help                      this text

flags for a replica group (docs/replication.md; all of the first five, or none):
  --replica-group NAME        the group this member belongs to
  --etcd HOST:PORT[,...]      etcd members' client addresses
  --member NAME               this member's name in the group
  --replication-listen HOST:PORT   where the other members reach it (port 0 picks one)
  --group-token-file FILE     the members' shared secret (mode 0600, as --token-file)
  --replication-advertise HOST:PORT  the address the others dial, if not the bound one
  --bootstrap-group           may start a group that has no configuration in etcd yet
  --lag-max-ms N              a follower lagging this long leaves the in-sync set (default 2000)
  --replication-ring-bytes N  recent entries kept in memory for followers; older ones are read
                              from the log (default 67108864; at least two 4 MiB chunks)
  --lease-ttl-s N             the member's etcd lease (default 2))
)";

struct UsageError {
  std::string message;
};

class Flags {
 public:
  Flags(int argc, char** argv, int first) {
    for (int i = first; i < argc; ++i) args_.emplace_back(argv[i]);
  }

  // Runs `on_value` for each --name VALUE (or --name=VALUE), `on_switch` for value-less ones.
  std::string Parse(const std::map<std::string, std::function<void(const std::string&)>>& values,
                    const std::map<std::string, std::function<void()>>& switches) {
    for (size_t i = 0; i < args_.size(); ++i) {
      std::string name = args_[i];
      std::string value;
      bool has_value = false;
      if (const size_t equals = name.find('='); equals != std::string::npos) {
        value = name.substr(equals + 1);
        name = name.substr(0, equals);
        has_value = true;
      }
      if (auto it = switches.find(name); it != switches.end() && !has_value) {
        it->second();
        continue;
      }
      auto it = values.find(name);
      if (it == values.end()) return absl::StrCat("unknown flag ", args_[i]);
      if (!has_value) {
        if (i + 1 >= args_.size()) return absl::StrCat(name, " needs a value");
        value = args_[++i];
      }
      it->second(value);
    }
    return "";
  }

 private:
  std::vector<std::string> args_;
};

template <typename Int>
std::function<void(const std::string&)> Number(const char* name, Int* out, uint64_t min,
                                               uint64_t max) {
  return [name, out, min, max](const std::string& text) {
    uint64_t value = 0;
    if (!absl::SimpleAtoi(text, &value) || value < min || value > max) {
      throw UsageError{
          absl::StrCat(name, " must be a whole number in ", min, "..", max, ", not '", text, "'")};
    }
    *out = static_cast<Int>(value);
  };
}

std::function<void(const std::string&)> Text(std::string* out) {
  return [out](const std::string& text) { *out = text; };
}

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "ledgerd: %s\n", message.c_str());
  return code;
}

std::string Hex(const unsigned char* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  for (size_t i = 0; i < size; ++i) {
    text += kDigits[bytes[i] >> 4];
    text += kDigits[bytes[i] & 15];
  }
  return text;
}

absl::Status WriteNewToken(const std::string& path) {
  unsigned char bytes[kTokenBytes];
  if (getrandom(bytes, sizeof(bytes), 0) != static_cast<ssize_t>(sizeof(bytes))) {
    return absl::InternalError(absl::StrCat("getrandom: ", std::strerror(errno)));
  }
  const std::string token = Hex(bytes, sizeof(bytes)) + "\n";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return absl::ErrnoToStatus(errno, path);
  // 0600 whatever the umask: `ledgerd run` refuses a token file others may open.
  if (fchmod(fd, 0600) != 0) {
    const int error = errno;
    close(fd);
    return absl::ErrnoToStatus(error, path);
  }
  const bool written = write(fd, token.data(), token.size()) == static_cast<ssize_t>(token.size());
  const bool synced = fsync(fd) == 0;
  close(fd);
  if (!written || !synced) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

// What the operator can mend (a missing parent, an occupied path, permissions, a full disk)
// is 73, "cannot create"; anything else an I/O error.
int InitExitCode(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return kExitUsage;
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kResourceExhausted:
      return kExitCantCreate;
    default:
      return kExitIo;
  }
}

int Init(Flags& flags) {
  std::string data_dir = "data";
  std::string token_file;
  std::string checkpoint_key_file;
  uint64_t segment_size_mib = 256;
  const std::string error = flags.Parse(
      {{"--data-dir", Text(&data_dir)},
       {"--token-file", Text(&token_file)},
       {"--checkpoint-key-file", Text(&checkpoint_key_file)},
       {"--segment-size-mib", Number("--segment-size-mib", &segment_size_mib, 4, 1 << 16)}},
      {});
  if (!error.empty()) return Fail(kExitUsage, absl::StrCat(error, "\n", kUsage));
  if (token_file.empty()) token_file = data_dir + "/token";
  wal::InitOptions options;
  options.segment_size_bytes = segment_size_mib << 20;
  if (absl::Status status = wal::Directory::Init(data_dir, options); !status.ok()) {
    return Fail(InitExitCode(status),
                absl::StrCat("cannot initialise ", data_dir, ": ", std::string(status.message())));
  }
  // Directory::Init creates the directory for its owner only, but may take an empty one that
  // exists: that one is closed too.
  if (chmod(data_dir.c_str(), 0700) != 0) {
    return Fail(kExitCantCreate, absl::StrCat("cannot make ", data_dir,
                                              " its owner's only: ", std::strerror(errno)));
  }
  if (absl::Status status = WriteNewToken(token_file); !status.ok()) {
    return Fail(InitExitCode(status),
                absl::StrCat("cannot write the token: ", std::string(status.message())));
  }
  std::printf("initialised %s; login token in %s\n", data_dir.c_str(), token_file.c_str());
  if (!checkpoint_key_file.empty()) {
    if (absl::Status status = WriteNewToken(checkpoint_key_file); !status.ok()) {
      return Fail(InitExitCode(status),
                  absl::StrCat("cannot write the checkpoint key: ", std::string(status.message())));
    }
    std::printf("checkpoint key in %s\n", checkpoint_key_file.c_str());
  }
  return 0;
}

int ExitCodeOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return kExitUsage;
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
      return kExitNoInput;
    case absl::StatusCode::kUnavailable:
      return kExitUnavailable;
    case absl::StatusCode::kDataLoss:
      return kExitIo;
    default:
      return kExitSoftware;
  }
}

// --hot-transfers auto: an eighth of physical memory at ~384 bytes per transfer in the window
// (its record, index entries, two history entries and query-index entries, with the tables'
// slack), in whole millions, at least 4 batches per shard. An eighth, not a quarter: at 150M
// transfers a window of 8M booked as fast as one of 16M, with 2.6 GiB resident against 4.3
// and recovery in 5 to 10 s against 13 to 18 (restoring the window is most of a recovery), and
// the rest of memory is left to the cold store's filter (2 bytes per cold transfer) and the
// page cache its reads go through (docs/benchmarks.md).
uint64_t AutoHotTransfers(const net::ServerOptions& options) {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_bytes = sysconf(_SC_PAGE_SIZE);
  const uint64_t memory_bytes =
      pages > 0 && page_bytes > 0 ? uint64_t(pages) * uint64_t(page_bytes) : uint64_t{4} << 30;
  const uint64_t millions = memory_bytes / 8 / 384 / 1'000'000;
  return std::max<uint64_t>(millions * 1'000'000,
                            4 * options.limits.batch_events_max * options.shard_count);
}

// A token file others may read or write is a wrong setting (64, like a wrong flag); one that
// is missing or too short, 66.
int TokenExitCode(const absl::Status& status) {
  return absl::IsPermissionDenied(status) ? kExitUsage : kExitNoInput;
}

// A data directory made before its files were its owner's only (or opened up by hand) still
// serves; the operator is told how to close it. Its older files keep their modes.
void WarnIfOpenToOthers(const std::string& data_dir) {
  struct stat status {};
  if (stat(data_dir.c_str(), &status) != 0 || (status.st_mode & 077) == 0) return;
  std::fprintf(stderr,
               "ledgerd: warning: the data directory %s is open to others than its owner (mode "
               "%04o): they may read every transaction in its log; run: chmod -R go= %s\n",
               data_dir.c_str(), status.st_mode & 07777u, data_dir.c_str());
}

// Empty when the group flags are all given or all absent; else what is wrong.
std::string GroupProblem(const net::GroupOptions& group, bool group_token_given) {
  const bool any = !group.name.empty() || !group.etcd.empty() || !group.member.empty() ||
                   !group.replication_listen.empty() || group_token_given;
  if (!any) return {};
  if (group.name.empty() || group.etcd.empty() || group.member.empty() ||
      group.replication_listen.empty() || !group_token_given) {
    return "a replica group needs --replica-group, --etcd, --member, --replication-listen and "
           "--group-token-file";
  }
  return {};
}

// A replica group's member whose log is damaged before its end: it keeps what lies before the
// damage, takes the rest from the leader again, and leads only once caught up (the REPAIR
// file). The op its log now ends with.
absl::StatusOr<uint64_t> RepairDamagedLog(const std::string& data_dir) {
  LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<wal::Directory> directory,
                          wal::Directory::Open(data_dir, /*writable=*/true));
  LEDGER_RETURN_IF_ERROR(directory->SetRepairPending(true));
  return replica::CutDamagedLog(*directory);
}

// A member's install of its leader's snapshot that did not finish (a crash, a leader gone)
// is cleared before the member starts: it then holds nothing and is told to install again.
absl::Status ClearUnfinishedInstall(const std::string& data_dir) {
  LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<wal::Directory> directory,
                          wal::Directory::Open(data_dir, /*writable=*/true));
  LEDGER_ASSIGN_OR_RETURN(const bool pending, directory->InstallPending());
  if (!pending) return absl::OkStatus();
  std::fprintf(stderr, "ledgerd: clearing a snapshot install that did not finish\n");
  return replica::AbandonInstall(*directory);
}

// Serves; a member of a replica group that stepped down, or whose log must be cut first, or
// that must install its leader's snapshot first, starts again in this process (cutting or
// installing first): it then follows the new leader. One whose log is damaged cuts the damage
// off and starts again, once.
int Serve(const net::ServerOptions& options) {
  bool repaired = false;
  for (;;) {
    if (!options.group.name.empty()) {
      const absl::Status cleared = ClearUnfinishedInstall(options.data_dir);
      if (!cleared.ok()) return Fail(ExitCodeOf(cleared), cleared.ToString());
    }
    net::GroupStop stop;
    const absl::Status status = net::RunServer(options, &stop);
    if (!stop.restart && absl::IsDataLoss(status) && !options.group.name.empty() && !repaired) {
      repaired = true;
      const absl::StatusOr<uint64_t> kept = RepairDamagedLog(options.data_dir);
      if (kept.ok()) {
        std::fprintf(stderr,
                     "ledgerd: %s; the log was cut after op %llu, before the damage: the rest "
                     "comes from the leader again\n",
                     status.ToString().c_str(), static_cast<unsigned long long>(*kept));
        continue;
      }
      std::fprintf(stderr, "ledgerd: cannot repair the log: %s\n",
                   kept.status().ToString().c_str());
    }
    if (!stop.restart) {
      if (!status.ok()) return Fail(ExitCodeOf(status), status.ToString());
      return 0;
    }
    if (stop.cut) {
      absl::StatusOr<std::unique_ptr<wal::Directory>> directory =
          wal::Directory::Open(options.data_dir, /*writable=*/true);
      absl::Status cut = directory.status();
      if (cut.ok()) cut = replica::CutLogAfter(**directory, stop.cut_after_op, stop.cut_chain_hash);
      if (!cut.ok()) return Fail(ExitCodeOf(cut), cut.ToString());
      std::fprintf(stderr, "ledgerd: the log was cut after op %llu\n",
                   static_cast<unsigned long long>(stop.cut_after_op));
    }
    if (!stop.install_from.empty()) {
      const absl::Status installed = net::InstallSnapshotFrom(options, stop.install_from);
      if (!installed.ok()) {
        // Cleared at the next start; the leader then asks again, perhaps another leader.
        std::fprintf(stderr, "ledgerd: the install failed: %s\n", installed.ToString().c_str());
        std::this_thread::sleep_for(std::chrono::seconds(1));
      }
    }
    std::fprintf(stderr, "ledgerd: %s; starting again\n", status.ToString().c_str());
  }
}

// The checkpoint key and file go together, outside the data directory: a key beside the log
// would let whoever rewrites the log sign it again. 0, or the exit code.
int ReadCheckpointKey(const std::string& key_file, net::ServerOptions& options) {
  if (key_file.empty() != options.checkpoint_file.empty()) {
    return Fail(kExitUsage,
                absl::StrCat("--checkpoint-key-file and --checkpoint-file go together\n", kUsage));
  }
  if (key_file.empty()) return 0;
  std::error_code error;
  const std::filesystem::path data = std::filesystem::weakly_canonical(options.data_dir, error);
  for (const std::string& file : {key_file, options.checkpoint_file}) {
    const std::filesystem::path path = std::filesystem::weakly_canonical(file, error);
    const auto [data_end, path_at] =
        std::mismatch(data.begin(), data.end(), path.begin(), path.end());
    if (!error && data_end == data.end()) {
      return Fail(kExitUsage, absl::StrCat(file,
                                           " is inside the data directory: keep the "
                                           "checkpoint key and file outside it"));
    }
  }
  absl::StatusOr<std::string> key = net::ReadPrivateTokenFile(key_file);
  if (!key.ok()) return Fail(TokenExitCode(key.status()), std::string(key.status().message()));
  options.checkpoint_key = *key;
  return 0;
}

int Run(Flags& flags) {
  net::ServerOptions options;
  std::string hot_transfers = "auto";
  uint64_t reply_slice_us = options.reply_slice_ns / 1000;
  options.data_dir = "data";
  std::string token_file;
  std::string etcd;
  std::string group_token_file;
  std::string metrics_token_file;
  std::string checkpoint_key_file;
  bool help = false;
  net::ServerLimits& limits = options.limits;
  const uint64_t kU32 = 0xffffffffu;
  const uint64_t kTableMax = (uint64_t{1} << 31) - 1;  // refs are 31 bits
  const std::string error = flags.Parse(
      {{"--data-dir", Text(&options.data_dir)},
       {"--listen", Text(&options.listen_address)},
       {"--token-file", Text(&token_file)},
       {"--tokens-file", Text(&options.tokens_file)},
       {"--metrics", Text(&options.metrics_address)},
       {"--http", Text(&options.http_address)},
       {"--console-dir", Text(&options.console_dir)},
       {"--verify-log-max-bytes-per-second",
        Number("--verify-log-max-bytes-per-second", &options.verify_log_bytes_per_second_max, 0,
               uint64_t{1} << 40)},
       {"--max-http-connections",
        Number("--max-http-connections", &limits.http_connections_max, 1, 1 << 16)},
       {"--max-http-body-bytes",
        Number("--max-http-body-bytes", &limits.http_body_bytes_max, 64 << 10, uint64_t{1} << 30)},
       {"--tls-cert", Text(&options.tls_certificate_file)},
       {"--tls-key", Text(&options.tls_key_file)},
       {"--tls-client-ca", Text(&options.tls_client_ca_file)},
       {"--ready-file", Text(&options.ready_file)},
       {"--shards", Number("--shards", &options.shard_count, 1, engine::kShardsMax)},
       {"--shard-threads",
        Number("--shard-threads", &options.shard_threads, 0, engine::kShardsMax)},
       {"--snapshot-interval-ops",
        Number("--snapshot-interval-ops", &options.snapshot_interval_ops, 0, ~uint64_t{0})},
       {"--accounts-capacity",
        Number("--accounts-capacity", &options.accounts_capacity, 1, uint64_t{1} << 31)},
       {"--transfers-capacity",
        Number("--transfers-capacity", &options.transfers_capacity, 1, uint64_t{1} << 31)},
       {"--accounts-max", Number("--accounts-max", &options.accounts_max, 1, kTableMax)},
       {"--transfers-max", Number("--transfers-max", &options.transfers_max, 1, kTableMax)},
       {"--hot-transfers", Text(&hot_transfers)},
       {"--reply-slice-us", Number("--reply-slice-us", &reply_slice_us, 0, 100'000)},
       {"--feed-retention",
        Number("--feed-retention", &options.feed_retention, 0, uint64_t{1} << 31)},
       {"--max-batch-events", Number("--max-batch-events", &limits.batch_events_max, 1, 8190)},
       {"--max-query-ids", Number("--max-query-ids", &limits.query_ids_max, 1, 1 << 20)},
       {"--max-query-results",
        Number("--max-query-results", &limits.query_results_max, 1, 1 << 20)},
       {"--max-message-bytes",
        Number("--max-message-bytes", &limits.message_bytes_max, 64 << 10, uint64_t{1} << 31)},
       {"--max-connections", Number("--max-connections", &limits.connections_max, 1, 1 << 20)},
       {"--max-unauthenticated",
        Number("--max-unauthenticated", &limits.unauthenticated_max, 1, 1 << 20)},
       {"--max-unauthenticated-per-address",
        Number("--max-unauthenticated-per-address", &limits.unauthenticated_per_address_max, 1,
               1 << 20)},
       {"--metrics-token-file", Text(&metrics_token_file)},
       {"--checkpoint-key-file", Text(&checkpoint_key_file)},
       {"--checkpoint-file", Text(&options.checkpoint_file)},
       {"--checkpoint-interval-ops",
        Number("--checkpoint-interval-ops", &options.checkpoint_interval_ops, 1, ~uint64_t{0})},
       {"--max-inflight-calls",
        Number("--max-inflight-calls", &limits.inflight_calls_max, 1, kU32)},
       {"--login-timeout-ms", Number("--login-timeout-ms", &limits.login_timeout_ms, 1, 3'600'000)},
       {"--max-inflight-bytes",
        Number("--max-inflight-bytes", &limits.inflight_bytes_max, 1 << 20, ~uint64_t{0})},
       {"--max-unfinished-reply-bytes",
        Number("--max-unfinished-reply-bytes", &limits.unfinished_reply_bytes_max, 1 << 20,
               ~uint64_t{0})},
       {"--max-reply-bytes-total",
        Number("--max-reply-bytes-total", &limits.reply_bytes_total_max, 1 << 20, ~uint64_t{0})},
       {"--replica-group", Text(&options.group.name)},
       {"--etcd", Text(&etcd)},
       {"--member", Text(&options.group.member)},
       {"--replication-listen", Text(&options.group.replication_listen)},
       {"--replication-advertise", Text(&options.group.replication_advertise)},
       {"--group-token-file", Text(&group_token_file)},
       {"--lag-max-ms", Number("--lag-max-ms", &options.group.lag_max_ms, 1, 3'600'000)},
       {"--replication-ring-bytes",
        Number("--replication-ring-bytes", &options.group.ring_bytes, 1 << 20, uint64_t{1} << 40)},
       {"--lease-ttl-s", Number("--lease-ttl-s", &options.group.lease_ttl_s, 1, 3600)}},
      {{"--help", [&] { help = true; }},
       {"--no-snapshot-on-shutdown", [&] { options.snapshot_on_shutdown = false; }},
       {"--no-io-uring", [&] { options.use_io_uring = false; }},
       {"--bootstrap-group", [&] { options.group.bootstrap = true; }}});
  if (help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (!error.empty()) return Fail(kExitUsage, absl::StrCat(error, "\n", kUsage));
  options.reply_slice_ns = reply_slice_us * 1000;
  if (hot_transfers == "auto") {
    options.hot_transfers = AutoHotTransfers(options);
    // Its size bounds a restart's time and the resident memory: the operator sees it.
    std::fprintf(stderr, "ledgerd: a window of %llu transfers in memory (--hot-transfers auto)\n",
                 static_cast<unsigned long long>(options.hot_transfers));
  } else if (!absl::SimpleAtoi(hot_transfers, &options.hot_transfers) ||
             options.hot_transfers > (uint64_t{1} << 31)) {
    return Fail(kExitUsage, absl::StrCat("--hot-transfers must be auto or a whole number in "
                                         "0..2147483648, not '",
                                         hot_transfers, "'\n", kUsage));
  }
  if (!etcd.empty()) options.group.etcd = absl::StrSplit(etcd, ',', absl::SkipEmpty());
  if (const std::string problem = GroupProblem(options.group, !group_token_file.empty());
      !problem.empty()) {
    return Fail(kExitUsage, absl::StrCat(problem, "\n", kUsage));
  }
  // With a tokens file, DIR/token is an admin token only when named: a server moved to roles
  // does not keep a forgotten all-powerful one.
  if (token_file.empty() && options.tokens_file.empty()) token_file = options.data_dir + "/token";
  if (!token_file.empty()) {
    absl::StatusOr<std::string> token = net::ReadPrivateTokenFile(token_file);
    if (!token.ok())
      return Fail(TokenExitCode(token.status()), std::string(token.status().message()));
    options.token = *token;
    options.token_file = token_file;
  }
  if (!options.tokens_file.empty()) {
    // Checked here for its exit code; the server reads it again (and on each SIGHUP).
    absl::StatusOr<net::TokenSet> tokens = net::ReadTokensFile(options.tokens_file, options.token);
    if (!tokens.ok()) {
      return Fail(absl::IsNotFound(tokens.status()) ? kExitNoInput : kExitUsage,
                  std::string(tokens.status().message()));
    }
  }
  if (!group_token_file.empty()) {
    absl::StatusOr<std::string> group_token = net::ReadPrivateTokenFile(group_token_file);
    if (!group_token.ok()) {
      return Fail(TokenExitCode(group_token.status()), std::string(group_token.status().message()));
    }
    options.group.token = *group_token;
  }
  if (!options.http_address.empty() && options.http_address.find(':') == std::string::npos) {
    options.http_address = "127.0.0.1:" + options.http_address;
  }
  if (!metrics_token_file.empty()) {
    if (options.metrics_address.empty()) {
      return Fail(kExitUsage, absl::StrCat("--metrics-token-file needs --metrics\n", kUsage));
    }
    absl::StatusOr<std::string> metrics_token = net::ReadPrivateTokenFile(metrics_token_file);
    if (!metrics_token.ok()) {
      return Fail(TokenExitCode(metrics_token.status()),
                  std::string(metrics_token.status().message()));
    }
    options.metrics_token = *metrics_token;
  }
  if (const int failed = ReadCheckpointKey(checkpoint_key_file, options); failed != 0) {
    return failed;
  }
  WarnIfOpenToOthers(options.data_dir);
  return Serve(options);
}

int Main(int argc, char** argv) {
  try {
    const std::string command = argc > 1 ? argv[1] : "";
    if (command == "init") {
      Flags flags(argc, argv, 2);
      return Init(flags);
    }
    if (command == "run") {
      Flags flags(argc, argv, 2);
      return Run(flags);
    }
    if (!command.empty() && command.rfind("--", 0) != 0) {
      return Fail(kExitUsage, absl::StrCat("unknown command '", command, "'\n", kUsage));
    }
    Flags flags(argc, argv, 1);
    return Run(flags);
  } catch (const UsageError& error) {
    return Fail(kExitUsage, error.message);
  }
}

}  // namespace
}  // namespace ledger::tools

int main(int argc, char** argv) { return ledger::tools::Main(argc, argv); }
