// The cold store (docs/cold-store.md) from the operator's side: `rebuild-cold` writes it anew
// from the log, and `verify` checks it against the log.
//
// Both replay the whole log from genesis through an engine that keeps a window of transfers
// and reads older ones from a store: rebuild appends each export to a new store; verify
// compares each export with what the existing store holds for that time range before letting
// the engine forget it, so the engine only ever reads facts already found equal.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "base/clock.h"
#include "cold/cold_store.h"
#include "engine/engine.h"
#include "replica/recovery.h"
#include "tools/ledger_wal/ledger_wal.h"

namespace ledger::tools {

namespace {

using engine::ColdFacts;

struct CoolingReplay {
  uint64_t last_timestamp_ns = 0;
  uint64_t transfer_count = 0;  // exported
  uint64_t export_count = 0;
  uint64_t elapsed_ns = 0;
};

// Replays the log from genesis over `store` with a window of hot_transfers, handing each export
// (everything applied so far, once the window is half full; and at the end, up to end_ns) to
// on_export before the engine evicts it.
absl::StatusOr<CoolingReplay> ReplayCooling(
    const wal::Directory& directory, const cold::ColdStore& store, uint64_t hot_transfers,
    uint64_t end_ns, absl::FunctionRef<absl::Status(const ColdFacts&)> on_export) {
  CoolingReplay replay;
  ColdFacts facts;
  const auto cool = [&](engine::Engine& engine, uint64_t before_ns) -> absl::Status {
    before_ns = std::max(before_ns, engine.exported_before_ns());
    facts.Clear();
    engine.ExportCold(before_ns, facts);
    replay.transfer_count += facts.transfers.size();
    ++replay.export_count;
    LEDGER_RETURN_IF_ERROR(on_export(facts));
    engine.EvictBefore(before_ns);
    return absl::OkStatus();
  };
  replica::RecoveryOptions options;
  options.use_snapshots = false;
  options.cut_torn_tail = false;
  options.engine.hot_transfers = hot_transfers;
  options.engine.cold = &store;
  ProgressBar bar("replay", LogCapacityBytes(directory));
  options.progress = bar.Callback();
  options.before_entry = [&](engine::Engine& engine, const wal::EntryHeader& header) {
    if (engine.HasRoomFor(0, header.event_count)) return absl::OkStatus();
    return cool(engine, engine.last_timestamp_ns() + 1);
  };
  options.after_entry = [&](engine::Engine& engine, const wal::EntryHeader&) {
    if (engine.hot_transfer_count() < hot_transfers / 2) return absl::OkStatus();
    return cool(engine, engine.last_timestamp_ns() + 1);
  };
  const uint64_t start_ns = base::MonotonicNs();
  LEDGER_ASSIGN_OR_RETURN(replica::Recovered recovered, replica::Recover(directory, options));
  bar.Clear();
  engine::Engine& engine = *recovered.engine;
  replay.last_timestamp_ns = engine.last_timestamp_ns();
  const uint64_t final_ns = std::min(end_ns, engine.last_timestamp_ns() + 1);
  if (final_ns > engine.exported_before_ns()) LEDGER_RETURN_IF_ERROR(cool(engine, final_ns));
  replay.elapsed_ns = base::MonotonicNs() - start_ns;
  return replay;
}

template <typename Fact>
bool SameBytes(const std::vector<Fact>& a, const std::vector<Fact>& b) {
  // memcmp must not see the null data() of an empty list, even for 0 bytes.
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(Fact)) == 0);
}

// The exported facts against the store's for their range, cut at the store's end.
absl::Status CompareWithStore(const ColdFacts& exported, const cold::ColdStore& store) {
  const uint64_t end_ns = std::min(exported.end_ns, store.end_ns());
  if (exported.begin_ns >= end_ns) return absl::OkStatus();
  ColdFacts expected;
  expected.begin_ns = exported.begin_ns;
  expected.end_ns = end_ns;
  const auto before_end = [end_ns](uint64_t at_ns) { return at_ns < end_ns; };
  for (const Transfer& t : exported.transfers) {
    if (before_end(t.timestamp_ns)) expected.transfers.push_back(t);
  }
  for (const engine::ExpiryFact& e : exported.expiries) {
    if (before_end(e.timestamp_ns)) expected.expiries.push_back(e);
  }
  for (const engine::BalanceFact& b : exported.balances) {
    if (before_end(b.balance.timestamp_ns)) expected.balances.push_back(b);
  }
  std::sort(expected.balances.begin(), expected.balances.end(), cold::ByTimeThenAccount);
  ColdFacts stored;
  store.ReadFacts(exported.begin_ns, end_ns, stored);
  const std::string range = absl::StrCat("booked in [", exported.begin_ns, ", ", end_ns, ")");
  if (!SameBytes(expected.transfers, stored.transfers)) {
    return absl::DataLossError(absl::StrCat("cold store: the transfers ", range,
                                            " differ from the log's (", stored.transfers.size(),
                                            " stored, ", expected.transfers.size(), " replayed)"));
  }
  if (!SameBytes(expected.expiries, stored.expiries)) {
    return absl::DataLossError(
        absl::StrCat("cold store: the expiries ", range, " differ from the log's"));
  }
  if (!SameBytes(expected.balances, stored.balances)) {
    return absl::DataLossError(
        absl::StrCat("cold store: the balance history ", range, " differs from the log's"));
  }
  for (const engine::FailureRecord& failure : exported.failures) {
    const std::optional<engine::ColdTransfer> found =
        store.FindTransfer(failure.event.id, UINT64_MAX);
    if (!found.has_value() || found->failure != failure.code ||
        std::memcmp(&found->record, &failure.event, sizeof(Transfer)) != 0) {
      return absl::DataLossError(absl::StrCat("cold store: the recorded failure of transfer ",
                                              IdText(failure.event.id.Get()),
                                              " differs from the log's"));
    }
  }
  return absl::OkStatus();
}

