// ledgerctl's output: aligned text for people, one JSON object per line for programs.
#include <time.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/result_names.h"
#include "tools/amount_text.h"
#include "tools/ledgerctl/ledgerctl.h"

namespace ledger::tools::ctl {
namespace {

absl::string_view Sv(std::string_view text) { return absl::string_view(text.data(), text.size()); }

void WriteLine(std::string_view line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
}

// ["history","linked"] from "history,linked".
std::string JsonNameList(const std::string& names) {
  std::string out = "[";
  size_t start = 0;
  while (start < names.size()) {
    size_t comma = names.find(',', start);
    if (comma == std::string::npos) comma = names.size();
    if (out.size() > 1) out += ',';
    out += JsonString(std::string_view(names).substr(start, comma - start));
    start = comma + 1;
  }
  return out + "]";
}

std::string OrNone(std::string text) { return text.empty() ? "none" : text; }

std::string LedgerText(uint32_t id, const Ledger* ledger) {
  if (ledger == nullptr) return absl::StrCat(id, " (not found)");
  return absl::StrCat(id, " (", AssetText(*ledger), ", scale ", ledger->scale, ")");
}

// Pads each amount on the left to the widest of them, so their points line up.
void AlignRight(std::vector<std::pair<std::string, std::string>>& fields, size_t first,
                size_t count) {
  size_t width = 0;
  for (size_t i = first; i < first + count; ++i) width = std::max(width, fields[i].second.size());
  for (size_t i = first; i < first + count; ++i) {
    fields[i].second.insert(0, width - fields[i].second.size(), ' ');
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Values.

std::string UserDataText(UserData128 data_128, uint64_t data_64, uint32_t data_32) {
  return absl::StrCat("128: ", FormatId(data_128.Get()), "  64: ", data_64, "  32: ", data_32);
}

std::string TimeText(uint64_t timestamp_ns) {
  if (timestamp_ns == 0) return "-";
  const auto seconds = static_cast<time_t>(timestamp_ns / 1'000'000'000);
  tm utc;
  if (gmtime_r(&seconds, &utc) == nullptr) return absl::StrCat(timestamp_ns, "ns");
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%09" PRIu64 "Z",
                utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                utc.tm_sec, timestamp_ns % 1'000'000'000);
  return buffer;
}

std::string AssetText(const Ledger& ledger) {
  // The engine admits only A-Z 0-9 . _ -, but the bytes come from the network.
  std::string out;
  for (size_t i = 0; i < kAssetCodeSizeBytes && ledger.asset_code[i] != '\0'; ++i) {
    const char c = ledger.asset_code[i];
    out += c > ' ' && c < 0x7f ? c : '?';
  }
  return out;
}

std::string MoneyText(const Session& session, Amount amount, const Ledger* ledger) {
  if (session.options().raw || ledger == nullptr || ledger->scale > kScaleMax) {
    return FormatRaw(amount) + "u";
  }
  return absl::StrCat(FormatAmount(amount, ledger->scale), " ", AssetText(*ledger));
}

std::string TransferKindText(const Transfer& transfer) {
  const uint16_t flags = transfer.flags;
  std::string kind = (flags & transfer_flags::kVoidPending) != 0   ? "void"
                     : (flags & transfer_flags::kPostPending) != 0 ? "post"
                     : (flags & transfer_flags::kPending) != 0     ? "pending"
                     : !transfer.reverses_id.IsZero()              ? "reversal"
                                                                   : "posting";
  // The modifiers, by name (linked is a property of the batch, never stored).
  const uint16_t modifiers =
      flags & (transfer_flags::kBalancingDebit | transfer_flags::kBalancingCredit |
               transfer_flags::kClosingDebit | transfer_flags::kClosingCredit);
  if (modifiers != 0) {
    std::string names = TransferFlagsText(modifiers);
    std::replace(names.begin(), names.end(), ',', '+');
    kind += "+" + names;
  }
  return kind;
}

// ---------------------------------------------------------------------------------------------
// JSON.

JsonObject::JsonObject(std::string_view type) : text_("{\"type\":" + JsonString(type)) {}

void JsonObject::Key(std::string_view key) {
  text_ += ',';
  text_ += JsonString(key);
  text_ += ':';
}

JsonObject& JsonObject::Str(std::string_view key, std::string_view value) {
  Key(key);
  text_ += JsonString(value);
  return *this;
}

JsonObject& JsonObject::Int(std::string_view key, uint32_t value) {
  Key(key);
  absl::StrAppend(&text_, value);
  return *this;
}

JsonObject& JsonObject::Wide(std::string_view key, u128 value) {
  return Str(key, FormatU128(value));
}

JsonObject& JsonObject::Bool(std::string_view key, bool value) {
  Key(key);
  text_ += value ? "true" : "false";
  return *this;
}

JsonObject& JsonObject::Raw(std::string_view key, std::string_view json) {
  Key(key);
  text_ += json;
  return *this;
}

JsonObject& JsonObject::Money(std::string_view key, Amount amount, const Ledger* ledger) {
  Wide(key, amount.Get());
  if (ledger != nullptr && ledger->scale <= kScaleMax) {
    Str(absl::StrCat(Sv(key), "_formatted"), FormatAmount(amount, ledger->scale));
  }
  return *this;
}

std::string JsonObject::Close() { return text_ + "}"; }

std::string JsonLedger(const Ledger& ledger) {
  return JsonObject("ledger")
      .Int("id", ledger.id)
      .Str("asset_code", AssetText(ledger))
      .Int("scale", ledger.scale)
      .Wide("timestamp_ns", ledger.timestamp_ns)
      .Bool("imported", (ledger.flags & ledger_flags::kImported) != 0)
      .Close();
}

std::string JsonAccount(const Account& account, const Ledger* ledger) {
  JsonObject json("account");
  json.Wide("id", account.id.Get()).Int("ledger", account.ledger);
  if (ledger != nullptr) json.Str("asset_code", AssetText(*ledger)).Int("scale", ledger->scale);
  return json.Int("code", account.code)
      .Int("flags", account.flags)
      .Raw("flag_names", JsonNameList(AccountFlagsText(account.flags)))
      .Money("debits_pending", account.debits_pending, ledger)
      .Money("debits_posted", account.debits_posted, ledger)
      .Money("credits_pending", account.credits_pending, ledger)
      .Money("credits_posted", account.credits_posted, ledger)
      .Wide("user_data_128", account.user_data_128.Get())
      .Wide("user_data_64", account.user_data_64)
      .Int("user_data_32", account.user_data_32)
      .Wide("timestamp_ns", account.timestamp_ns)
      .Close();
}

// ["11","12"]: ids as decimal strings, as everywhere in the JSON.
std::string JsonIdList(const std::vector<TransferId>& ids) {
  std::string list = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    absl::StrAppend(&list, i == 0 ? "\"" : ",\"", FormatId(ids[i].Get()), "\"");
  }
  return list + "]";
}

std::string JsonTransfer(const Transfer& transfer, const Ledger* ledger,
                         const net::TransferStatusInfo* status) {
  JsonObject json("transfer");
  json.Wide("id", transfer.id.Get())
      .Str("kind", TransferKindText(transfer))
      .Wide("debit_account_id", transfer.debit_account_id.Get())
      .Wide("credit_account_id", transfer.credit_account_id.Get())
      .Money("amount", transfer.amount, ledger)
      .Int("ledger", transfer.ledger);
  if (ledger != nullptr) json.Str("asset_code", AssetText(*ledger)).Int("scale", ledger->scale);
  json.Int("code", transfer.code)
      .Int("flags", transfer.flags)
      .Raw("flag_names", JsonNameList(TransferFlagsText(transfer.flags)))
      .Wide("pending_id", transfer.pending_id.Get())
      .Wide("reverses_id", transfer.reverses_id.Get())
      .Int("timeout_s", transfer.timeout_s)
      .Wide("user_data_128", transfer.user_data_128.Get())
      .Wide("user_data_64", transfer.user_data_64)
      .Int("user_data_32", transfer.user_data_32)
      .Wide("value_time_ns", transfer.value_time_ns)
      .Wide("timestamp_ns", transfer.timestamp_ns);
  if (status != nullptr) {
    const TransferStatus& s = status->status;
    json.Str("pending_status", PendingStatusName(s.pending_status))
        .Wide("expires_at_ns", s.expires_at_ns)
        .Money("posted_amount", s.posted_amount, ledger)
        .Money("released_amount", s.released_amount, ledger)
        .Wide("resolved_by", s.resolved_by.Get())
        .Money("reversed_amount", s.reversed_amount, ledger)
        .Int("reversal_count", s.reversal_count)
        .Raw("reversals", JsonIdList(status->reversals));
  }
  return json.Close();
}

std::string JsonBalances(const AccountBalance& balance, const Ledger* ledger) {
  return JsonObject("balance")
      .Money("debits_pending", balance.debits_pending, ledger)
      .Money("debits_posted", balance.debits_posted, ledger)
      .Money("credits_pending", balance.credits_pending, ledger)
      .Money("credits_posted", balance.credits_posted, ledger)
      .Wide("timestamp_ns", balance.timestamp_ns)
      .Close();
}

// ---------------------------------------------------------------------------------------------
// Text.

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {
  for (const Column& column : columns_) widths_.push_back(column.header.size());
}

void Table::Add(std::vector<std::string> cells) {
  if (rows_.size() >= kRowsBufferedMax) Flush();
  cells.resize(columns_.size());
  for (size_t i = 0; i < cells.size(); ++i) widths_[i] = std::max(widths_[i], cells[i].size());
  rows_.push_back(std::move(cells));
}

void Table::Flush() {
  auto print = [this](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      const size_t padding = widths_[i] - std::min(widths_[i], cells[i].size());
      const bool last = i + 1 == cells.size();
      if (columns_[i].right_aligned) line.append(padding, ' ');
      line += cells[i];
      if (!columns_[i].right_aligned && !last) line.append(padding, ' ');
      if (!last) line += "  ";
    }
    WriteLine(line);
  };
  if (!header_printed_ && !rows_.empty()) {
    std::vector<std::string> headers;
    for (const Column& column : columns_) headers.push_back(column.header);
    print(headers);
    header_printed_ = true;
  }
  for (const std::vector<std::string>& row : rows_) print(row);
  rows_.clear();
  std::fflush(stdout);
}

void PrintFields(std::string_view title,
                 const std::vector<std::pair<std::string, std::string>>& fields) {
  if (!title.empty()) WriteLine(title);
  size_t width = 0;
  for (const auto& field : fields) width = std::max(width, field.first.size());
  for (const auto& [key, value] : fields) {
    WriteLine(absl::StrCat("  ", key, std::string(width - key.size() + 2, ' '), value));
  }
}

void PrintLedger(const Session& session, const Ledger& ledger) {
  if (session.json()) return WriteLine(JsonLedger(ledger));
  std::vector<std::pair<std::string, std::string>> fields = {{"asset", AssetText(ledger)},
                                                             {"scale", absl::StrCat(ledger.scale)}};
  // Imported: booked at the timestamp it had in the system it was migrated from.
  if ((ledger.flags & ledger_flags::kImported) != 0) fields.emplace_back("imported", "yes");
  fields.emplace_back("created", TimeText(ledger.timestamp_ns));
  PrintFields(absl::StrCat("ledger ", ledger.id), fields);
}

void PrintAccount(const Session& session, const Account& account, const Ledger* ledger) {
  if (session.json()) return WriteLine(JsonAccount(account, ledger));
  std::vector<std::pair<std::string, std::string>> fields = {
      {"ledger", LedgerText(account.ledger, ledger)},
      {"code", absl::StrCat(account.code)},
      {"flags", OrNone(AccountFlagsText(account.flags))},
      {"debits pending", MoneyText(session, account.debits_pending, ledger)},
      {"debits posted", MoneyText(session, account.debits_posted, ledger)},
      {"credits pending", MoneyText(session, account.credits_pending, ledger)},
      {"credits posted", MoneyText(session, account.credits_posted, ledger)},
  };
  AlignRight(fields, 3, 4);
  if (!account.user_data_128.IsZero() || account.user_data_64 != 0 || account.user_data_32 != 0) {
    fields.emplace_back("user data", UserDataText(account.user_data_128, account.user_data_64,
                                                  account.user_data_32));
  }
  fields.emplace_back("created", TimeText(account.timestamp_ns));
  PrintFields(absl::StrCat("account ", FormatId(account.id.Get())), fields);
}

// "posted 30.00 USD by 10, released 20.00 USD"; for a posting, "12.00 USD by 11".
std::pair<std::string, std::string> StatusField(const Session& session,
                                                const net::TransferStatusInfo& info,
                                                const Ledger* ledger) {
  const TransferStatus& status = info.status;
  const auto money = [&](Amount amount) { return MoneyText(session, amount, ledger); };
  switch (status.pending_status) {
    case PendingStatus::kPending:
      return {"status", status.expires_at_ns == 0
                            ? std::string("pending (no deadline)")
                            : absl::StrCat("pending until ", TimeText(status.expires_at_ns))};
    case PendingStatus::kPosted:
      return {"status", absl::StrCat("posted ", money(status.posted_amount), " by ",
                                     FormatId(status.resolved_by.Get()), ", released ",
                                     money(status.released_amount))};
    case PendingStatus::kVoided:
      return {"status", absl::StrCat("voided by ", FormatId(status.resolved_by.Get()),
                                     ", released ", money(status.released_amount))};
    case PendingStatus::kExpired:
      return {"status", absl::StrCat("expired at ", TimeText(status.expires_at_ns), ", released ",
                                     money(status.released_amount))};
    case PendingStatus::kNone:
      break;
  }
  std::string reversed = money(status.reversed_amount);
  for (size_t i = 0; i < info.reversals.size(); ++i) {
    absl::StrAppend(&reversed, i == 0 ? " by " : ", ", FormatId(info.reversals[i].Get()));
  }
  if (status.reversal_count > info.reversals.size()) {
    absl::StrAppend(&reversed, " and ", status.reversal_count - info.reversals.size(), " more");
  }
  return {"reversed", reversed};
}

namespace {

// A transfer's fields as PrintTransfer shows them, up to its booking time.
std::vector<std::pair<std::string, std::string>> TransferFields(const Session& session,
                                                                const Transfer& transfer,
                                                                const Ledger* ledger) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"kind", TransferKindText(transfer)},
      {"debit", FormatId(transfer.debit_account_id.Get())},
      {"credit", FormatId(transfer.credit_account_id.Get())},
      {"amount", MoneyText(session, transfer.amount, ledger)},
      {"ledger", LedgerText(transfer.ledger, ledger)},
      {"code", absl::StrCat(transfer.code)},
  };
  if (!transfer.pending_id.IsZero()) {
    fields.emplace_back("pending id", FormatId(transfer.pending_id.Get()));
  }
  if (!transfer.reverses_id.IsZero()) {
    fields.emplace_back("reverses", FormatId(transfer.reverses_id.Get()));
  }
  if (transfer.timeout_s != 0)
    fields.emplace_back("timeout", absl::StrCat(transfer.timeout_s, " s"));
  if (!transfer.user_data_128.IsZero() || transfer.user_data_64 != 0 ||
      transfer.user_data_32 != 0) {
    fields.emplace_back("user data", UserDataText(transfer.user_data_128, transfer.user_data_64,
                                                  transfer.user_data_32));
  }
  if (transfer.value_time_ns != 0) {
    fields.emplace_back("value time", TimeText(transfer.value_time_ns));
  }
  return fields;
}

}  // namespace

