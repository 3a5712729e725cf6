// ledgerctl: the operator's command line client of a running ledgerd (docs/ledgerctl.md).
//
//   ledgerctl [global flags] COMMAND [flags] [args]     (ledgerctl --help lists the commands)
//
// This file holds the usage texts, the dispatch, flag parsing and the connection; the commands
// live in create.cc, query.cc and tail.cc, their output in print.cc. Exit codes: ledgerctl.h.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tools/amount_text.h"
#include "tools/ledgerctl/ledgerctl.h"

namespace ledger::tools::ctl {
namespace {

constexpr const char* kUsage = R"(usage: ledgerctl [global flags] COMMAND [flags] [args]

Talks to a running ledgerd. Amounts are read and shown in the ledger's units: 12.34 in a
scale-2 USD ledger is 1234 minor units; 1234u or raw:1234 give minor units, max is 2^128-1.
Ids are decimal, 0x hex or UUIDs (8-4-4-4-12 hex digits, big-endian).

commands:
  create-ledger     create a ledger (an asset book with a scale)
  create-account    create accounts
  transfer          move an amount between two accounts, or reserve it (--pending)
  post              post a pending transfer, all of it or part
  void              release a pending transfer
  reverse           book (part of) a posted transfer back, accounts swapped
  lookup-ledger     show ledgers by id
  lookup-account    show accounts by id
  lookup-transfer   show transfers by id
  history           an account's transfers
  balances          an account's balances after each change (accounts with history)
  query-accounts    accounts across the ledger by ledger, code, user data, creation time
  query-transfers   transfers across the ledger by ledger, code, user data, booking time
  value-balance     an account's posted balances as of a value time
  trial-balance     a ledger's sums: debits equal credits
  tail              the change feed; --follow streams it until SIGINT or SIGTERM
  info              the server's state and limits
  help COMMAND      a command's flags (or: ledgerctl COMMAND --help)

global flags (before or after the command):
  --address HOST:PORT     the server (default 127.0.0.1:7700); a replica group's members as
                          HOST:PORT,HOST:PORT,...: the command goes to the leader, and follows
                          it across a failover
  --etcd HOST:PORT,...    with --replica-group NAME: find the group's leader through etcd
  --token-file FILE       the login token (default data/token, written by `ledgerd init`)
  --tls-ca FILE           use TLS, trusting this PEM certificate authority (or the server's
                          self-signed certificate)
  --tls-server-name NAME  the name in the server's certificate (default: the host)
  --json                  one JSON object per line; ids, amounts and 64-bit values are strings
  --raw                   text shows amounts as raw minor units (1234u)
  --help                  this text

exit codes: 0 success (each event ok or exists), 1 an event failed or a record was not found,
64 usage, 66 the token file cannot be read, 69 the server cannot be reached, 75 the server is
at a limit (retry later), 73 the ledger is full (a table at its maximum: retrying will not
help), 76 the TLS handshake failed, 77 the server refused the token, 70 anything else.
)";

struct Command {
  const char* name;
  const char* help;
  int (*run)(GlobalOptions& global, std::span<const std::string> args);
};

constexpr Command kCommands[] = {
    {"create-ledger", R"(usage: ledgerctl create-ledger --id N --asset CODE --scale N
                                [--imported --timestamp-ns T]
Creates a ledger: an asset book. Its amounts are integers of minor units; the scale is how
many of their digits are decimals (USD: 2, so 1234 minor units read 12.34).
  --id N          the ledger's id, 1..4294967295
  --asset CODE    the asset code: 1 to 16 characters of A-Z 0-9 . _ - (USD, BTC)
  --scale N       decimals, 0..38
  --imported --timestamp-ns T
                  a migration's ledger, booked at T (ns since the epoch, in the past and
                  after everything booked so far), so its accounts and transfers can be
                  imported after it
example: ledgerctl create-ledger --id 1 --asset USD --scale 2
)",
     RunCreateLedger},
    {"create-account", R"(usage: ledgerctl create-account ACCOUNT [then ACCOUNT]...
  ACCOUNT is --id ID --ledger N --code N [--flags LIST] [--linked]
             [--user-data-128 V] [--user-data-64 N] [--user-data-32 N]
Creates accounts, all in one batch; `then` starts the next account. --linked ties an account
to the next: the chain is created whole or not at all.
  --id ID             the account's id: yours to choose, never reused (not 0, not 2^128-1)
  --ledger N          the ledger it keeps its balances in
  --code N            your chart-of-accounts type, 1..65535
  --flags LIST        comma-separated: debits-must-not-exceed-credits,
                      credits-must-not-exceed-debits, history (keep a balance per change)
  --user-data-128 V, --user-data-64 N, --user-data-32 N
                      your own references, stored as given
example: ledgerctl create-account --id 100 --ledger 1 --code 10 --flags history
)",
     RunCreateAccount},
    {"transfer", R"(usage: ledgerctl transfer TRANSFER [then TRANSFER]...
  TRANSFER is --id ID --debit ID --credit ID --amount AMOUNT --ledger N --code N
              [--pending [--timeout-s N]] [--closing-debit] [--closing-credit]
              [--balancing-debit] [--balancing-credit] [--linked]
              [--user-data-128 V] [--user-data-64 N] [--user-data-32 N] [--value-time-ns N]
Moves AMOUNT from the debit account to the credit account. All transfers go in one batch
(`then` starts the next); --linked ties a transfer to the next, so the chain succeeds or fails
whole. Each result is printed, then each transfer booked (a balancing transfer shows what it
moved).
  --amount AMOUNT          12.34 in the ledger's units, 1234u in minor units, or max
  --pending                reserve the amount; post or void it later
  --timeout-s N            (with --pending) the reservation expires after N seconds
                           (0..4294967295; booking time + N s must stay below 2^63 ns)
  --closing-debit, --closing-credit
                           (with --pending) the reservation closes that account
  --balancing-debit, --balancing-credit
                           move at most what that account's limit allows (max: all of it)
  --value-time-ns N        when it happened economically (your clock), stored as given:
                           ns since the epoch, 0..9223372036854775807 (0 = the booking time)
example: ledgerctl transfer --id 1001 --debit 100 --credit 200 --amount 12.34 --ledger 1 --code 1
)",
     RunTransfer},
    {"post", R"(usage: ledgerctl post --id ID --pending-id ID [--amount AMOUNT|max]
                     [--user-data-128 V] [--user-data-64 N] [--user-data-32 N] [--value-time-ns N]
Posts a pending transfer: max (the default) posts all of it; a smaller amount posts that much
and releases the rest. Accounts, ledger and code are the pending transfer's (looked up first;
nothing is submitted when it does not exist or is not pending).
example: ledgerctl post --id 1003 --pending-id 1002 --amount 5.00
)",
     RunPost},
    {"void", R"(usage: ledgerctl void --id ID --pending-id ID
                     [--user-data-128 V] [--user-data-64 N] [--user-data-32 N] [--value-time-ns N]
Releases a pending transfer, all of it. Accounts, ledger and code are the pending transfer's.
example: ledgerctl void --id 1004 --pending-id 1002
)",
     RunVoid},
    {"reverse", R"(usage: ledgerctl reverse --id ID --reverses ID --amount AMOUNT [--code N]
                     [--user-data-128 V] [--user-data-64 N] [--user-data-32 N] [--value-time-ns N]
Books a posted transfer back: the original is looked up, and the reversal moves AMOUNT from
its credit account to its debit account, in its ledger, with its code (or --code). The
reversals of a transfer never add up to more than its amount.
example: ledgerctl reverse --id 1005 --reverses 1001 --amount 2.00
)",
     RunReverse},
    {"lookup-ledger", R"(usage: ledgerctl lookup-ledger ID...
Shows ledgers: asset code, scale, creation time. Exit 1 when one is not found.
)",
     RunLookupLedger},
    {"lookup-account", R"(usage: ledgerctl lookup-account ID...
Shows accounts: ledger, code, flags, the four balances, user data. Exit 1 when one is not found.
)",
     RunLookupAccount},
    {"lookup-transfer", R"(usage: ledgerctl lookup-transfer ID...
Shows transfers as booked, and what became of them: a reservation's status (pending until
its deadline, posted, voided or expired, with the amounts posted and released and the
transfer that resolved it), a posting's reversals. Exit 1 when one is not found.
)",
     RunLookupTransfer},
    {"history", R"(usage: ledgerctl history ACCOUNT [--from-ns N] [--to-ns N] [--code N]
                         [--value-from-ns N] [--value-to-ns N]
                         [--debits | --credits] [--reversed] [--limit N] [--all]
The account's transfers, oldest first, one page (the server's page size) unless --limit or
--all says otherwise.
  --from-ns N, --to-ns N  booked in this range (inclusive; nanoseconds since the epoch)
  --value-from-ns N, --value-to-ns N
                          valued in this range (value_time_ns, or the booking time when
                          none was given); still in booking order
  --code N                only transfers with this code
  --debits, --credits     only transfers that debit (credit) the account
  --reversed              newest first
  --limit N               at most N transfers, over as many pages as it takes
  --all                   every page to the end
)",
     RunHistory},
    {"query-accounts",
     R"(usage: ledgerctl query-accounts [--ledger N] [--code N] [--user-data-128 ID]
                                [--user-data-64 N] [--user-data-32 N] [--from-ns N] [--to-ns N]
                                [--reversed] [--limit N] [--all]
Accounts across the ledger whose fields match every flag given, oldest first, one page (the
server's page size) unless --limit or --all says otherwise. With only --ledger: every account
of that ledger. Values must not be 0 (0 would match anything: leave the flag out).
  --ledger N, --code N    the account's ledger, its code
  --user-data-128 ID      your reference (decimal, 0x hex or a UUID)
  --user-data-64 N, --user-data-32 N
  --from-ns N, --to-ns N  created in this range (inclusive; nanoseconds since the epoch)
  --reversed              newest first
  --limit N               at most N accounts, over as many pages as it takes
  --all                   every page to the end
)",
     RunQueryAccounts},
    {"query-transfers",
     R"(usage: ledgerctl query-transfers [--ledger N] [--code N] [--user-data-128 ID]
                                 [--user-data-64 N] [--user-data-32 N] [--from-ns N] [--to-ns N]
                                 [--reversed] [--limit N] [--all]
Transfers across the ledger whose fields match every flag given, oldest first; flags as for
query-accounts (--from-ns and --to-ns: booked in this range). A user-data flag finds its
transfers through an index; with only --ledger, --code or a time range the server reads the
transfers of the range in booking order until the page is full.
)",
     RunQueryTransfers},
    {"balances", R"(usage: ledgerctl balances ACCOUNT [--from-ns N] [--to-ns N] [--reversed]
                          [--limit N] [--all]
The account's balances right after each change (transfer or expiry), oldest first. Only for
accounts created with the history flag. Flags as for history.
)",
     RunBalances},
    {"value-balance", R"(usage: ledgerctl value-balance ACCOUNT --at-ns N
The account's posted balances as of a value time: its postings whose value time (value_time_ns,
or the booking time when none was given) is at or before N, whatever their booking time.
)",
     RunValueBalance},
    {"trial-balance", R"(usage: ledgerctl trial-balance LEDGER
The sums of the four balances over the ledger's accounts. Double entry: debits equal credits,
pending and posted (exit 1 if they ever do not).
)",
     RunTrialBalance},
    {"tail", R"(usage: ledgerctl tail [--from SEQ|oldest|now] [--limit N] [--follow]
The change feed: every balance change (transfer or expiry) in log order, numbered from 0.
  (no --from)     the last N changes (N: --limit, default 10)
  --from SEQ      from that change on, up to the newest (or N with --limit); `oldest` is the
                  oldest change the server retains, `now` the next one to happen
  --follow        then keep printing changes as they happen, until SIGINT (Ctrl-C) or SIGTERM
)",
     RunTail},
    {"info", R"(usage: ledgerctl info
The server's schema version, shard count, last op, and limits.
)",
     RunInfo},
};