std::string ColdPath(const std::string& dir) { return dir + "/cold"; }

}  // namespace

absl::Status VerifyCold(const wal::Directory& directory, const std::string& dir,
                        uint64_t hot_transfers, bool compare_with_log) {
  absl::StatusOr<std::unique_ptr<cold::ColdStore>> opened =
      cold::ColdStore::OpenReadOnly(ColdPath(dir), wal::Storage::Posix());
  if (absl::IsNotFound(opened.status())) {
    std::printf("  cold store      none\n");
    return absl::OkStatus();
  }
  LEDGER_RETURN_IF_ERROR(opened.status());
  const cold::ColdStore& store = **opened;
  LEDGER_RETURN_IF_ERROR(store.Verify());
  std::printf("  cold store      %" PRIu64 " runs, %" PRIu64 " transfers, %" PRIu64
              " failures, before %s: checksums ok%s\n",
              store.run_count(), store.transfer_count(), store.failure_count(),
              TimeText(store.end_ns()).c_str(),
              store.leftover_count() > 0 ? " (a half-written run the server removes)" : "");
  if (!compare_with_log) {
    std::printf(
        "  note            older segments are archived: the store is not compared with "
        "the log (run verify on a directory with the archive's segments)\n");
    return absl::OkStatus();
  }
  LEDGER_ASSIGN_OR_RETURN(
      const CoolingReplay replay,
      ReplayCooling(directory, store, hot_transfers, store.end_ns(),
                    [&store](const ColdFacts& facts) { return CompareWithStore(facts, store); }));
  if (replay.last_timestamp_ns + 1 < store.end_ns()) {
    return absl::DataLossError(absl::StrCat("cold store: it holds facts up to ", store.end_ns(),
                                            " ns, past the log's last booking ",
                                            replay.last_timestamp_ns));
  }
  std::printf("  cold store      equal to the log's replay (%" PRIu64 " exports compared)\n",
              replay.export_count);
  return absl::OkStatus();
}

int RunRebuildCold(const RebuildColdArgs& args) {
  // Writable: takes the directory's lock, so no server runs on it meanwhile.
  absl::StatusOr<std::unique_ptr<wal::Directory>> opened =
      wal::Directory::Open(args.dir, /*writable=*/true);
  if (!opened.ok()) return Fail(opened.status());
  const std::string building = ColdPath(args.dir) + ".rebuild";
  std::filesystem::remove_all(building);
  absl::StatusOr<std::unique_ptr<cold::ColdStore>> store =
      cold::ColdStore::Open(building, wal::Storage::Posix());
  if (!store.ok()) return Fail(store.status());
  absl::StatusOr<CoolingReplay> replay =
      ReplayCooling(**opened, **store, args.hot_transfers, UINT64_MAX,
                    [&store](const ColdFacts& facts) { return (*store)->Append(facts); });
  if (!replay.ok()) return Fail(replay.status());
  std::error_code error;
  if (std::filesystem::exists(ColdPath(args.dir))) {
    const std::string replaced = absl::StrCat(ColdPath(args.dir), ".replaced-", base::RealtimeNs());
    std::filesystem::rename(ColdPath(args.dir), replaced, error);
    if (error) return Fail(absl::InternalError(absl::StrCat("rename: ", error.message())));
    std::printf("the old store is kept as %s (remove it once the new one serves)\n",
                replaced.c_str());
  }
  std::filesystem::rename(building, ColdPath(args.dir), error);
  if (error) return Fail(absl::InternalError(absl::StrCat("rename: ", error.message())));
  const absl::Status synced = wal::Storage::Posix().SyncDirectory(args.dir);
  if (!synced.ok()) return Fail(synced);
  const double seconds = static_cast<double>(replay->elapsed_ns) / 1e9;
  std::printf("rebuilt %s: %" PRIu64 " runs, %" PRIu64 " transfers in %.1f s (%.0f transfers/s)\n",
              ColdPath(args.dir).c_str(), (*store)->run_count(), (*store)->transfer_count(),
              seconds, seconds > 0 ? static_cast<double>(replay->transfer_count) / seconds : 0.0);
  return kExitOk;
}

}  // namespace ledger::tools
