// ledger-wal, the operator's tool for a data directory (docs/operations.md): the commands, their
// arguments, and the helpers they share (formatting, progress, errors and exit codes).
//
// Every command is read-only except `init`: it opens the directory with writable=false, so it
// can run beside a live server, and it never changes a file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/operation.h"
#include "engine/types.h"
#include "replica/log_schema.h"
#include "tools/amount_text.h"
#include "wal/directory.h"
#include "wal/format.h"

namespace ledger::tools {

// Exit codes (sysexits.h where one fits). Scripts rely on these: docs/operations.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitTornTail = 1;     // verify: the newest group was not wholly written
inline constexpr int kExitCorrupt = 2;      // DataLoss: the log or a snapshot is corrupt
inline constexpr int kExitUsage = 64;       // bad arguments, or DIR is not a data directory
inline constexpr int kExitSoftware = 70;    // our bug (an exception escaped a command)
inline constexpr int kExitCantCreate = 73;  // init: DIR exists and is not empty
inline constexpr int kExitIo = 74;          // an I/O or other operating error

struct InitArgs {
  std::string dir;
  uint64_t segment_size_mib = 256;  // InitOptions' default
};
// The window of transfers the cold store's replays keep in memory (--hot-transfers).
inline constexpr uint64_t kReplayHotTransfers = uint64_t{1} << 22;

struct VerifyArgs {
  std::string dir;
  bool from_snapshot = false;
  uint64_t hot_transfers = kReplayHotTransfers;  // for the cold store's check
  // Keyed checkpoints (replica/checkpoint.h): the key file and the checkpoints an auditor
  // kept; the log must hold each signed op with its chain hash. Both or neither.
  std::string key_file;
  std::string checkpoints_file;
};
struct ArchiveArgs {
  std::string dir;
  std::string dest;
};
struct RebuildColdArgs {
  std::string dir;
  uint64_t hot_transfers = kReplayHotTransfers;
};
struct DumpArgs {
  std::string dir;
  bool json = false;
  uint64_t from_op = 1;  // inclusive
  uint64_t to_op = UINT64_MAX;
  std::optional<u128> account;  // only events touching this account
};
struct StatsArgs {
  std::string dir;
};
struct ReplayArgs {
  std::string dir;
  bool full = false;         // ignore snapshots: replay from genesis
  uint64_t shard_count = 1;  // rebuild on this many shards, and print each shard's hash
};

// Each returns the process's exit code and has printed everything, errors included.
int RunInit(const InitArgs& args);
int RunVerify(const VerifyArgs& args);
int RunDump(const DumpArgs& args);
int RunStats(const StatsArgs& args);
int RunReplay(const ReplayArgs& args);
int RunRebuildCold(const RebuildColdArgs& args);
int RunArchive(const ArchiveArgs& args);

// verify's part for the cold store (cold.cc): its files' checksums, then (compare_with_log) a
// replay of the log from genesis compared with it. OK when there is no store.
absl::Status VerifyCold(const wal::Directory& directory, const std::string& dir,
                        uint64_t hot_transfers, bool compare_with_log);

// The usage text (ledger_wal.cc).
void PrintUsage(FILE* out);

// ---------------------------------------------------------------------------------------------
// Errors.

// Prints "ledger-wal: <message>" on stderr (and the usage for InvalidArgument, the code of the
// user's mistakes) and returns the exit code for the status: DataLoss -> kExitCorrupt,
// InvalidArgument -> kExitUsage, AlreadyExists -> kExitCantCreate, anything else -> kExitIo.
int Fail(const absl::Status& status);

// Opens `dir` read-only. InvalidArgument (a usage error) when it is missing, not a directory
// or not a ledger data directory, with a message that says which.
absl::StatusOr<std::unique_ptr<wal::Directory>> OpenReadOnly(const std::string& dir);

// ---------------------------------------------------------------------------------------------
// Counts by operation, filled from a ScanLog visitor.

struct LogTally {
  uint64_t entries[engine::kOperationCount] = {};  // by engine::OperationIndex
  uint64_t events[engine::kOperationCount] = {};
  uint64_t entry_count = 0;
  uint64_t body_bytes = 0;
  uint64_t first_op = 0;  // 0 until an entry is seen
  uint64_t last_op = 0;

  // The scanner hands out only entries of the log schema, so the operation is known.
  void Add(const wal::EntryHeader& header) {
    if (const engine::OperationInfo* info = engine::FindOperation(header.operation)) {
      ++entries[engine::OperationIndex(info->operation)];
      events[engine::OperationIndex(info->operation)] += header.event_count;
    }
    body_bytes += header.body_size_bytes;
    if (entry_count++ == 0) first_op = header.op;
    last_op = header.op;
  }
};

// ---------------------------------------------------------------------------------------------
// Formatting. 128-bit values never go through floating point.

// Decimal text of 128-bit values and trial-balance sums: amount_text.h (FormatU128,
// FormatWideRaw, FormatWide).
// 32 lowercase hex digits, high word first (state hashes and chain hashes print this way).
std::string Hex128(uint64_t high, uint64_t low);
std::string HashText(const wal::Hash128& hash);
// Ids: decimal below 2^64, else 0x and 32 hex digits (UUID-like ids read better in hex).
std::string IdText(u128 value);
// "1.5 MiB".
std::string ByteText(uint64_t bytes);
// "2024-05-01T12:00:00.123456789Z" (UTC).
std::string TimeText(uint64_t timestamp_ns);
// Printable ASCII as is, anything else as \xNN (asset codes come from clients).
std::string PrintableText(std::string_view text);

// "create_transfers", or "unknown" for a code no operation has.
std::string_view OperationName(uint8_t code);
// "pending|linked", "none" for 0; unknown bits as hex.
std::string TransferFlagNames(uint16_t flags);
std::string AccountFlagNames(uint16_t flags);

// Parses a u64 / u128 in decimal (or 0x hex for u128); nullopt for anything else.
std::optional<uint64_t> ParseU64(std::string_view text);
std::optional<u128> ParseU128(std::string_view text);

// ---------------------------------------------------------------------------------------------
// Progress on a terminal: one line on stderr, redrawn at most 10 times a second, and only when
// stderr is a tty (so logs and pipes never see it).

class ProgressBar {
 public:
  // `total_bytes` is an upper bound (segments x segment size): the bar may end short of full.
  // `wanted` false keeps it off (e.g. when stdout is the same terminal).
  ProgressBar(std::string label, uint64_t total_bytes, bool wanted = true);
  ~ProgressBar();  // clears the line
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // For ScanOptions::progress and RecoveryOptions::progress; borrows this bar.
  std::function<void(uint64_t)> Callback();
  void Update(uint64_t bytes_read);
  void Clear();
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  std::string label_;
  uint64_t total_bytes_;
  uint64_t bytes_read_ = 0;
  uint64_t last_draw_ns_ = 0;
  bool enabled_;
  bool drawn_ = false;
};

// The capacity of the log's segments, for a progress bar's total (0 when they cannot be listed).
uint64_t LogCapacityBytes(const wal::Directory& directory);

// bytes per nanosecond is GB/s; guarded against a zero duration.
double GigabytesPerSecond(uint64_t bytes, uint64_t elapsed_ns);

}  // namespace ledger::tools