const Command* FindCommand(std::string_view name) {
  for (const Command& command : kCommands) {
    if (name == command.name) return &command;
  }
  return nullptr;
}

int Fail(int exit_code, std::string_view message) {
  std::fprintf(stderr, "ledgerctl: %.*s\n", static_cast<int>(message.size()), message.data());
  return exit_code;
}

std::string ReadToken(const std::string& path) {
  absl::StatusOr<std::string> token = net::ReadTokenFile(path);
  if (absl::IsNotFound(token.status())) {
    throw Failure{kExitNoInput, absl::StrCat(token.status().message(),
                                             " (--token-file; `ledgerd init` writes it)")};
  }
  if (!token.ok()) throw Failure{kExitNoInput, std::string(token.status().message())};
  return *token;
}

int Main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  GlobalOptions global;
  bool help = false;
  const Command* command = nullptr;
  try {
    FlagParser parser;
    AddGlobalFlags(parser, &global);
    parser.Switch("--help", [&] { help = true; });
    parser.Switch("-h", [&] { help = true; });
    const size_t index = parser.ParsePrefix(args);
    if (index == args.size()) {
      std::fputs(kUsage, help ? stdout : stderr);
      return help ? kExitOk : kExitUsage;
    }
    const std::span<const std::string> rest = std::span(args).subspan(index + 1);
    if (args[index] == "help") {
      const Command* topic = rest.empty() ? nullptr : FindCommand(rest[0]);
      if (!rest.empty() && topic == nullptr) throw UsageError{"no command " + rest[0]};
      std::fputs(topic == nullptr ? kUsage : topic->help, stdout);
      return kExitOk;
    }
    command = FindCommand(args[index]);
    if (command == nullptr) throw UsageError{absl::StrCat("unknown command '", args[index], "'")};
    if (help || std::any_of(rest.begin(), rest.end(), [](const std::string& arg) {
          return arg == "--help" || arg == "-h";
        })) {
      std::fputs(command->help, stdout);
      return kExitOk;
    }
    return command->run(global, rest);
  } catch (const UsageError& error) {
    return Fail(kExitUsage, absl::StrCat(error.message, " (see: ledgerctl ",
                                         command == nullptr ? "" : command->name,
                                         command == nullptr ? "" : " ", "--help)"));
  } catch (const Failure& failure) {
    return Fail(failure.exit_code, failure.message);
  } catch (const std::exception& error) {
    return Fail(kExitSoftware, absl::StrCat("internal error: ", error.what()));
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Errors.

int ExitCodeOf(const absl::Status& status) {
  if (status.GetPayload(net::kLedgerFullPayload).has_value()) return kExitLedgerFull;
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kCancelled:
      return kExitUnavailable;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return kExitNoPermission;
    case absl::StatusCode::kResourceExhausted:
      return kExitTryLater;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return kExitUsage;
    case absl::StatusCode::kNotFound:
      return kExitFailed;
    default:
      return kExitSoftware;
  }
}

