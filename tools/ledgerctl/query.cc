// ledgerctl's commands that read: lookups, history, balances, trial-balance and info.
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tools/amount_text.h"
#include "tools/ledgerctl/ledgerctl.h"

namespace ledger::tools::ctl {
namespace {

// Parses `args` as one or more ids (plus global flags).
std::vector<u128> ParseIds(GlobalOptions& global, std::span<const std::string> args,
                           const char* command) {
  std::vector<u128> ids;
  FlagParser parser;
  AddGlobalFlags(parser, &global);
  parser.Positional(
      [&ids](const std::string& text) { ids.push_back(ParseIdArgument("id", text)); });
  parser.Parse(args);
  if (ids.empty()) throw UsageError{absl::StrCat(command, " needs at least one id")};
  return ids;
}

// Prints what was found in request order and, for the rest, what print_missing(id) prints when
// it returns true (lookup-transfer: a failed id), else "not found"; kExitFailed if any is
// missing. A map, not a merge: the result is correct whether the server repeats or folds a
// duplicated id.
template <typename Record, typename Print, typename PrintMissing = bool (*)(u128)>
int PrintFound(
    Session& session, const char* kind, const std::vector<u128>& ids,
    const std::vector<Record>& found, Print print,
    PrintMissing print_missing = [](u128) { return false; }) {
  std::map<u128, const Record*> by_id;
  for (const Record& record : found) by_id.emplace(static_cast<u128>(record.id.Get()), &record);
  int exit_code = kExitOk;
  for (u128 id : ids) {
    auto it = by_id.find(id);
    if (it != by_id.end()) {
      print(*it->second);
    } else {
      if (!print_missing(id)) PrintNotFound(session, kind, FormatId(id));
      exit_code = kExitFailed;
    }
  }
  return exit_code;
}

Account RequireAccount(Session& session, AccountId id) {
  const std::vector<Account> found = session.LookupAccounts(std::span(&id, 1));
  if (found.empty() || found[0].id != id) {
    throw Failure{kExitFailed, absl::StrCat("account ", FormatId(id.Get()), " does not exist")};
  }
  return found[0];
}

// history and balances: an account and a time range, paged.
struct RangeArgs {
  AccountFilter filter;
  uint64_t limit = 0;  // at most this many records in all; 0: one page (or every page: --all)
  bool all = false;
};

RangeArgs ParseRange(GlobalOptions& global, std::span<const std::string> args, const char* command,
                     bool sides) {
  RangeArgs range;
  AccountFilter& filter = range.filter;
  bool has_account = false;
  bool debits = false;
  bool credits = false;
  FlagParser parser;
  AddGlobalFlags(parser, &global);
  parser.Positional([&](const std::string& text) {
    if (has_account) throw UsageError{absl::StrCat(command, " takes one account")};
    filter.account_id = AccountId::From(ParseIdArgument("account", text));
    has_account = true;
  });
  parser.Value("--from-ns", Number("--from-ns", &filter.timestamp_min_ns));
  parser.Value("--to-ns", Number("--to-ns", &filter.timestamp_max_ns));
  parser.Value("--limit", Number("--limit", &range.limit, 1));
  parser.Switch("--reversed", [&] { filter.flags |= filter_flags::kReversed; });
  parser.Switch("--all", [&] { range.all = true; });
  if (sides) {
    parser.Value("--code", Number("--code", &filter.code, 1));
    parser.Value("--value-from-ns", Number("--value-from-ns", &filter.value_time_min_ns));
    parser.Value("--value-to-ns", Number("--value-to-ns", &filter.value_time_max_ns));
    parser.Switch("--debits", [&] { debits = true; });
    parser.Switch("--credits", [&] { credits = true; });
  }
  parser.Parse(args);
  if (!has_account) throw UsageError{absl::StrCat(command, " needs an account id")};
  if (debits && credits) throw UsageError{"--debits and --credits exclude each other"};
  if (debits) filter.flags &= ~filter_flags::kCredits;
  if (credits) filter.flags &= ~filter_flags::kDebits;
  return range;
}

// query-accounts and query-transfers: a ledger-wide filter, paged as RangeArgs.
struct QueryArgs {
  QueryFilter filter;
  uint64_t limit = 0;
  bool all = false;
};

bool IsReversed(const AccountFilter& filter) {
  return (filter.flags & filter_flags::kReversed) != 0;
}
bool IsReversed(const QueryFilter& filter) { return filter.reversed; }

QueryArgs ParseQuery(GlobalOptions& global, std::span<const std::string> args,
                     const char* command) {
  QueryArgs query;
  QueryFilter& filter = query.filter;
  u128 user_data_128 = 0;
  FlagParser parser;
  AddGlobalFlags(parser, &global);
  parser.Positional([command](const std::string& text) {
    throw UsageError{absl::StrCat(command, " takes flags only, not \"", text, "\"")};
  });
  // Zero matches anything, so a filter value of 0 is refused rather than silently ignored.
  parser.Value("--ledger", Number("--ledger", &filter.ledger, 1));
  parser.Value("--code", Number("--code", &filter.code, 1));
  parser.Value("--user-data-128", Id("--user-data-128", &user_data_128));
  parser.Value("--user-data-64", Number("--user-data-64", &filter.user_data_64, 1));
  parser.Value("--user-data-32", Number("--user-data-32", &filter.user_data_32, 1));
  parser.Value("--from-ns", Number("--from-ns", &filter.timestamp_min_ns));
  parser.Value("--to-ns", Number("--to-ns", &filter.timestamp_max_ns));
  parser.Value("--limit", Number("--limit", &query.limit, 1));
  parser.Switch("--reversed", [&] { filter.reversed = true; });
  parser.Switch("--all", [&] { query.all = true; });
  parser.Parse(args);
  if (parser.Seen("--user-data-128") && user_data_128 == 0) {
    throw UsageError{"--user-data-128 must not be 0 (0 matches any: leave the flag out)"};
  }
  filter.user_data_128 = UserData128::From(user_data_128);
  return query;
}

// Runs `fetch` (one page for a filter) until the range is done, handing each page to `print`.
// Returns whether more remain when it stopped at one page or at the limit.
template <typename Record, typename Args, typename Fetch, typename Print>
bool ForEachPage(Session& session, Args range, Fetch fetch, Print print) {
  const uint32_t page_max = session.client().server_info().limits.query_results_max;
  uint64_t printed = 0;
  for (;;) {
    uint64_t want = range.limit == 0 ? page_max : range.limit - printed;
    if (page_max != 0) want = std::min<uint64_t>(want, page_max);
    range.filter.limit = static_cast<uint32_t>(want);
    const net::Page<Record> page = fetch(range.filter);
    print(page.records);
    printed += page.records.size();
    if (page.next_timestamp_ns == 0 || page.records.empty()) return false;  // the last page
    const bool limit_reached = range.limit != 0 && printed >= range.limit;
    if (limit_reached || (!range.all && range.limit == 0)) return true;
    // The cursor moves the end of the range the pages walk from.
    if (IsReversed(range.filter)) {
      range.filter.timestamp_max_ns = page.next_timestamp_ns;
    } else {
      range.filter.timestamp_min_ns = page.next_timestamp_ns;
    }
  }
}

void NoteMore(const Session& session, const char* what) {
  if (session.json()) return;
  std::fprintf(stderr, "(more %s follow: --all, or --limit N)\n", what);
}

// query-accounts and query-transfers: the pages of `fetch`, each record a table row (`row`)
// or a JSON line (`json`); records_name says what more pages would hold.
template <typename Record, typename Fetch, typename Row, typename Json>
int RunQuery(GlobalOptions& global, std::span<const std::string> args, const char* command,
             const char* records_name, std::vector<Table::Column> columns, Fetch fetch, Row row,
             Json json) {
  const QueryArgs query = ParseQuery(global, args, command);
  Session session(global);
  Table table(std::move(columns));
  const bool more = ForEachPage<Record>(
      session, query, [&](const QueryFilter& filter) { return fetch(session, filter); },
      [&](const std::vector<Record>& page) {
        for (const Record& record : page) {
          const Ledger* ledger = session.FindLedger(record.ledger);
          if (session.json()) {
            std::puts(json(record, ledger).c_str());
          } else {
            table.Add(row(session, record, ledger));
          }
        }
      });
  table.Flush();
  if (more) NoteMore(session, records_name);
  return kExitOk;
}

std::string SumText(const Session& session, const WideSum& sum, const Ledger& ledger) {
  if (session.options().raw || ledger.scale > kScaleMax) return FormatWideRaw(sum) + "u";
  return absl::StrCat(FormatWide(sum, ledger.scale), " ", AssetText(ledger));
}

// key: the raw sum, key_formatted: with the ledger's scale (as JsonObject::Money does).
void AddSum(JsonObject& json, std::string_view key, const WideSum& sum, const Ledger& ledger) {
  json.Str(key, FormatWideRaw(sum));
  if (ledger.scale <= kScaleMax) {
    json.Str(std::string(key) + "_formatted", FormatWide(sum, ledger.scale));
  }
}

}  // namespace

int RunLookupLedger(GlobalOptions& global, std::span<const std::string> args) {
  std::vector<uint32_t> ids;
  FlagParser parser;
  AddGlobalFlags(parser, &global);
  parser.Positional([&ids](const std::string& text) {
    ids.push_back(static_cast<uint32_t>(ParseNumber("ledger id", text, 0, UINT32_MAX)));
  });
  parser.Parse(args);
  if (ids.empty()) throw UsageError{"lookup-ledger needs at least one id"};
  Session session(global);
  int exit_code = kExitOk;
  for (uint32_t id : ids) {
    if (const Ledger* ledger = session.FindLedger(id); ledger != nullptr) {
      PrintLedger(session, *ledger);
    } else {
      PrintNotFound(session, "ledger", absl::StrCat(id));
      exit_code = kExitFailed;
    }
  }
  return exit_code;
}

int RunLookupAccount(GlobalOptions& global, std::span<const std::string> args) {
  const std::vector<u128> ids = ParseIds(global, args, "lookup-account");
  Session session(global);
  std::vector<AccountId> account_ids;
  for (u128 id : ids) account_ids.push_back(AccountId::From(id));
  const std::vector<Account> found = session.LookupAccounts(account_ids);
  return PrintFound(session, "account", ids, found, [&session](const Account& account) {
    PrintAccount(session, account, session.FindLedger(account.ledger));
  });
}

int RunLookupTransfer(GlobalOptions& global, std::span<const std::string> args) {
  const std::vector<u128> ids = ParseIds(global, args, "lookup-transfer");
  Session session(global);
  std::vector<TransferId> transfer_ids;
  for (u128 id : ids) transfer_ids.push_back(TransferId::From(id));
  std::vector<FailedTransfer> failures;
  const std::vector<Transfer> found = session.LookupTransfers(transfer_ids, &failures);
  const std::vector<net::TransferStatusInfo> statuses = session.GetTransferStatuses(transfer_ids);
  std::map<u128, const net::TransferStatusInfo*> status_of;
  for (const net::TransferStatusInfo& status : statuses)
    status_of.emplace(status.id.Get(), &status);
  std::map<u128, const FailedTransfer*> failure_of;
  for (const FailedTransfer& failed : failures) failure_of.emplace(failed.event.id.Get(), &failed);
  return PrintFound(
      session, "transfer", ids, found,
      [&](const Transfer& transfer) {
        const auto status = status_of.find(transfer.id.Get());
        PrintTransfer(session, transfer, session.FindLedger(transfer.ledger),
                      status == status_of.end() ? nullptr : status->second);
      },
      [&](u128 id) {
        const auto failed = failure_of.find(id);
        if (failed == failure_of.end()) return false;
        PrintFailedTransfer(session, *failed->second,
                            session.FindLedger(failed->second->event.ledger));
        return true;
      });
}

int RunHistory(GlobalOptions& global, std::span<const std::string> args) {
  const RangeArgs range = ParseRange(global, args, "history", /*sides=*/true);
  Session session(global);
  const Account account = RequireAccount(session, range.filter.account_id);
  const Ledger* ledger = session.FindLedger(account.ledger);
  Table table({{"BOOKED"},
               {"TRANSFER"},
               {"KIND"},
               {"DEBIT"},
               {"CREDIT"},
               {"AMOUNT", true},
               {"CODE", true}});
  const bool more = ForEachPage<Transfer>(
      session, range,
      [&session](const AccountFilter& filter) {
        return Check(session.client().GetAccountTransfers(filter), "history");
      },
      [&](const std::vector<Transfer>& page) {
        for (const Transfer& t : page) {
          if (session.json()) {
            std::puts(JsonTransfer(t, ledger).c_str());
            continue;
          }
          table.Add({TimeText(t.timestamp_ns), FormatId(t.id.Get()), TransferKindText(t),
                     FormatId(t.debit_account_id.Get()), FormatId(t.credit_account_id.Get()),
                     MoneyText(session, t.amount, ledger), absl::StrCat(t.code)});
        }
      });
  table.Flush();
  if (more) NoteMore(session, "transfers");
  return kExitOk;
}

int RunQueryAccounts(GlobalOptions& global, std::span<const std::string> args) {
  return RunQuery<Account>(
      global, args, "query-accounts", "accounts",
      {{"CREATED"},
       {"ACCOUNT"},
       {"LEDGER", true},
       {"CODE", true},
       {"DEBITS POSTED", true},
       {"CREDITS POSTED", true},
       {"USER DATA"}},
      [](Session& session, const QueryFilter& filter) {
        return Check(session.client().QueryAccounts(filter), "query-accounts");
      },
      [](const Session& session, const Account& a, const Ledger* ledger) {
        return std::vector<std::string>{
            TimeText(a.timestamp_ns),
            FormatId(a.id.Get()),
            absl::StrCat(a.ledger),
            absl::StrCat(a.code),
            MoneyText(session, a.debits_posted, ledger),
            MoneyText(session, a.credits_posted, ledger),
            UserDataText(a.user_data_128, a.user_data_64, a.user_data_32)};
      },
      [](const Account& a, const Ledger* ledger) { return JsonAccount(a, ledger); });
}

int RunQueryTransfers(GlobalOptions& global, std::span<const std::string> args) {
  return RunQuery<Transfer>(
      global, args, "query-transfers", "transfers",
      {{"BOOKED"},
       {"TRANSFER"},
       {"KIND"},
       {"DEBIT"},
       {"CREDIT"},
       {"AMOUNT", true},
       {"CODE", true},
       {"USER DATA"}},
      [](Session& session, const QueryFilter& filter) {
        return Check(session.client().QueryTransfers(filter), "query-transfers");
      },
      [](const Session& session, const Transfer& t, const Ledger* ledger) {
        return std::vector<std::string>{
            TimeText(t.timestamp_ns),
            FormatId(t.id.Get()),
            TransferKindText(t),
            FormatId(t.debit_account_id.Get()),
            FormatId(t.credit_account_id.Get()),
            MoneyText(session, t.amount, ledger),
            absl::StrCat(t.code),
            UserDataText(t.user_data_128, t.user_data_64, t.user_data_32)};
      },
      [](const Transfer& t, const Ledger* ledger) { return JsonTransfer(t, ledger); });
}

int RunBalances(GlobalOptions& global, std::span<const std::string> args) {
  const RangeArgs range = ParseRange(global, args, "balances", /*sides=*/false);
  Session session(global);
  const Account account = RequireAccount(session, range.filter.account_id);
  if ((account.flags & account_flags::kHistory) == 0) {
    throw Failure{kExitFailed, absl::StrCat("account ", FormatId(account.id.Get()),
                                            " was created without the history flag: the "
                                            "server keeps no balances for it")};
  }
  const Ledger* ledger = session.FindLedger(account.ledger);
  Table table({{"BOOKED"},
               {"DEBITS PENDING", true},
               {"DEBITS POSTED", true},
               {"CREDITS PENDING", true},
               {"CREDITS POSTED", true}});
  const bool more = ForEachPage<AccountBalance>(
      session, range,
      [&session](const AccountFilter& filter) {
        return Check(session.client().GetAccountBalances(filter), "balances");
      },
      [&](const std::vector<AccountBalance>& page) {
        for (const AccountBalance& b : page) {
          if (session.json()) {
            std::puts(JsonBalances(b, ledger).c_str());
            continue;
          }
          table.Add({TimeText(b.timestamp_ns), MoneyText(session, b.debits_pending, ledger),
                     MoneyText(session, b.debits_posted, ledger),
                     MoneyText(session, b.credits_pending, ledger),
                     MoneyText(session, b.credits_posted, ledger)});
        }
      });
  table.Flush();
  if (more) NoteMore(session, "balances");
  return kExitOk;
}

int RunValueBalance(GlobalOptions& global, std::span<const std::string> args) {
  AccountId account_id;
  bool has_account = false;
  uint64_t at_ns = 0;
  bool has_at = false;
  FlagParser parser;
  AddGlobalFlags(parser, &global);
  parser.Positional([&](const std::string& text) {
    if (has_account) throw UsageError{"value-balance takes one account"};
    account_id = AccountId::From(ParseIdArgument("account", text));
    has_account = true;
  });
  parser.Value("--at-ns", [&](const std::string& text) {
    at_ns = ParseNumber("--at-ns", text, 0, UINT64_MAX);
    has_at = true;
  });
  parser.Parse(args);
  if (!has_account) throw UsageError{"value-balance needs an account id"};
  if (!has_at) throw UsageError{"value-balance needs --at-ns (a value time)"};
  Session session(global);
  const Account account = RequireAccount(session, account_id);
  const Ledger* ledger = session.FindLedger(account.ledger);
  const PostedAtValueTime posted =
      Check(session.client().GetPostedAtValueTime(account_id, at_ns), "value-balance");
  if (session.json()) {
    std::puts(JsonObject("value_balance")
                  .Wide("account_id", account_id.Get())
                  .Wide("value_time_ns", at_ns)
                  .Money("debits_posted", posted.debits_posted, ledger)
                  .Money("credits_posted", posted.credits_posted, ledger)
                  .Wide("transfer_count", posted.transfer_count)
                  .Close()
                  .c_str());
  } else {
    PrintFields(
        absl::StrCat("account ", FormatId(account_id.Get()), " at value time ", TimeText(at_ns)),
        {{"debits posted", MoneyText(session, posted.debits_posted, ledger)},
         {"credits posted", MoneyText(session, posted.credits_posted, ledger)},
         {"postings", absl::StrCat(posted.transfer_count)}});
  }
  return kExitOk;
}

int RunTrialBalance(GlobalOptions& global, std::span<const std::string> args) {
  uint32_t ledger_id = 0;
  bool has_ledger = false;
  FlagParser parser;
  AddGlobalFlags(parser, &global);
  parser.Positional([&](const std::string& text) {
    if (has_ledger) throw UsageError{"trial-balance takes one ledger"};
    ledger_id = static_cast<uint32_t>(ParseNumber("ledger", text, 1, UINT32_MAX));
    has_ledger = true;
  });
  parser.Parse(args);
  if (!has_ledger) throw UsageError{"trial-balance needs a ledger id"};
  Session session(global);
  const Ledger* ledger = session.FindLedger(ledger_id);
  if (ledger == nullptr)
    throw Failure{kExitFailed, absl::StrCat("ledger ", ledger_id, " does not exist")};
  const TrialBalance trial = Check(session.client().GetTrialBalance(ledger_id), "trial-balance");
  const bool balanced = trial.Balanced();
  if (session.json()) {
    JsonObject json("trial_balance");
    json.Int("ledger", trial.ledger)
        .Str("asset_code", AssetText(*ledger))
        .Int("scale", ledger->scale)
        .Wide("account_count", trial.account_count);
    AddSum(json, "debits_pending", trial.debits_pending, *ledger);
    AddSum(json, "debits_posted", trial.debits_posted, *ledger);
    AddSum(json, "credits_pending", trial.credits_pending, *ledger);
    AddSum(json, "credits_posted", trial.credits_posted, *ledger);
    std::puts(json.Bool("balanced", balanced).Close().c_str());
  } else {
    std::printf("trial balance of ledger %u (%s): %llu accounts, %s\n", trial.ledger,
                AssetText(*ledger).c_str(), static_cast<unsigned long long>(trial.account_count),
                balanced ? "balanced" : "NOT BALANCED (debits differ from credits)");
    Table table({{""}, {"DEBITS", true}, {"CREDITS", true}});
    table.Add({"pending", SumText(session, trial.debits_pending, *ledger),
               SumText(session, trial.credits_pending, *ledger)});
    table.Add({"posted", SumText(session, trial.debits_posted, *ledger),
               SumText(session, trial.credits_posted, *ledger)});
    table.Flush();
  }
  return balanced ? kExitOk : kExitFailed;
}

int RunInfo(GlobalOptions& global, std::span<const std::string> args) {
  FlagParser parser;
  AddGlobalFlags(parser, &global);
  parser.Parse(args);
  Session session(global);
  const net::ServerInfo info = Check(session.client().GetServerInfo(), "info");
  const net::ServerLimitsInfo& limits = info.limits;
  const bool tls = !global.tls_ca_file.empty();
  if (session.json()) {
    std::puts(JsonObject("info")
                  .Str("address", global.address)
                  .Bool("tls", tls)
                  .Int("schema_version", info.schema_version)
                  .Int("shard_count", info.shard_count)
                  .Wide("last_op", info.last_op)
                  .Int("batch_events_max", limits.batch_events_max)
                  .Int("query_ids_max", limits.query_ids_max)
                  .Int("query_results_max", limits.query_results_max)
                  .Wide("message_bytes_max", limits.message_bytes_max)
                  .Int("inflight_calls_max", limits.inflight_calls_max)
                  .Wide("feed_retention", limits.feed_retention)
                  .Close()
                  .c_str());
    return kExitOk;
  }
  PrintFields(absl::StrCat("server ", global.address, tls ? " (TLS)" : ""),
              {{"schema version", absl::StrCat(info.schema_version)},
               {"shards", absl::StrCat(info.shard_count)},
               {"last op", absl::StrCat(info.last_op)},
               {"batch events max", absl::StrCat(limits.batch_events_max)},
               {"query ids max", absl::StrCat(limits.query_ids_max)},
               {"query results max", absl::StrCat(limits.query_results_max)},
               {"message bytes max", absl::StrCat(limits.message_bytes_max)},
               {"inflight calls max", absl::StrCat(limits.inflight_calls_max)},
               {"feed retention", absl::StrCat(limits.feed_retention, " changes")}});
  return kExitOk;
}

}  // namespace ledger::tools::ctl