void PrintTransfer(const Session& session, const Transfer& transfer, const Ledger* ledger,
                   const net::TransferStatusInfo* status) {
  if (session.json()) return WriteLine(JsonTransfer(transfer, ledger, status));
  std::vector<std::pair<std::string, std::string>> fields =
      TransferFields(session, transfer, ledger);
  fields.emplace_back("booked", TimeText(transfer.timestamp_ns));
  if (status != nullptr) fields.push_back(StatusField(session, *status, ledger));
  PrintFields(absl::StrCat("transfer ", FormatId(transfer.id.Get())), fields);
}

void PrintFailedTransfer(const Session& session, const FailedTransfer& failed,
                         const Ledger* ledger) {
  const Transfer& transfer = failed.event;
  if (session.json()) {
    return WriteLine(JsonObject("failed")
                         .Wide("id", transfer.id.Get())
                         .Str("result", ResultName(failed.code))
                         .Int("result_code", static_cast<uint32_t>(failed.code))
                         .Raw("transfer", JsonTransfer(transfer, ledger))
                         .Close());
  }
  std::vector<std::pair<std::string, std::string>> fields =
      TransferFields(session, transfer, ledger);
  fields.emplace_back("attempted", TimeText(transfer.timestamp_ns));
  fields.emplace_back("retries", "get id_already_failed: a new attempt needs a new id");
  PrintFields(absl::StrCat("transfer ", FormatId(transfer.id.Get()), ": failed, ",
                           ResultName(failed.code), " (not booked)"),
              fields);
}

void PrintNotFound(const Session& session, std::string_view kind, std::string_view id) {
  if (session.json()) {
    return WriteLine(JsonObject("not_found").Str("kind", kind).Str("id", id).Close());
  }
  WriteLine(absl::StrCat(Sv(kind), " ", Sv(id), ": not found"));
}

void PrintOutcome(const Session& session, const EventOutcome& outcome) {
  if (session.json()) {
    return WriteLine(JsonObject(absl::StrCat(outcome.kind, "_result"))
                         .Int("index", static_cast<uint32_t>(outcome.index))
                         .Str("id", outcome.id)
                         .Str("result", outcome.result)
                         .Int("result_code", outcome.code)
                         .Bool("success", outcome.success)
                         .Wide("timestamp_ns", outcome.timestamp_ns)
                         .Close());
  }
  std::string line = absl::StrCat(outcome.kind, " ", outcome.id, ": ", outcome.result);
  if (std::strcmp(outcome.result, "unknown") == 0) absl::StrAppend(&line, " (", outcome.code, ")");
  if (outcome.timestamp_ns != 0)
    absl::StrAppend(&line, ", booked ", TimeText(outcome.timestamp_ns));
  WriteLine(line);
}

}  // namespace ledger::tools::ctl