void ThrowStatus(const absl::Status& status, std::string_view doing) {
  std::string message =
      absl::StrCat(absl::string_view(doing.data(), doing.size()), ": ", status.message());
  if (status.code() == absl::StatusCode::kResourceExhausted) message += " (retry later)";
  throw Failure{ExitCodeOf(status), message};
}

// ---------------------------------------------------------------------------------------------
// Flags.

bool FlagParser::ParseFlag(std::span<const std::string> args, size_t* i) {
  std::string name = args[*i];
  if (name.empty() || name[0] != '-') return false;
  std::string value;
  bool has_value = false;
  if (const size_t equals = name.find('='); equals != std::string::npos) {
    value = name.substr(equals + 1);
    name = name.substr(0, equals);
    has_value = true;
  }
  if (auto it = switches_.find(name); it != switches_.end() && !has_value) {
    seen_.insert(name);
    it->second();
    return true;
  }
  auto it = values_.find(name);
  if (it == values_.end()) throw UsageError{absl::StrCat("unknown flag ", args[*i])};
  if (!has_value) {
    if (*i + 1 >= args.size()) throw UsageError{absl::StrCat(name, " needs a value")};
    value = args[++*i];
  }
  seen_.insert(name);
  it->second(value);
  return true;
}

void FlagParser::Parse(std::span<const std::string> args) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (ParseFlag(args, &i)) continue;
    if (!positional_) throw UsageError{absl::StrCat("unexpected argument '", args[i], "'")};
    positional_(args[i]);
  }
}

