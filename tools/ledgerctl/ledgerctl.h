// ledgerctl, the operator's client of a running ledgerd (docs/ledgerctl.md): what its command
// files share. Every command parses all of its arguments first (a mistake is a UsageError,
// before anything is sent), then talks to the server through net::Client only.
//
// Namespace ledger::tools::ctl: ledger-wal's helpers live in ledger::tools with some of the
// same names (kExitUsage, Fail), and a tool links only its own.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/types.h"
#include "net/client.h"
#include "tools/amount_text.h"

namespace ledger::tools::ctl {

// Exit codes (sysexits.h where one fits). Scripts rely on these: docs/ledgerctl.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;         // an event failed, or a record was not found
inline constexpr int kExitUsage = 64;         // bad arguments, or a request the server refused
inline constexpr int kExitNoInput = 66;       // the token file cannot be read
inline constexpr int kExitUnavailable = 69;   // the server cannot be reached, or went away
inline constexpr int kExitSoftware = 70;      // anything else (a bug: please report it)
inline constexpr int kExitLedgerFull = 73;    // a table is at its maximum: retrying won't help
inline constexpr int kExitTryLater = 75;      // the server is at a limit; retry later
inline constexpr int kExitTls = 76;           // the TLS handshake failed (trust, name, no TLS)
inline constexpr int kExitNoPermission = 77;  // the server refused the login token

// A mistake in the command line: exit kExitUsage with the message and a pointer to --help.
struct UsageError {
  std::string message;
};

// Ends the command with `exit_code` after printing "ledgerctl: <message>" on stderr.
struct Failure {
  int exit_code;
  std::string message;
};

// The exit code for a failed call to the server (Unavailable -> 69, and so on).
int ExitCodeOf(const absl::Status& status);
// Throws the Failure for a failed call; `doing` says what was attempted ("lookup-account").
[[noreturn]] void ThrowStatus(const absl::Status& status, std::string_view doing);

template <typename T>
T Check(absl::StatusOr<T> result, std::string_view doing) {
  if (!result.ok()) ThrowStatus(result.status(), doing);
  return *std::move(result);
}
inline void Check(const absl::Status& status, std::string_view doing) {
  if (!status.ok()) ThrowStatus(status, doing);
}

// ---------------------------------------------------------------------------------------------
// Flags, in ledgerd's style: --name VALUE or --name=VALUE, and value-less switches.

using ValueHandler = std::function<void(const std::string&)>;

class FlagParser {
 public:
  void Value(const std::string& name, ValueHandler on_value) { values_[name] = on_value; }
  void Switch(const std::string& name, std::function<void()> on_switch) {
    switches_[name] = on_switch;
  }
  // Without a handler, an argument that is not a flag is a UsageError.
  void Positional(ValueHandler on_positional) { positional_ = on_positional; }

  // Runs the handlers in argument order; throws UsageError.
  void Parse(std::span<const std::string> args);
  // Parses flags up to the first positional argument and returns its index (args.size() when
  // there is none).
  size_t ParsePrefix(std::span<const std::string> args);

  bool Seen(const std::string& name) const { return seen_.contains(name); }
  // Throws UsageError naming the first of `names` that was not given.
  void Require(std::string_view command, std::initializer_list<const char*> names) const;

 private:
  // Parses the flag at args[*i] (advancing past its value); false when it is not a flag.
  bool ParseFlag(std::span<const std::string> args, size_t* i);

