// ledgerctl's commands that create: create-ledger, create-account, transfer, post, void and
// reverse. Each builds its events from the command line (looking up what the operator should
// not have to repeat: a ledger's scale, a reservation's or an original's accounts), submits
// them as one batch, and prints one result per event.
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tools/amount_text.h"
#include "tools/ledgerctl/ledgerctl.h"

namespace ledger::tools::ctl {
namespace {

// The separator between the events of one batch on the command line. No flag of a chainable
// command takes free text, so the word cannot be a flag's value.
constexpr char kThen[] = "then";

std::vector<std::span<const std::string>> SplitOnThen(std::span<const std::string> args) {
  std::vector<std::span<const std::string>> parts;
  size_t start = 0;
  for (size_t i = 0; i <= args.size(); ++i) {
    if (i < args.size() && args[i] != kThen) continue;
    if (i == start) throw UsageError{"`then` must come between two events"};
    parts.push_back(args.subspan(start, i - start));
    start = i + 1;
  }
  return parts;
}

struct UserData {
  u128 data_128 = 0;
  uint64_t data_64 = 0;
  uint32_t data_32 = 0;
  uint64_t value_time_ns = 0;  // transfers only
};

void AddUserDataFlags(FlagParser& parser, UserData* data, bool transfer) {
  parser.Value("--user-data-128", Id("--user-data-128", &data->data_128));
  parser.Value("--user-data-64", Number("--user-data-64", &data->data_64));
  parser.Value("--user-data-32", Number("--user-data-32", &data->data_32));
  // Every timestamp the ledger stores is below 2^63 (engine/types.h, kTimestampLimitNs): a
  // larger value time is a usage error here rather than value_time_out_of_range from the server.
  if (transfer) {
    parser.Value("--value-time-ns",
                 Number("--value-time-ns", &data->value_time_ns, 0, kTimestampLimitNs - 1));
  }
}

void SetUserData(const UserData& data, Transfer* transfer) {
  transfer->user_data_128 = UserData128::From(data.data_128);
  transfer->user_data_64 = data.data_64;
  transfer->user_data_32 = data.data_32;
  transfer->value_time_ns = data.value_time_ns;
}

void AddFlagSwitch(FlagParser& parser, const char* name, uint16_t* flags, uint16_t bit) {
  parser.Switch(name, [flags, bit] { *flags = static_cast<uint16_t>(*flags | bit); });
}

// Imports (docs/data-model.md, "Import"): --imported and --timestamp-ns (the booking timestamp
// in the system migrated from) go together; a batch is all imported or all native, as the
// engine says per event.
void AddImportFlags(FlagParser& parser, uint16_t* flags, uint16_t imported_bit,
                    uint64_t* timestamp_ns) {
  AddFlagSwitch(parser, "--imported", flags, imported_bit);
  parser.Value("--timestamp-ns", Number("--timestamp-ns", timestamp_ns, 1));
}

void CheckImportFlags(const FlagParser& parser, uint16_t flags, uint16_t imported_bit) {
  const bool imported = (flags & imported_bit) != 0;
  if (imported && !parser.Seen("--timestamp-ns")) {
    throw UsageError{
        "--imported needs --timestamp-ns (the event's booking time where it came from)"};
  }
  if (!imported && parser.Seen("--timestamp-ns")) {
    throw UsageError{"--timestamp-ns needs --imported (the ledger books native events itself)"};
  }
}

Amount ParseAmountArgument(const std::string& text, const Ledger& ledger) {
  absl::StatusOr<Amount> amount = ParseAmount(text, ledger.scale);
  if (!amount.ok()) {
    throw UsageError{absl::StrCat("--amount: ", amount.status().message(), "; ledger ", ledger.id,
                                  " is ", AssetText(ledger), ", scale ", ledger.scale)};
  }
  return *amount;
}

const Ledger& RequireLedger(Session& session, uint32_t id) {
  const Ledger* ledger = session.FindLedger(id);
  if (ledger == nullptr) {
    throw Failure{kExitFailed, absl::StrCat("ledger ", id,
                                            " does not exist (create-ledger creates it); "
                                            "nothing was submitted")};
  }
  return *ledger;
}

// A chain whose last event is linked would not run at all (linked_event_chain_open).
void RequireClosedChain(bool last_is_linked, const char* what) {
  if (last_is_linked) {
    throw UsageError{absl::StrCat("the last ", what,
                                  " is --linked: link it to a next one with `then`, or drop "
                                  "--linked")};
  }
}

// Success is ok, or exists: a retry of a create that was committed before answers exists,
// which is what the operator wanted.
bool Succeeded(CreateLedgerResult r) {
  return r == CreateLedgerResult::kOk || r == CreateLedgerResult::kExists;
}
bool Succeeded(CreateAccountResult r) {
  return r == CreateAccountResult::kOk || r == CreateAccountResult::kExists;
}
bool Succeeded(CreateTransferResult r) {
  return r == CreateTransferResult::kOk || r == CreateTransferResult::kExists;
}

// Prints each result; true when every event succeeded.
template <typename Result, typename Event, typename IdText>
bool PrintOutcomes(Session& session, const char* kind, std::span<const Event> events,
                   std::span<const Result> results, IdText id_text) {
  bool all_succeeded = true;
  for (size_t i = 0; i < results.size(); ++i) {
    const bool success = Succeeded(results[i].status);
    all_succeeded = all_succeeded && success;
    PrintOutcome(session,
                 {kind, i, id_text(events[i]), ResultName(results[i].status),
                  static_cast<uint8_t>(results[i].status), success, results[i].timestamp_ns});
  }
  return all_succeeded;
}

// Submits the batch, prints each result, then each transfer as booked: the record is what
// counts (a balancing transfer's amount is what it moved, a post's what it posted).
int SubmitTransfers(Session& session, std::span<const Transfer> transfers) {
  std::vector<net::TransferResult> results(transfers.size());
  Check(session.client().CreateTransfers(transfers, results), "create transfers");
  const bool all_succeeded =
      PrintOutcomes<net::TransferResult>(session, "transfer", transfers, std::span(results),
                                         [](const Transfer& t) { return FormatId(t.id.Get()); });
  std::vector<TransferId> booked;
  for (size_t i = 0; i < transfers.size(); ++i) {
    if (Succeeded(results[i].status)) booked.push_back(transfers[i].id);
  }
  for (const Transfer& transfer : session.LookupTransfers(booked)) {
    PrintTransfer(session, transfer, session.FindLedger(transfer.ledger));
  }
  return all_succeeded ? kExitOk : kExitFailed;
}

// ---------------------------------------------------------------------------------------------
// transfer

struct TransferSpec {
  Transfer transfer{};
  std::string amount_text;
};

TransferSpec ParseTransferSpec(GlobalOptions& global, std::span<const std::string> args) {
  TransferSpec spec;
  Transfer& t = spec.transfer;
  u128 id = 0, debit = 0, credit = 0;
  UserData user_data;
  FlagParser parser;
  AddGlobalFlags(parser, &global);
  parser.Value("--id", Id("--id", &id));
  parser.Value("--debit", Id("--debit", &debit));
  parser.Value("--credit", Id("--credit", &credit));
  parser.Value("--amount", Text(&spec.amount_text));
  parser.Value("--ledger", Number("--ledger", &t.ledger));
  parser.Value("--code", Number("--code", &t.code));
  parser.Value("--timeout-s", Number("--timeout-s", &t.timeout_s));
  AddFlagSwitch(parser, "--linked", &t.flags, transfer_flags::kLinked);
  AddFlagSwitch(parser, "--pending", &t.flags, transfer_flags::kPending);
  AddFlagSwitch(parser, "--balancing-debit", &t.flags, transfer_flags::kBalancingDebit);
  AddFlagSwitch(parser, "--balancing-credit", &t.flags, transfer_flags::kBalancingCredit);
  AddFlagSwitch(parser, "--closing-debit", &t.flags, transfer_flags::kClosingDebit);
  AddFlagSwitch(parser, "--closing-credit", &t.flags, transfer_flags::kClosingCredit);
  AddImportFlags(parser, &t.flags, transfer_flags::kImported, &t.timestamp_ns);
  AddUserDataFlags(parser, &user_data, /*transfer=*/true);
  parser.Parse(args);
  parser.Require("transfer", {"--id", "--debit", "--credit", "--amount", "--ledger", "--code"});
  CheckImportFlags(parser, t.flags, transfer_flags::kImported);
  const bool pending = (t.flags & transfer_flags::kPending) != 0;
  if (parser.Seen("--timeout-s") && !pending) throw UsageError{"--timeout-s needs --pending"};
  const uint16_t closing = transfer_flags::kClosingDebit | transfer_flags::kClosingCredit;
  if ((t.flags & closing) != 0 && !pending) throw UsageError{"--closing-* needs --pending"};
  t.id = TransferId::From(id);
  t.debit_account_id = AccountId::From(debit);
  t.credit_account_id = AccountId::From(credit);
  SetUserData(user_data, &t);
  return spec;
}

// ---------------------------------------------------------------------------------------------
// create-account

Account ParseAccountSpec(GlobalOptions& global, std::span<const std::string> args) {
  Account account{};
  u128 id = 0;
  UserData user_data;
  FlagParser parser;
  AddGlobalFlags(parser, &global);
  parser.Value("--id", Id("--id", &id));
  parser.Value("--ledger", Number("--ledger", &account.ledger));
  parser.Value("--code", Number("--code", &account.code));
  parser.Value("--flags", [&account](const std::string& text) {
    absl::StatusOr<uint16_t> flags = ParseAccountFlags(text);
    if (!flags.ok()) throw UsageError{absl::StrCat("--flags: ", flags.status().message())};
    account.flags = static_cast<uint16_t>(account.flags | *flags);
  });
  AddFlagSwitch(parser, "--linked", &account.flags, account_flags::kLinked);
  AddImportFlags(parser, &account.flags, account_flags::kImported, &account.timestamp_ns);
  AddUserDataFlags(parser, &user_data, /*transfer=*/false);
  parser.Parse(args);
  parser.Require("create-account", {"--id", "--ledger", "--code"});
  CheckImportFlags(parser, account.flags, account_flags::kImported);
  account.id = AccountId::From(id);
  account.user_data_128 = UserData128::From(user_data.data_128);
  account.user_data_64 = user_data.data_64;
  account.user_data_32 = user_data.data_32;
  return account;
}

// ---------------------------------------------------------------------------------------------
// post, void, reverse: one event, most of it looked up.

struct FollowUpArgs {
  u128 id = 0;
  u128 target = 0;  // the reservation (post, void) or the original (reverse)
  std::string amount_text;
  uint16_t code = 0;  // reverse: 0 keeps the original's
  UserData user_data;
};

FollowUpArgs ParseFollowUp(GlobalOptions& global, std::span<const std::string> args,
                           const char* command, const char* target_flag, bool has_amount) {
  FollowUpArgs parsed;
  FlagParser parser;
  AddGlobalFlags(parser, &global);
  parser.Value("--id", Id("--id", &parsed.id));
  parser.Value(target_flag, Id(target_flag, &parsed.target));
  if (has_amount) parser.Value("--amount", Text(&parsed.amount_text));
  if (std::strcmp(command, "reverse") == 0) {
    parser.Value("--code", Number("--code", &parsed.code, 1));
  }
  AddUserDataFlags(parser, &parsed.user_data, /*transfer=*/true);
  parser.Parse(args);
  parser.Require(command, {"--id", target_flag});
  return parsed;
}

// The transfer `id` names, which must exist; the engine would record the failure under the new
// transfer's id for good, so a mistyped id is caught here, before anything is submitted.
Transfer RequireTransfer(Session& session, u128 id, const char* what) {
  std::optional<Transfer> transfer = session.LookupTransfer(TransferId::From(id));
  if (!transfer.has_value()) {
    throw Failure{kExitFailed,
                  absl::StrCat(what, " ", FormatId(id), " does not exist; nothing was submitted")};
  }
  return *transfer;
}

Transfer RequirePending(Session& session, u128 id) {
  const Transfer pending = RequireTransfer(session, id, "pending transfer");
  if ((pending.flags & transfer_flags::kPending) == 0) {
    throw Failure{kExitFailed,
                  absl::StrCat("transfer ", FormatId(id), " is a ", TransferKindText(pending),
                               ", not a pending transfer; nothing was submitted")};
  }
  return pending;
}

// A post or void of `pending`. The engine inherits accounts, ledger and code when they are 0;
// they are filled in anyway so that the logged event names its accounts (ledger-wal dump
// --account finds it), and they cannot differ: they are the reservation's own.
Transfer Resolution(const FollowUpArgs& args, const Transfer& pending, uint16_t flag) {
  Transfer t{};
  t.id = TransferId::From(args.id);
  t.pending_id = pending.id;
  t.debit_account_id = pending.debit_account_id;
  t.credit_account_id = pending.credit_account_id;
  t.ledger = pending.ledger;
  t.code = pending.code;
  t.flags = flag;
  SetUserData(args.user_data, &t);
  return t;
}

}  // namespace

int RunCreateLedger(GlobalOptions& global, std::span<const std::string> args) {
  Ledger ledger{};
  std::string asset;
  FlagParser parser;
  AddGlobalFlags(parser, &global);
  parser.Value("--id", Number("--id", &ledger.id));
  parser.Value("--asset", Text(&asset));
  parser.Value("--scale", Number("--scale", &ledger.scale));
  uint16_t flags = 0;
  AddImportFlags(parser, &flags, ledger_flags::kImported, &ledger.timestamp_ns);
  parser.Parse(args);
  parser.Require("create-ledger", {"--id", "--asset", "--scale"});
  CheckImportFlags(parser, flags, ledger_flags::kImported);
  ledger.flags = static_cast<uint8_t>(flags);
  // Only the length is checked here (it must fit the record); the engine judges the characters.
  if (asset.empty() || asset.size() > kAssetCodeSizeBytes) {
    throw UsageError{absl::StrCat("--asset must be 1 to ", kAssetCodeSizeBytes, " characters")};
  }
  std::memcpy(ledger.asset_code, asset.data(), asset.size());
  Session session(global);
  std::vector<net::LedgerResult> results(1);
  Check(session.client().CreateLedgers(std::span(&ledger, 1), results), "create ledger");
  const bool success = PrintOutcomes<net::LedgerResult>(
      session, "ledger", std::span<const Ledger>(&ledger, 1), std::span(results),
      [](const Ledger& l) { return absl::StrCat(l.id); });
  return success ? kExitOk : kExitFailed;
}

int RunCreateAccount(GlobalOptions& global, std::span<const std::string> args) {
  std::vector<Account> accounts;
  for (std::span<const std::string> part : SplitOnThen(args)) {
    accounts.push_back(ParseAccountSpec(global, part));
  }
  RequireClosedChain((accounts.back().flags & account_flags::kLinked) != 0, "account");
  Session session(global);
  std::vector<net::AccountResult> results(accounts.size());
  Check(session.client().CreateAccounts(accounts, results), "create accounts");
  const bool success = PrintOutcomes<net::AccountResult>(
      session, "account", std::span<const Account>(accounts), std::span(results),
      [](const Account& a) { return FormatId(a.id.Get()); });
  return success ? kExitOk : kExitFailed;
}

int RunTransfer(GlobalOptions& global, std::span<const std::string> args) {
  std::vector<TransferSpec> specs;
  for (std::span<const std::string> part : SplitOnThen(args)) {
    specs.push_back(ParseTransferSpec(global, part));
  }
  RequireClosedChain((specs.back().transfer.flags & transfer_flags::kLinked) != 0, "transfer");
  Session session(global);
  std::vector<Transfer> transfers;
  for (TransferSpec& spec : specs) {
    const Ledger& ledger = RequireLedger(session, spec.transfer.ledger);
    spec.transfer.amount = ParseAmountArgument(spec.amount_text, ledger);
    transfers.push_back(spec.transfer);
  }
  return SubmitTransfers(session, transfers);
}

int RunPost(GlobalOptions& global, std::span<const std::string> args) {
  FollowUpArgs parsed = ParseFollowUp(global, args, "post", "--pending-id", /*has_amount=*/true);
  if (parsed.amount_text.empty()) parsed.amount_text = "max";  // the whole reservation
  Session session(global);
  const Transfer pending = RequirePending(session, parsed.target);
  Transfer post = Resolution(parsed, pending, transfer_flags::kPostPending);
  post.amount = ParseAmountArgument(parsed.amount_text, RequireLedger(session, pending.ledger));
  return SubmitTransfers(session, std::span(&post, 1));
}

int RunVoid(GlobalOptions& global, std::span<const std::string> args) {
  const FollowUpArgs parsed =
      ParseFollowUp(global, args, "void", "--pending-id", /*has_amount=*/false);
  Session session(global);
  // Amount 0: the engine voids the reserved amount, whatever it is.
  const Transfer void_transfer =
      Resolution(parsed, RequirePending(session, parsed.target), transfer_flags::kVoidPending);
  return SubmitTransfers(session, std::span(&void_transfer, 1));
}

int RunReverse(GlobalOptions& global, std::span<const std::string> args) {
  const FollowUpArgs parsed =
      ParseFollowUp(global, args, "reverse", "--reverses", /*has_amount=*/true);
  if (parsed.amount_text.empty()) {
    throw UsageError{"reverse needs --amount (the part of the original to book back)"};
  }
  Session session(global);
  const Transfer original = RequireTransfer(session, parsed.target, "transfer");
  Transfer reversal{};
  reversal.id = TransferId::From(parsed.id);
  reversal.reverses_id = original.id;
  // The engine requires the original's accounts, swapped.
  reversal.debit_account_id = original.credit_account_id;
  reversal.credit_account_id = original.debit_account_id;
  reversal.ledger = original.ledger;
  reversal.code = parsed.code != 0 ? parsed.code : original.code;
  reversal.amount =
      ParseAmountArgument(parsed.amount_text, RequireLedger(session, original.ledger));
  SetUserData(parsed.user_data, &reversal);
  return SubmitTransfers(session, std::span(&reversal, 1));
}

}  // namespace ledger::tools::ctl
