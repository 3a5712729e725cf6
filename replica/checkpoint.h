// Keyed checkpoints of the log's head: HMAC-SHA-256, under a key kept outside the data
// directory, of (op, chain hash, timestamp) every N ops and when the replica closes, appended as
// text lines to a file an auditor keeps, and from there exported on the server's change feed
// (docs/wal-format.md, "Checkpoints"). The XXH3 chain
// catches accidents; whoever holds no key cannot sign a rewritten history or an older one
// again, so `ledger-wal verify --key K --checkpoints F` holds the log to what was signed: a
// history rewritten and chained anew, or a log cut back to an older consistent state, is found.
//
// A line is "checkpoint v1 op=<op> chain=<32 hex> timestamp_ns=<ns> hmac=<64 hex>"; the HMAC
// covers the text before " hmac=", so `openssl dgst -sha256 -mac HMAC -macopt hexkey:KEY`
// checks one without this code. No directory id is signed: a replica group's members hold the
// same entries, so a checkpoint signed on one holds on each.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "wal/format.h"

namespace ledger::replica {

// At least 32 bytes (the hash's size): a shorter key weakens HMAC-SHA-256.
inline constexpr size_t kCheckpointKeyBytesMin = 32;

struct Checkpoint {
  uint64_t op = 0;
  wal::Hash128 chain_hash;    // of op's entry
  uint64_t timestamp_ns = 0;  // op's entry's
  std::array<uint8_t, 32> hmac{};
};

// A checkpoint signed and synced to its file, as the replica reports it (ReplicaOptions::
// on_checkpoint) for export elsewhere, e.g. the server's change feed. The line is what an
// auditor verifies; the feed's position beside it is not signed.
struct SignedCheckpoint {
  Checkpoint checkpoint;
  std::string line;  // exactly as in the file, without its newline
  // The change feed's next sequence after the checkpoint's op (BatchReceipt's): the changes
  // below it are that op's or older.
  uint64_t change_sequence_next = 0;
};

// The key from its file's text: hex digits (a trailing newline allowed), at least
// kCheckpointKeyBytesMin bytes. InvalidArgument otherwise.
absl::StatusOr<std::vector<uint8_t>> ParseCheckpointKey(std::string_view text);

Checkpoint SignCheckpoint(const std::vector<uint8_t>& key, uint64_t op,
                          const wal::Hash128& chain_hash, uint64_t timestamp_ns);
// The line, with its newline.
std::string FormatCheckpoint(const Checkpoint& checkpoint);
// One line (without its newline): InvalidArgument when malformed, PermissionDenied when its
// HMAC is not the key's (edited, or another key's).
absl::StatusOr<Checkpoint> ParseCheckpoint(const std::vector<uint8_t>& key, std::string_view line);

}  // namespace ledger::replica