size_t FlagParser::ParsePrefix(std::span<const std::string> args) {
  size_t i = 0;
  while (i < args.size() && ParseFlag(args, &i)) ++i;
  return i;
}

void FlagParser::Require(std::string_view command, std::initializer_list<const char*> names) const {
  for (const char* name : names) {
    if (!Seen(name)) {
      throw UsageError{
          absl::StrCat(absl::string_view(command.data(), command.size()), " needs ", name)};
    }
  }
}

uint64_t ParseNumber(const char* name, const std::string& text, uint64_t min, uint64_t max) {
  uint64_t value = 0;
  // Digits only: SimpleAtoi alone would also take spaces and a '+'.
  const bool digits = !text.empty() && std::all_of(text.begin(), text.end(),
                                                   [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || !absl::SimpleAtoi(text, &value) || value < min || value > max) {
    throw UsageError{
        absl::StrCat(name, " must be a whole number in ", min, "..", max, ", not '", text, "'")};
  }
  return value;
}

u128 ParseIdArgument(const char* name, const std::string& text) {
  absl::StatusOr<u128> value = ParseId128(text);
  if (!value.ok()) throw UsageError{absl::StrCat(name, ": ", value.status().message())};
  return *value;
}

ValueHandler Text(std::string* out) {
  return [out](const std::string& text) { *out = text; };
}

ValueHandler Id(const char* name, u128* out) {
  return [name, out](const std::string& text) { *out = ParseIdArgument(name, text); };
}

void AddGlobalFlags(FlagParser& parser, GlobalOptions* options) {
  parser.Value("--address", Text(&options->address));
  parser.Value("--etcd", Text(&options->etcd_endpoints));
  parser.Value("--replica-group", Text(&options->replica_group));
  parser.Value("--token-file", Text(&options->token_file));
  parser.Value("--tls-ca", Text(&options->tls_ca_file));
  parser.Value("--tls-server-name", Text(&options->tls_server_name));
  parser.Switch("--json", [options] { options->json = true; });
  parser.Switch("--raw", [options] { options->raw = true; });
}

// ---------------------------------------------------------------------------------------------
// The connection.

std::unique_ptr<net::Client> Session::Connect() const {
  net::ClientOptions client_options;
  if (absl::Status status = net::SetServer(options_.address, options_.etcd_endpoints,
                                           options_.replica_group, client_options);
      !status.ok()) {
    throw Failure{kExitUsage, std::string(status.message())};
  }
  client_options.tls_ca_file = options_.tls_ca_file;
  client_options.tls_server_name = options_.tls_server_name;
  client_options.token = ReadToken(options_.token_file);
  absl::StatusOr<std::unique_ptr<net::Client>> client = net::Client::Connect(client_options);
  if (client.ok()) return *std::move(client);
  const absl::Status& status = client.status();
  if (status.GetPayload(net::kTlsFailurePayload).has_value()) {
    throw Failure{kExitTls, absl::StrCat(status.message(),
                                         " (--tls-ca: the certificate to trust; --tls-server-name: "
                                         "a name it holds; is the server speaking TLS?)")};
  }
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    throw Failure{kExitNoPermission,
                  absl::StrCat("the server at ", options_.address, " refused the token in ",
                               options_.token_file, ": ", status.message())};
  }
  if (status.code() == absl::StatusCode::kUnavailable) {
    throw Failure{
        kExitUnavailable,
        absl::StrCat("cannot reach the server at ", options_.address, ": ", status.message(),
                     options_.tls_ca_file.empty()
                         ? " (is ledgerd running? --address; does it want TLS? --tls-ca)"
                         : " (is ledgerd running? --address)")};
  }
  ThrowStatus(status, absl::StrCat("connecting to ", options_.address));
}

