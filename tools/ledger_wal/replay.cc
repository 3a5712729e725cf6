// ledger-wal replay: rebuilds the state offline with Recover (read-only: a torn tail is
// reported, never cut) and prints its hash, counts and every ledger's trial balance.
//
// The state hash is printed as 32 hex digits, high word first: compare it with a server's or
// with another replay (`replay` against `replay --full` checks the snapshot).
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "cold/cold_store.h"
#include "engine/engine.h"
#include "engine/snapshot.h"
#include "replica/recovery.h"
#include "tools/ledger_wal/ledger_wal.h"

namespace ledger::tools {

namespace {

// Transfers stored plus failures recorded: what a replay adds, and so what its speed counts.
uint64_t TransferRecords(const engine::EngineStats& stats) {
  return stats.transfer_count + stats.failed_transfer_count;
}

// Every ledger, in creation order (the engine lists them only through a snapshot image).
std::vector<Ledger> Ledgers(const engine::Engine& engine) {
  std::vector<Ledger> ledgers;
  const std::unique_ptr<engine::EngineSnapshot> image = engine.CaptureSnapshot();
  for (const engine::SnapshotSection& section : image->sections()) {
    if (section.kind != engine::SnapshotSectionKind::kLedgers) continue;
    ledgers.resize(section.bytes.size() / sizeof(Ledger));
    std::memcpy(ledgers.data(), section.bytes.data(), ledgers.size() * sizeof(Ledger));
  }
  return ledgers;
}

std::string Amounts(const WideSum& sum, uint8_t scale) {
  const std::string digits = FormatWideRaw(sum);
  return scale == 0 ? digits : absl::StrCat(digits, " (", FormatWide(sum, scale), ")");
}

void PrintTrialBalance(const engine::Engine& engine) {
  const std::vector<Ledger> ledgers = Ledgers(engine);
  std::printf("trial balance    %zu ledger%s\n", ledgers.size(), ledgers.size() == 1 ? "" : "s");
  for (const Ledger& ledger : ledgers) {
    const TrialBalance balance = engine.GetTrialBalance(ledger.id);
    const std::string asset(ledger.asset_code, strnlen(ledger.asset_code, kAssetCodeSizeBytes));
    std::printf("  ledger %" PRIu32 " %s (scale %u): %" PRIu64 " accounts, %s\n", ledger.id,
                PrintableText(asset).c_str(), unsigned{ledger.scale}, balance.account_count,
                balance.Balanced() ? "balanced" : "UNBALANCED");
    std::printf("    debits posted    %s\n", Amounts(balance.debits_posted, ledger.scale).c_str());
    std::printf("    credits posted   %s\n", Amounts(balance.credits_posted, ledger.scale).c_str());
    std::printf("    debits pending   %s\n", Amounts(balance.debits_pending, ledger.scale).c_str());
    std::printf("    credits pending  %s\n",
                Amounts(balance.credits_pending, ledger.scale).c_str());
  }
}

// `base_records`: TransferRecords when the replay began (what the snapshot held).
void PrintReplay(const replica::Recovered& recovered, uint64_t base_records, uint64_t bytes_read,
                 uint64_t elapsed_ns) {
  const engine::Engine& engine = *recovered.engine;
  const engine::EngineStats stats = engine.GetStats();
  const wal::ScanResult& log = recovered.log;
  const uint64_t added = TransferRecords(stats) - std::min(base_records, TransferRecords(stats));
  const double seconds = static_cast<double>(std::max<uint64_t>(elapsed_ns, 1)) / 1e9;
  for (const std::string& note : recovered.notes)
    std::printf("  note           %s\n", note.c_str());
  if (recovered.replayed_entries == 0) {
    std::printf("  replayed       no entries (none after op %" PRIu64 ") in %.3f s, %s read\n",
                recovered.snapshot_op, seconds, ByteText(bytes_read).c_str());
  } else {
    std::printf("  replayed       %" PRIu64 " entries (ops %" PRIu64 " to %" PRIu64
                ") in %.3f s, %s read\n",
                recovered.replayed_entries, log.last_op + 1 - recovered.replayed_entries,
                log.last_op, seconds, ByteText(bytes_read).c_str());
  }
  std::printf("  speed          %.0f transfers/s (%" PRIu64
              " transfers stored or failures recorded)\n",
              static_cast<double>(added) / seconds, added);
  const engine::StateHash hash = engine.ComputeStateHash();
  std::printf("state hash       %s\n", Hex128(hash.high, hash.low).c_str());
  const std::vector<engine::StateHash> shard_hashes = engine.ComputeShardStateHashes();
  for (size_t shard = 0; shard < shard_hashes.size() && shard_hashes.size() > 1; ++shard) {
    std::printf("  shard %-8zu %s\n", shard,
                Hex128(shard_hashes[shard].high, shard_hashes[shard].low).c_str());
  }
  std::printf("last op          %" PRIu64 " (chain head %s)\n", log.last_op,
              HashText(log.last_chain_hash).c_str());
  std::printf("last timestamp   %" PRIu64 " (%s)\n", engine.last_timestamp_ns(),
              TimeText(engine.last_timestamp_ns()).c_str());
  std::printf("ledgers          %" PRIu64 "\n", stats.ledger_count);
  std::printf("accounts         %" PRIu64 "\n", stats.account_count);
  std::printf("transfers        %" PRIu64 "\n", stats.transfer_count);
  std::printf("pending          %" PRIu64 " (expired so far %" PRIu64 ")\n", stats.pending_count,
              stats.expired_count);
  std::printf("failures         %" PRIu64 "\n", stats.failed_transfer_count);
  PrintTrialBalance(engine);
}

}  // namespace

// Replay's window over a cold store: 2^27 transfers of address space (about 20 GB reserved, not
// committed).
constexpr uint64_t kReplayWindowTransfers = uint64_t{1} << 27;

int RunReplay(const ReplayArgs& args) {
  absl::StatusOr<std::unique_ptr<wal::Directory>> opened = OpenReadOnly(args.dir);
  if (!opened.ok()) return Fail(opened.status());
  const wal::Directory& directory = **opened;
  ProgressBar bar("replay", LogCapacityBytes(directory));
  replica::RecoveryOptions options;
  options.use_snapshots = !args.full;
  options.engine.shard_count = static_cast<uint32_t>(args.shard_count);
  options.cut_torn_tail = false;  // read-only: report, never change a file
  options.progress = bar.Callback();
  // A snapshot of a windowed engine restores over its cold store, read here, never written:
  // the log after it replays into a window large enough to need no eviction (address space
  // is reserved, memory follows what the tail adds).
  absl::StatusOr<std::unique_ptr<cold::ColdStore>> store =
      cold::ColdStore::OpenReadOnly(args.dir + "/cold", wal::Storage::Posix());
  if (store.ok() && !args.full) {
    options.engine.cold = store->get();
    options.engine.hot_transfers = kReplayWindowTransfers;
  }
  std::optional<uint64_t> base_records;  // at the first entry replayed
  options.before_entry = [&base_records](engine::Engine& engine, const wal::EntryHeader&) {
    if (!base_records.has_value()) base_records = TransferRecords(engine.GetStats());
    return absl::OkStatus();
  };
  const uint64_t start_ns = base::MonotonicNs();
  absl::StatusOr<replica::Recovered> recovered = replica::Recover(directory, options);
  const uint64_t elapsed_ns = base::MonotonicNs() - start_ns;
  bar.Clear();
  if (!recovered.ok()) return Fail(recovered.status());
  std::printf("replay %s (%s)\n", args.dir.c_str(),
              recovered->snapshot_op != 0
                  ? absl::StrCat("from the snapshot at op ", recovered->snapshot_op).c_str()
              : args.full ? "from genesis: --full"
                          : "from genesis: no usable snapshot");
  PrintReplay(*recovered, base_records.value_or(TransferRecords(recovered->engine->GetStats())),
              bar.bytes_read(), elapsed_ns);
  return kExitOk;
}

}  // namespace ledger::tools
