// The ledger's log schema for wal/: each operation's code and record size, from
// engine/operation.h. Every reader and writer of a ledger's log passes it to wal/.
#pragma once

#include "engine/operation.h"
#include "wal/format.h"
#include "wal/log_reader.h"

namespace ledger::replica {

inline wal::EntrySchema LogSchema() {
  wal::EntrySchema schema;
  for (const engine::OperationInfo& info : engine::kOperations) {
    schema.record_size_bytes[static_cast<uint8_t>(info.operation)] = info.event_size_bytes;
  }
  return schema;
}

// Scan options for a ledger's log: its schema, the rest at their defaults.
inline wal::ScanOptions LogScanOptions() {
  wal::ScanOptions options;
  options.schema = LogSchema();
  return options;
}

}  // namespace ledger::replica