net::Client& Session::client() {
  if (client_ == nullptr) client_ = Connect();
  return *client_;
}

size_t Session::QueryIdsMax() {
  // 0 would be a server that reports no limit: ask for a modest number at a time.
  const uint32_t limit = client().server_info().limits.query_ids_max;
  return limit == 0 ? 1024 : limit;
}

const Ledger* Session::FindLedger(uint32_t id) {
  auto it = ledgers_.find(id);
  if (it == ledgers_.end()) {
    const std::vector<Ledger> found =
        Check(client().LookupLedgers(std::span<const uint32_t>(&id, 1)), "lookup-ledger");
    std::optional<Ledger> ledger;
    if (!found.empty() && found[0].id == id) ledger = found[0];
    it = ledgers_.emplace(id, ledger).first;
  }
  return it->second.has_value() ? &*it->second : nullptr;
}

std::vector<Account> Session::LookupAccounts(std::span<const AccountId> ids) {
  std::vector<Account> found;
  const size_t chunk = QueryIdsMax();
  for (size_t i = 0; i < ids.size(); i += chunk) {
    const auto part = ids.subspan(i, std::min(chunk, ids.size() - i));
    std::vector<Account> accounts = Check(client().LookupAccounts(part), "lookup-account");
    found.insert(found.end(), accounts.begin(), accounts.end());
  }
  return found;
}

