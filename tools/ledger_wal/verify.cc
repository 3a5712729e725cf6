// ledger-wal init and verify.
//
// verify reads the whole log through replica::VerifyLog (the check a live server runs for its
// verifyLog method), which checks every segment header, group header, entry header, body
// checksum, chain link, op number and timestamp; with --from-snapshot it
// first checks the newest snapshot that passes (file checksums, then a full Engine::Restore,
// which trusts nothing) and that the log agrees with it at its op, and then checks bodies only
// after that op. Exit 0 only when everything checked is intact.
#include <cinttypes>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/assert.h"
#include "base/clock.h"
#include "base/file.h"
#include "engine/engine.h"
#include "replica/checkpoint.h"
#include "replica/log_verify.h"
#include "replica/recovery.h"
#include "tools/ledger_wal/ledger_wal.h"
#include "wal/log_reader.h"
#include "wal/snapshot_file.h"

namespace ledger::tools {

int RunInit(const InitArgs& args) {
  wal::InitOptions options;
  options.segment_size_bytes = args.segment_size_mib << 20;
  if (absl::Status status = wal::Directory::Init(args.dir, options); !status.ok()) {
    // What the operator can mend (a missing parent, permissions, a full disk) is "cannot
    // create", as an existing directory is.
    if (absl::IsNotFound(status) || absl::IsPermissionDenied(status) ||
        absl::IsResourceExhausted(status)) {
      status = absl::AlreadyExistsError(
          absl::StrCat("cannot create ", args.dir, ": ", std::string(status.message())));
    }
    return Fail(status);
  }
  absl::StatusOr<std::unique_ptr<wal::Directory>> directory = OpenReadOnly(args.dir);
  if (!directory.ok()) return Fail(directory.status());
  const wal::IdentityFile& identity = (*directory)->identity();
  std::printf("initialised %s\n", args.dir.c_str());
  std::printf("  format version  %u\n", unsigned{identity.format_version});
  std::printf("  directory id    %s\n", HashText(identity.directory_id).c_str());
  std::printf("  segment size    %s\n", ByteText(identity.segment_size_bytes).c_str());
  std::printf("  first segment   %s\n", (*directory)->SegmentPath(0).c_str());
  return kExitOk;
}

namespace {

// The snapshot `verify --from-snapshot` starts from (op 0: none, from genesis).
struct SnapshotCheck {
  uint64_t op = 0;
  wal::SnapshotHeader header{};
  uint64_t file_bytes = 0;
  engine::EngineStats stats;
  std::vector<std::string> damaged;  // newer snapshots that failed their checks
};

absl::Status CheckSnapshot(const wal::Directory& directory, uint64_t op, SnapshotCheck* check) {
  LEDGER_ASSIGN_OR_RETURN(replica::RestoredSnapshot restored,
                          replica::RestoreSnapshot(directory, op, {}));
  if (restored.engine->last_timestamp_ns() != restored.header.timestamp_ns) {
    return absl::DataLossError(absl::StrCat("its header's timestamp ", restored.header.timestamp_ns,
                                            " differs from its state's ",
                                            restored.engine->last_timestamp_ns()));
  }
  check->op = op;
  check->header = restored.header;
  check->file_bytes = restored.file_bytes;
  check->stats = restored.engine->GetStats();
  return absl::OkStatus();
}

// The newest snapshot that passes every check; the newer ones that fail are listed as damaged.
absl::StatusOr<SnapshotCheck> ChooseSnapshot(const wal::Directory& directory) {
  SnapshotCheck check;
  LEDGER_ASSIGN_OR_RETURN(std::vector<uint64_t> ops, directory.ListSnapshots());
  for (uint64_t op : ops) {
    const absl::Status status = CheckSnapshot(directory, op, &check);
    if (status.ok()) break;
    if (status.code() == absl::StatusCode::kNotFound) continue;  // pruned by a live server
    if (status.code() != absl::StatusCode::kDataLoss) return status;
    check.damaged.push_back(absl::StrCat("snapshot at op ", op, ": ", status.message()));
  }
  return check;
}

// Checks an entry against the snapshot: the log must reach the snapshot's state at its op.
absl::Status CheckAgainstSnapshot(const SnapshotCheck& snapshot, const wal::EntryHeader& entry) {
  const wal::SnapshotHeader& header = snapshot.header;
  if (entry.op == snapshot.op + 1 && (entry.previous_chain_hash != header.chain_hash ||
                                      entry.timestamp_ns <= header.timestamp_ns)) {
    return absl::DataLossError(absl::StrCat("the log's op ", entry.op,
                                            " does not follow the snapshot at op ", snapshot.op,
                                            " (chain hash or timestamp)"));
  }
  if (entry.op != snapshot.op) return absl::OkStatus();
  if (entry.chain_hash != header.chain_hash) {
    return absl::DataLossError(absl::StrCat("the snapshot at op ", snapshot.op,
                                            " does not match the log's chain hash there"));
  }
  if (entry.timestamp_ns + entry.event_count != header.timestamp_ns) {
    return absl::DataLossError(absl::StrCat("the snapshot at op ", snapshot.op,
                                            " does not match the log's timestamp there"));
  }
  return absl::OkStatus();
}

struct Verified {
  wal::ScanResult scan;
  LogTally tally;
  uint64_t bytes_read = 0;
  uint64_t elapsed_ns = 0;
};

// The op the directory's state reaches: the log's last, or, when the log holds no entry after
// archived segments (or an install's snapshot, replica/install.h), its newest snapshot's.
absl::StatusOr<uint64_t> ReachedOp(const wal::Directory& directory, const wal::ScanResult& log) {
  if (!log.archived_start || log.entry_count > 0) return log.last_op;
  LEDGER_ASSIGN_OR_RETURN(const std::vector<uint64_t> snapshots, directory.ListSnapshots());
  return snapshots.empty() ? log.last_op : std::max(log.last_op, snapshots.front());
}

// The checkpoints an auditor kept (replica/checkpoint.h), by op.
struct Checkpoints {
  std::string path;
  std::map<uint64_t, replica::Checkpoint> by_op;
  uint64_t checked = 0;   // found in the log as signed
  uint64_t archived = 0;  // before the log's first op: not here to check
};

// Every line must carry the key's HMAC: a line edited or added without the key is DataLoss.
absl::StatusOr<Checkpoints> ReadCheckpoints(const VerifyArgs& args) {
  LEDGER_ASSIGN_OR_RETURN(const std::string key_text, base::ReadFileToString(args.key_file));
  LEDGER_ASSIGN_OR_RETURN(const std::vector<uint8_t> key, replica::ParseCheckpointKey(key_text));
  LEDGER_ASSIGN_OR_RETURN(const std::string text, base::ReadFileToString(args.checkpoints_file));
  Checkpoints checkpoints;
  checkpoints.path = args.checkpoints_file;
  uint64_t line_number = 0;
  for (const absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    ++line_number;
    absl::StatusOr<replica::Checkpoint> checkpoint =
        replica::ParseCheckpoint(key, std::string_view(line.data(), line.size()));
    if (!checkpoint.ok()) {
      return absl::DataLossError(absl::StrCat(args.checkpoints_file, " line ", line_number, ": ",
                                              checkpoint.status().message()));
    }
    checkpoints.by_op[checkpoint->op] = *checkpoint;
  }
  return checkpoints;
}

// The entry at a signed op must be the one signed.
absl::Status CheckAgainstCheckpoint(Checkpoints& checkpoints, const wal::EntryHeader& entry) {
  const auto found = checkpoints.by_op.find(entry.op);
  if (found == checkpoints.by_op.end()) return absl::OkStatus();
  if (found->second.chain_hash != entry.chain_hash ||
      found->second.timestamp_ns != entry.timestamp_ns) {
    return absl::DataLossError(
        absl::StrCat("op ", entry.op, " is not the entry signed for it in ", checkpoints.path,
                     " (chain ", HashText(entry.chain_hash), ", signed ",
                     HashText(found->second.chain_hash), "): the history up to it was rewritten"));
  }
  ++checkpoints.checked;
  return absl::OkStatus();
}

// Every signed op must still be in the log: one beyond its end means it was cut back.
absl::Status CheckCheckpointsReached(Checkpoints& checkpoints, const wal::ScanResult& log,
                                     uint64_t reached_op) {
  if (checkpoints.by_op.empty()) return absl::OkStatus();
  const uint64_t newest = checkpoints.by_op.rbegin()->first;
  if (newest > reached_op) {
    return absl::DataLossError(absl::StrCat("the log ends at op ", reached_op, ", but op ", newest,
                                            " was signed (", checkpoints.path,
                                            "): the log was cut back to an older state"));
  }
  const uint64_t first_op = log.entry_count > 0 ? log.first_op : reached_op + 1;
  for (const auto& [op, checkpoint] : checkpoints.by_op) {
    if (op < first_op) ++checkpoints.archived;
  }
  return absl::OkStatus();
}

absl::Status ScanForVerify(const wal::Directory& directory, const SnapshotCheck& snapshot,
                           Checkpoints* checkpoints, Verified* verified) {
  ProgressBar bar("verify", LogCapacityBytes(directory));
  replica::LogVerifyOptions options;
  options.trusted_through_op = snapshot.op;  // a checked snapshot covers these bodies
  options.on_bytes = bar.Callback();
  options.also_check = [&](const wal::EntryHeader& entry,
                           std::span<const std::byte>) -> absl::Status {
    verified->tally.Add(entry);
    if (checkpoints != nullptr) {
      LEDGER_RETURN_IF_ERROR(CheckAgainstCheckpoint(*checkpoints, entry));
    }
    return snapshot.op == 0 ? absl::OkStatus() : CheckAgainstSnapshot(snapshot, entry);
  };
  // Read first: a server writing beside this only raises it.
  LEDGER_ASSIGN_OR_RETURN(const std::optional<wal::DurableMark> mark, directory.ReadDurableMark());
  const uint64_t start_ns = base::MonotonicNs();
  replica::LogVerifyTally checked;
  absl::StatusOr<wal::ScanResult> scan = replica::VerifyLog(directory, options, &checked);
  verified->elapsed_ns = base::MonotonicNs() - start_ns;
  verified->bytes_read = bar.bytes_read();
  if (!scan.ok()) return scan.status();
  verified->scan = *scan;
  const wal::ScanResult& log = verified->scan;
  if (snapshot.op > log.last_op) {
    return absl::DataLossError(absl::StrCat("the snapshot at op ", snapshot.op,
                                            " is ahead of the log, which ends at op ", log.last_op,
                                            ": acknowledged entries are missing"));
  }
  if (snapshot.op > 0 && log.archived_start && log.first_op > snapshot.op + 1) {
    return absl::DataLossError(absl::StrCat("ops ", snapshot.op + 1, " to ", log.first_op - 1,
                                            " are in archived segments: the log has a gap after "
                                            "the snapshot at op ",
                                            snapshot.op));
  }
  LEDGER_ASSIGN_OR_RETURN(const uint64_t reached_op, ReachedOp(directory, log));
  wal::ScanResult reached = log;
  reached.last_op = reached_op;
  LEDGER_RETURN_IF_ERROR(wal::CheckDurableMark(directory, mark, reached));
  return checkpoints == nullptr ? absl::OkStatus()
                                : CheckCheckpointsReached(*checkpoints, log, reached_op);
}

// `agrees`: the log was read and matches the snapshot at its op.
void PrintSnapshot(const SnapshotCheck& snapshot, bool agrees) {
  for (const std::string& damaged : snapshot.damaged) {
    std::printf("  DAMAGED         %s\n", damaged.c_str());
  }
  if (snapshot.op == 0) {
    std::printf("  snapshot        none valid: verified from genesis\n");
    return;
  }
  std::printf("  snapshot        op %" PRIu64 " (%s): checksums ok, restored (%" PRIu64
              " accounts, %" PRIu64 " transfers)%s\n",
              snapshot.op, ByteText(snapshot.file_bytes).c_str(), snapshot.stats.account_count,
              snapshot.stats.transfer_count,
              agrees ? ", consistent with the log (chain hash and timestamp)" : "");
  std::printf("  bodies          checksummed after op %" PRIu64
              "; before it headers and chain only\n",
              snapshot.op);
}

void PrintVerified(const wal::Directory& directory, const Verified& verified,
                   uint64_t snapshot_op) {
  const wal::ScanResult& log = verified.scan;
  const uint64_t first_segment = log.end.segment_index + 1 - log.segment_count;
  std::printf("  segments        %" PRIu64 " (%" PRIu64 " to %" PRIu64 ", %s each)\n",
              log.segment_count, first_segment, log.end.segment_index,
              ByteText(directory.segment_size_bytes()).c_str());
  std::printf("  groups          %" PRIu64 "\n", log.group_count);
  if (log.entry_count == 0) {
    std::printf("  entries         0 (the log is empty)\n");
  } else {
    std::printf("  entries         %" PRIu64 ", ops %" PRIu64 " to %" PRIu64 "\n", log.entry_count,
                log.first_op, log.last_op);
  }
  std::printf("  events          %" PRIu64 " (ledgers %" PRIu64 ", accounts %" PRIu64
              ", transfers %" PRIu64 ")\n",
              log.event_count,
              verified.tally.events[engine::OperationIndex(engine::Operation::kCreateLedgers)],
              verified.tally.events[engine::OperationIndex(engine::Operation::kCreateAccounts)],
              verified.tally.events[engine::OperationIndex(engine::Operation::kCreateTransfers)]);
  std::printf("  bytes           %" PRIu64 " read (%s), %" PRIu64 " in entries\n",
              verified.bytes_read, ByteText(verified.bytes_read).c_str(), log.entry_bytes);
  std::printf("  chain head      %s\n", HashText(log.last_chain_hash).c_str());
  std::printf("  speed           %.3g GB/s (%.3f s)\n",
              GigabytesPerSecond(verified.bytes_read, verified.elapsed_ns),
              static_cast<double>(verified.elapsed_ns) / 1e9);
  if (!log.archived_start || log.entry_count == 0) return;
  if (snapshot_op + 1 == log.first_op) {
    std::printf("  note            segments before %" PRIu64 " are archived; op %" PRIu64
                " links to the snapshot\n",
                first_segment, log.first_op);
  } else {
    std::printf(
        "  note            segments before %" PRIu64 " are archived: op %" PRIu64
        "'s link to its predecessor is not checked, and recovery needs a snapshot at op %" PRIu64
        " or later\n",
        first_segment, log.first_op, log.first_op - 1);
  }
}

int ReportCorruption(const absl::Status& status, const Verified& verified) {
  if (verified.tally.entry_count > 0) {
    std::printf("  checked         ops %" PRIu64 " to %" PRIu64 " before the failure\n",
                verified.tally.first_op, verified.tally.last_op);
  }
  std::printf("result: CORRUPT (the error follows on stderr)\n");
  std::fflush(stdout);
  return Fail(status);
}

}  // namespace

int RunVerify(const VerifyArgs& args) {
  absl::StatusOr<std::unique_ptr<wal::Directory>> opened = OpenReadOnly(args.dir);
  if (!opened.ok()) return Fail(opened.status());
  const wal::Directory& directory = **opened;
  SnapshotCheck snapshot;
  if (args.from_snapshot) {
    absl::StatusOr<SnapshotCheck> chosen = ChooseSnapshot(directory);
    if (!chosen.ok()) return Fail(chosen.status());
    snapshot = std::move(*chosen);
  }
  std::printf("verify %s (%s)\n", args.dir.c_str(),
              snapshot.op == 0 ? "from genesis"
                               : absl::StrCat("from the snapshot at op ", snapshot.op).c_str());
  std::optional<Checkpoints> checkpoints;
  if (!args.key_file.empty()) {
    absl::StatusOr<Checkpoints> read = ReadCheckpoints(args);
    if (!read.ok()) return Fail(read.status());
    checkpoints = std::move(*read);
  }
  Verified verified;
  const absl::Status status =
      ScanForVerify(directory, snapshot, checkpoints ? &*checkpoints : nullptr, &verified);
  if (args.from_snapshot) PrintSnapshot(snapshot, status.ok());
  if (status.code() == absl::StatusCode::kDataLoss) return ReportCorruption(status, verified);
  if (!status.ok()) return Fail(status);
  PrintVerified(directory, verified, snapshot.op);
  if (checkpoints) {
    std::printf("  checkpoints     %" PRIu64 " of %zu found in the log as signed%s\n",
                checkpoints->checked, checkpoints->by_op.size(),
                checkpoints->archived == 0
                    ? ""
                    : absl::StrCat(" (", checkpoints->archived, " in archived segments)").c_str());
  }
  if (!snapshot.damaged.empty()) {
    return ReportCorruption(
        absl::DataLossError(absl::StrCat(snapshot.damaged.front(), " (recovery skips it)")),
        verified);
  }
  const wal::ScanResult& log = verified.scan;
  if (log.torn_tail) {
    const std::string where = absl::StrCat(directory.SegmentPath(log.torn_at.segment_index),
                                           " at offset ", log.torn_at.offset);
    std::printf("result: TORN TAIL in %s: %s\n", where.c_str(), log.torn_reason.c_str());
    std::printf("  the log ends at op %" PRIu64
                "; %s; the server cuts it at its next start "
                "(nothing was changed)\n",
                log.last_op, wal::TornTailMeaning(directory, log).c_str());
    std::fprintf(stderr, "ledger-wal: torn tail in %s: %s\n", where.c_str(),
                 log.torn_reason.c_str());
    return kExitTornTail;
  }
  const absl::Status cold = VerifyCold(directory, args.dir, args.hot_transfers,
                                       /*compare_with_log=*/!log.archived_start);
  if (cold.code() == absl::StatusCode::kDataLoss) return ReportCorruption(cold, verified);
  if (!cold.ok()) return Fail(cold);
  std::printf("result: intact\n");
  return kExitOk;
}

}  // namespace ledger::tools
