// Recovery: the newest valid snapshot, then every later entry of the log replayed through the
// engine, after verifying the whole log (wal/log_reader.h). A torn tail is cut (zeroed) and
// reported; corruption is refused with DataLoss and nothing is changed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "wal/directory.h"
#include "wal/format.h"
#include "wal/log_reader.h"

namespace ledger::wal {

struct RecoveryOptions {
  engine::EngineOptions engine;
  bool use_snapshots = true;  // false: replay from genesis (the tools' `replay --full`)
  // Cut a torn tail (needs a writable directory). Read-only recovery only reports it.
  bool cut_torn_tail = true;
  std::function<void(uint64_t bytes_read)> progress;
};

struct Recovered {
  std::unique_ptr<engine::Engine> engine;
  ScanResult log;            // what the scan found (end, last op, chain, torn tail)
  uint64_t snapshot_op = 0;  // 0: started from an empty engine
  uint64_t replayed_entries = 0;
  std::vector<std::string> notes;  // snapshots skipped, tail cut: for the operator's log
};

absl::StatusOr<Recovered> Recover(const Directory& directory, const RecoveryOptions& options);

// Applies one entry to the engine (results discarded). DataLoss when the entry cannot follow
// the engine's state (its timestamp is not past the engine's last one).
absl::Status ApplyEntry(engine::Engine& engine, const EntryHeader& header,
                        std::span<const std::byte> body);

}  // namespace ledger::wal