std::vector<Transfer> Session::LookupTransfers(std::span<const TransferId> ids,
                                               std::vector<FailedTransfer>* failures) {
  std::vector<Transfer> found;
  std::vector<FailedTransfer> part_failures;
  const size_t chunk = QueryIdsMax();
  for (size_t i = 0; i < ids.size(); i += chunk) {
    const auto part = ids.subspan(i, std::min(chunk, ids.size() - i));
    std::vector<Transfer> transfers =
        Check(client().LookupTransfers(part, failures != nullptr ? &part_failures : nullptr),
              "lookup-transfer");
    found.insert(found.end(), transfers.begin(), transfers.end());
    if (failures != nullptr) {
      failures->insert(failures->end(), part_failures.begin(), part_failures.end());
    }
  }
  return found;
}

std::vector<net::TransferStatusInfo> Session::GetTransferStatuses(std::span<const TransferId> ids) {
  std::vector<net::TransferStatusInfo> found;
  if (client().server_info().schema_version < 3) return found;
  const size_t chunk = QueryIdsMax();
  for (size_t i = 0; i < ids.size(); i += chunk) {
    const auto part = ids.subspan(i, std::min(chunk, ids.size() - i));
    std::vector<net::TransferStatusInfo> statuses =
        Check(client().GetTransferStatuses(part), "lookup-transfer");
    for (net::TransferStatusInfo& status : statuses) found.push_back(std::move(status));
  }
  return found;
}

std::optional<Transfer> Session::LookupTransfer(TransferId id) {
  const std::vector<Transfer> found = LookupTransfers(std::span<const TransferId>(&id, 1));
  if (found.empty() || found[0].id != id) return std::nullopt;
  return found[0];
}

}  // namespace ledger::tools::ctl

int main(int argc, char** argv) { return ledger::tools::ctl::Main(argc, argv); }
