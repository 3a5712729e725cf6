#include "replica/log_verify.h"

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "replica/log_schema.h"

namespace ledger::replica {

absl::StatusOr<wal::ScanResult> VerifyLog(const wal::Directory& directory,
                                          const LogVerifyOptions& options, LogVerifyTally* tally) {
  LEDGER_REQUIRE(tally != nullptr);
  *tally = LogVerifyTally{};
  wal::ScanOptions scan = LogScanOptions();
  scan.through_op = options.through_op;
  scan.trusted_through_op = options.trusted_through_op;
  scan.progress = options.on_bytes;
  return wal::ScanLog(
      directory, scan,
      [&](const wal::EntryHeader& entry, std::span<const std::byte> body) -> absl::Status {
        if (options.stop != nullptr && options.stop->load(std::memory_order_relaxed)) {
          return absl::CancelledError(
              absl::StrCat("the verification was stopped at op ", tally->checked_op));
        }
        if (options.also_check) LEDGER_RETURN_IF_ERROR(options.also_check(entry, body));
        if (tally->entry_count == 0) tally->first_op = entry.op;
        tally->checked_op = entry.op;
        ++tally->entry_count;
        tally->entry_bytes += entry.entry_size_bytes;
        tally->chain_head = entry.chain_hash;
        if (options.on_entry) options.on_entry(*tally);
        return absl::OkStatus();
      });
}

}  // namespace ledger::replica
