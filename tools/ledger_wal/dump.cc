// ledger-wal dump: one line per entry, then one line per event, as text or as JSON lines.
//
// Only verified entries are printed: ScanLog hands out a group's entries once the whole group
// has passed its checks, so a dump never shows bytes the log does not vouch for. Events are
// copied out of the body (its bytes may be unaligned) before they are read.
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "tools/ledger_wal/ledger_wal.h"
#include "wal/log_reader.h"

namespace ledger::tools {

namespace {

std::string Quoted(u128 value) { return absl::StrCat("\"", FormatU128(value), "\""); }

std::string AssetCode(const Ledger& ledger) {
  return std::string(ledger.asset_code, strnlen(ledger.asset_code, kAssetCodeSizeBytes));
}

// The fields every event line starts with: where it is in the log and when it was booked
// (event i of a batch at its timestamp + 1 + i; an imported event at its own timestamp).
template <typename Event>
std::string JsonEventPrefix(const char* type, const wal::EntryHeader& entry, uint32_t i,
                            const Event& event, uint16_t imported_flag) {
  const uint64_t booked_at_ns =
      (event.flags & imported_flag) != 0 ? event.timestamp_ns : entry.timestamp_ns + 1 + i;
  return absl::StrCat("{\"type\":\"", type, "\",\"op\":", entry.op, ",\"index\":", i,
                      ",\"booked_at_ns\":", booked_at_ns);
}

std::string JsonLedger(const wal::EntryHeader& entry, uint32_t i, const Ledger& ledger) {
  return absl::StrCat(JsonEventPrefix("ledger", entry, i, ledger, ledger_flags::kImported),
                      ",\"id\":", ledger.id, ",\"scale\":", ledger.scale,
                      ",\"flags\":", ledger.flags, ",\"reserved\":[", ledger.reserved[0], ",",
                      ledger.reserved[1], "],\"asset_code\":", JsonString(AssetCode(ledger)),
                      ",\"timestamp_ns\":", ledger.timestamp_ns, "}\n");
}

std::string JsonAccount(const wal::EntryHeader& entry, uint32_t i, const Account& account) {
  return absl::StrCat(JsonEventPrefix("account", entry, i, account, account_flags::kImported),
                      ",\"id\":", Quoted(account.id.Get()),
                      ",\"debits_pending\":", Quoted(account.debits_pending.Get()),
                      ",\"debits_posted\":", Quoted(account.debits_posted.Get()),
                      ",\"credits_pending\":", Quoted(account.credits_pending.Get()),
                      ",\"credits_posted\":", Quoted(account.credits_posted.Get()),
                      ",\"user_data_128\":", Quoted(account.user_data_128.Get()),
                      ",\"user_data_64\":", account.user_data_64,
                      ",\"user_data_32\":", account.user_data_32,
                      ",\"reserved\":", account.reserved, ",\"ledger\":", account.ledger,
                      ",\"code\":", account.code, ",\"flags\":", account.flags,
                      ",\"flag_names\":", JsonString(AccountFlagNames(account.flags)),
                      ",\"timestamp_ns\":", account.timestamp_ns, "}\n");
}

std::string JsonTransfer(const wal::EntryHeader& entry, uint32_t i, const Transfer& transfer) {
  return absl::StrCat(
      JsonEventPrefix("transfer", entry, i, transfer, transfer_flags::kImported),
      ",\"id\":", Quoted(transfer.id.Get()),
      ",\"debit_account_id\":", Quoted(transfer.debit_account_id.Get()),
      ",\"credit_account_id\":", Quoted(transfer.credit_account_id.Get()),
      ",\"amount\":", Quoted(transfer.amount.Get()),
      ",\"pending_id\":", Quoted(transfer.pending_id.Get()),
      ",\"reverses_id\":", Quoted(transfer.reverses_id.Get()),
      ",\"user_data_128\":", Quoted(transfer.user_data_128.Get()),
      ",\"user_data_64\":", transfer.user_data_64, ",\"value_time_ns\":", transfer.value_time_ns,
      ",\"timestamp_ns\":", transfer.timestamp_ns, ",\"user_data_32\":", transfer.user_data_32,
      ",\"timeout_s\":", transfer.timeout_s, ",\"ledger\":", transfer.ledger,
      ",\"code\":", transfer.code, ",\"flags\":", transfer.flags,
      ",\"flag_names\":", JsonString(TransferFlagNames(transfer.flags)), "}\n");
}

std::string JsonEntry(const wal::EntryHeader& entry) {
  return absl::StrCat(
      "{\"type\":\"entry\",\"op\":", entry.op, ",\"timestamp_ns\":", entry.timestamp_ns,
      ",\"operation\":\"", std::string(OperationName(entry.operation)),
      "\",\"event_count\":", entry.event_count, ",\"body_size_bytes\":", entry.body_size_bytes,
      ",\"entry_size_bytes\":", entry.entry_size_bytes, ",\"body_checksum\":\"",
      HashText(entry.body_checksum), "\",\"previous_chain_hash\":\"",
      HashText(entry.previous_chain_hash), "\",\"chain_hash\":\"", HashText(entry.chain_hash),
      "\"}\n");
}

std::string TextLedger(const Ledger& ledger) {
  return absl::StrCat("  ledger ", ledger.id, "  scale ", ledger.scale, "  asset ",
                      PrintableText(AssetCode(ledger)),
                      (ledger.flags & ledger_flags::kImported) != 0 ? "  imported" : "", "\n");
}

std::string TextAccount(const Account& account) {
  std::string line =
      absl::StrCat("  account ", IdText(account.id.Get()), "  ledger ", account.ledger, "  code ",
                   account.code, "  flags ", AccountFlagNames(account.flags));
  if (!account.user_data_128.IsZero() || account.user_data_64 != 0 || account.user_data_32 != 0) {
    absl::StrAppend(&line, "  user_data ", IdText(account.user_data_128.Get()), "/",
                    account.user_data_64, "/", account.user_data_32);
  }
  return line + "\n";
}

std::string TextTransfer(const Transfer& transfer) {
  std::string line = absl::StrCat(
      "  transfer ", IdText(transfer.id.Get()), "  debit ", IdText(transfer.debit_account_id.Get()),
      "  credit ", IdText(transfer.credit_account_id.Get()), "  amount ",
      FormatU128(transfer.amount.Get()), "  ledger ", transfer.ledger, "  code ", transfer.code,
      "  flags ", TransferFlagNames(transfer.flags));
  if (!transfer.pending_id.IsZero()) {
    absl::StrAppend(&line, "  pending_id ", IdText(transfer.pending_id.Get()));
  }
  if (!transfer.reverses_id.IsZero()) {
    absl::StrAppend(&line, "  reverses_id ", IdText(transfer.reverses_id.Get()));
  }
  if (transfer.timeout_s != 0) absl::StrAppend(&line, "  timeout_s ", transfer.timeout_s);
  if (!transfer.user_data_128.IsZero() || transfer.user_data_64 != 0 ||
      transfer.user_data_32 != 0) {
    absl::StrAppend(&line, "  user_data ", IdText(transfer.user_data_128.Get()), "/",
                    transfer.user_data_64, "/", transfer.user_data_32);
  }
  if (transfer.value_time_ns != 0)
    absl::StrAppend(&line, "  value_time_ns ", transfer.value_time_ns);
  return line + "\n";
}

std::string TextEntry(const wal::EntryHeader& entry) {
  return absl::StrCat("op ", entry.op, "  ", TimeText(entry.timestamp_ns), " (", entry.timestamp_ns,
                      ")  ", std::string(OperationName(entry.operation)), "  ", entry.event_count,
                      entry.event_count == 1 ? " event  " : " events  ", entry.entry_size_bytes,
                      " bytes",
                      entry.event_count == 0 ? "  (a tick: releases holds due by then)" : "", "\n");
}

template <typename Event>
Event EventAt(std::span<const std::byte> body, uint32_t i) {
  Event event;
  std::memcpy(&event, body.data() + size_t{i} * sizeof(Event), sizeof(Event));
  return event;
}

// Appends the lines of the entry's events that pass the account filter; returns how many.
uint32_t FormatEvents(const DumpArgs& args, const wal::EntryHeader& entry,
                      std::span<const std::byte> body, std::string* out) {
  uint32_t shown = 0;
  for (uint32_t i = 0; i < entry.event_count; ++i) {
    std::string line;
    if (entry.operation == static_cast<uint8_t>(engine::Operation::kCreateLedgers)) {
      if (args.account.has_value()) continue;  // ledgers touch no account
      const auto ledger = EventAt<Ledger>(body, i);
      line = args.json ? JsonLedger(entry, i, ledger) : TextLedger(ledger);
    } else if (entry.operation == static_cast<uint8_t>(engine::Operation::kCreateAccounts)) {
      const auto account = EventAt<Account>(body, i);
      if (args.account.has_value() && account.id.Get() != *args.account) continue;
      line = args.json ? JsonAccount(entry, i, account) : TextAccount(account);
    } else {
      const auto transfer = EventAt<Transfer>(body, i);
      if (args.account.has_value() && transfer.debit_account_id.Get() != *args.account &&
          transfer.credit_account_id.Get() != *args.account) {
        continue;
      }
      line = args.json ? JsonTransfer(entry, i, transfer) : TextTransfer(transfer);
    }
    *out += line;
    ++shown;
  }
  return shown;
}

}  // namespace

int RunDump(const DumpArgs& args) {
  absl::StatusOr<std::unique_ptr<wal::Directory>> opened = OpenReadOnly(args.dir);
  if (!opened.ok()) return Fail(opened.status());
  // Entries on the terminal are progress enough; a bar helps when they go to a file or a pipe.
  ProgressBar bar("dump", LogCapacityBytes(**opened), isatty(STDOUT_FILENO) != 1);
  wal::ScanOptions options;
  options.schema = replica::LogSchema();
  // Bodies before the range are not printed: their headers and chain are still checked.
  options.trusted_through_op = args.from_op > 0 ? args.from_op - 1 : 0;
  options.progress = bar.Callback();
  bool reached_end = false;  // past --to-op: the scan stops early
  int write_errno = 0;
  std::string events;
  absl::StatusOr<wal::ScanResult> scan = wal::ScanLog(
      **opened, options,
      [&](const wal::EntryHeader& entry, std::span<const std::byte> body) -> absl::Status {
        if (entry.op > args.to_op) {
          reached_end = true;
          return absl::CancelledError("past --to-op");
        }
        if (entry.op < args.from_op) return absl::OkStatus();
        events.clear();
        const uint32_t shown = FormatEvents(args, entry, body, &events);
        if (args.account.has_value() && shown == 0) return absl::OkStatus();
        const std::string head = args.json ? JsonEntry(entry) : TextEntry(entry);
        bar.Clear();
        std::fwrite(head.data(), 1, head.size(), stdout);
        std::fwrite(events.data(), 1, events.size(), stdout);
        if (std::ferror(stdout)) {
          write_errno = errno;
          return absl::UnavailableError("writing to stdout failed");
        }
        return absl::OkStatus();
      });
  bar.Clear();
  if (write_errno == 0 && std::fflush(stdout) != 0) write_errno = errno;
  if (write_errno == EPIPE) return kExitOk;  // the reader has what it wanted (`| head`)
  if (write_errno != 0) {
    return Fail(absl::UnavailableError(
        absl::StrCat("writing to stdout failed: ", std::strerror(write_errno))));
  }
  if (!scan.ok() && !reached_end) return Fail(scan.status());
  if (scan.ok() && scan->torn_tail) {
    std::fprintf(
        stderr, "ledger-wal: note: the log ends at op %" PRIu64 " with a torn tail (%s); %s\n",
        scan->last_op, scan->torn_reason.c_str(), wal::TornTailMeaning(**opened, *scan).c_str());
  }
  return kExitOk;
}

}  // namespace ledger::tools