  std::map<std::string, ValueHandler> values_;
  std::map<std::string, std::function<void()>> switches_;
  ValueHandler positional_;
  std::set<std::string> seen_;
};

// Value converters: each throws a UsageError that names the flag.
template <typename Int>
ValueHandler Number(const char* name, Int* out, uint64_t min = 0,
                    uint64_t max = std::numeric_limits<Int>::max());
ValueHandler Text(std::string* out);
ValueHandler Id(const char* name, u128* out);  // decimal, 0x hex or UUID (amount_text.h)
uint64_t ParseNumber(const char* name, const std::string& text, uint64_t min, uint64_t max);
u128 ParseIdArgument(const char* name, const std::string& text);

template <typename Int>
ValueHandler Number(const char* name, Int* out, uint64_t min, uint64_t max) {
  return [name, out, min, max](const std::string& text) {
    *out = static_cast<Int>(ParseNumber(name, text, min, max));
  };
}

// ---------------------------------------------------------------------------------------------
// The global flags (accepted before and after the command) and the connection.

struct GlobalOptions {
  std::string address = "127.0.0.1:7700";  // or a replica group's members, comma-separated
  std::string etcd_endpoints;              // a replica group's etcd, with replica_group
  std::string replica_group;
  std::string token_file = "data/token";  // where `ledgerd init` writes it
  std::string tls_ca_file;
  std::string tls_server_name;
  bool json = false;  // one JSON object per line instead of text
  bool raw = false;   // text shows amounts as raw minor units ("1234u")
};

void AddGlobalFlags(FlagParser& parser, GlobalOptions* options);

// One run's connection, and the ledgers it has looked up (for amounts' scale and asset).
class Session {
 public:
  // Borrows `options` for the session's life. Connects on first use of client().
  explicit Session(const GlobalOptions& options) : options_(options) {}

  const GlobalOptions& options() const { return options_; }
  bool json() const { return options_.json; }

  // Connects and logs in on first use; throws Failure (66 token, 69 unreachable, 77 refused).
  net::Client& client();
  // A second connection (tail --follow streams on its own so lookups never wait behind it).
  std::unique_ptr<net::Client> Connect() const;

  // The ledger with this id, looked up once per run; nullptr when it does not exist.
  const Ledger* FindLedger(uint32_t id);
  // Lookups split into calls of at most the server's query_ids_max ids.
  std::vector<Account> LookupAccounts(std::span<const AccountId> ids);
  // failures, when given: the ids that failed with a recorded code (schema 4).
  std::vector<Transfer> LookupTransfers(std::span<const TransferId> ids,
                                        std::vector<FailedTransfer>* failures = nullptr);
  std::optional<Transfer> LookupTransfer(TransferId id);
  // What became of each transfer found; empty from a server older than schema 3.
  std::vector<net::TransferStatusInfo> GetTransferStatuses(std::span<const TransferId> ids);

 private:
  size_t QueryIdsMax();

  const GlobalOptions& options_;
  std::unique_ptr<net::Client> client_;
  std::map<uint32_t, std::optional<Ledger>> ledgers_;
};

// ---------------------------------------------------------------------------------------------
// Output (print.cc). Text goes to stdout aligned; with --json, one object per line.

// "2024-05-01T12:00:00.123456789Z" (UTC); "-" for 0.
std::string UserDataText(UserData128 data_128, uint64_t data_64, uint32_t data_32);
std::string TimeText(uint64_t timestamp_ns);
// The asset code of a ledger, printable.
std::string AssetText(const Ledger& ledger);
// "12.34 USD" with the ledger's scale; "1234u" with --raw or when the ledger is unknown.
std::string MoneyText(const Session& session, Amount amount, const Ledger* ledger);
// "post", "pending+closing_debit", "reversal", "posting"...
std::string TransferKindText(const Transfer& transfer);

// A JSON object on one line. Integers wider than 32 bits are strings: JSON readers commonly
// hold numbers as doubles, exact only to 2^53, and ids, amounts and nanoseconds exceed it.
class JsonObject {
 public:
  explicit JsonObject(std::string_view type);  // every object says what it is: {"type":...
  JsonObject& Str(std::string_view key, std::string_view value);
  JsonObject& Int(std::string_view key, uint32_t value);
  JsonObject& Wide(std::string_view key, u128 value);  // a decimal string
  JsonObject& Bool(std::string_view key, bool value);
  JsonObject& Raw(std::string_view key, std::string_view json);  // a nested object or array
  // key: raw minor units, key_formatted: with the ledger's scale (left out without a ledger).
  JsonObject& Money(std::string_view key, Amount amount, const Ledger* ledger);
  std::string Close();  // the object, without a newline

 private:
  void Key(std::string_view key);
  std::string text_;
};

std::string JsonLedger(const Ledger& ledger);
std::string JsonAccount(const Account& account, const Ledger* ledger);
std::string JsonTransfer(const Transfer& transfer, const Ledger* ledger,
                         const net::TransferStatusInfo* status = nullptr);
std::string JsonBalances(const AccountBalance& balance, const Ledger* ledger);

// Columns aligned across rows. Rows are buffered until Flush, or until kRowsBufferedMax (a few
// MB) so that history --all runs in bounded memory; tail --follow flushes each batch. Widths only
// grow, so later rows stay aligned unless a value is wider; the header comes once.
class Table {
 public:
  struct Column {
    std::string header;
    bool right_aligned = false;  // numbers and amounts
  };
  static constexpr size_t kRowsBufferedMax = 8192;

  explicit Table(std::vector<Column> columns);
  void Add(std::vector<std::string> cells);  // flushes first when kRowsBufferedMax are waiting
  void Flush();  // prints the rows added since the last Flush, and fflushes stdout

 private:
  std::vector<Column> columns_;
  std::vector<size_t> widths_;
  std::vector<std::vector<std::string>> rows_;
  bool header_printed_ = false;
};

// "  key    value" lines with the keys padded to one width, under an optional title line.
void PrintFields(std::string_view title,
                 const std::vector<std::pair<std::string, std::string>>& fields);

// One line per record (JSON) or a block per record (text).
void PrintLedger(const Session& session, const Ledger& ledger);
void PrintAccount(const Session& session, const Account& account, const Ledger* ledger);
// With `status` (lookup-transfer), a status line for a reservation (held, posted, voided,
// expired: what and by which transfer) or a reversed line for a posting.
void PrintTransfer(const Session& session, const Transfer& transfer, const Ledger* ledger,
                   const net::TransferStatusInfo* status = nullptr);
// A transfer id whose first attempt failed with a recorded code: "transfer 5: failed,
// exceeds_credits (not booked)" and the failed event's fields (text), or {"type":"failed",
// "id":..,"result":..,"result_code":..,"transfer":{the failed event}} (JSON).
void PrintFailedTransfer(const Session& session, const FailedTransfer& failed,
                         const Ledger* ledger);
// "account 5: not found" (text) or {"type":"not_found",...}.
void PrintNotFound(const Session& session, std::string_view kind, std::string_view id);
// The result of one event of a create call.
struct EventOutcome {
  const char* kind;  // "ledger", "account", "transfer"
  size_t index;      // in the batch
  std::string id;    // as the operator reads it
  const char* result;
  uint8_t code;
  bool success;           // ok or exists (a retry of a committed create answers exists)
  uint64_t timestamp_ns;  // booking timestamp; 0 when it failed
};
// "transfer 1001: exceeds_credits" or "...: ok, booked ..."; JSON {"type":"transfer_result"...}.
void PrintOutcome(const Session& session, const EventOutcome& outcome);

// ---------------------------------------------------------------------------------------------
// Commands. Each parses `args` (everything after the command name, global flags included) into
// `global` and its own options, runs, prints, and returns the exit code.

int RunCreateLedger(GlobalOptions& global, std::span<const std::string> args);
int RunCreateAccount(GlobalOptions& global, std::span<const std::string> args);
int RunTransfer(GlobalOptions& global, std::span<const std::string> args);
int RunPost(GlobalOptions& global, std::span<const std::string> args);
int RunVoid(GlobalOptions& global, std::span<const std::string> args);
int RunReverse(GlobalOptions& global, std::span<const std::string> args);
int RunLookupLedger(GlobalOptions& global, std::span<const std::string> args);
int RunLookupAccount(GlobalOptions& global, std::span<const std::string> args);
int RunLookupTransfer(GlobalOptions& global, std::span<const std::string> args);
int RunHistory(GlobalOptions& global, std::span<const std::string> args);
int RunBalances(GlobalOptions& global, std::span<const std::string> args);
int RunQueryAccounts(GlobalOptions& global, std::span<const std::string> args);
int RunQueryTransfers(GlobalOptions& global, std::span<const std::string> args);
int RunTrialBalance(GlobalOptions& global, std::span<const std::string> args);
int RunValueBalance(GlobalOptions& global, std::span<const std::string> args);
int RunTail(GlobalOptions& global, std::span<const std::string> args);
int RunInfo(GlobalOptions& global, std::span<const std::string> args);

}  // namespace ledger::tools::ctl
