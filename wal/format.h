// The on-disk format of the data directory: the identity file, WAL segments and entries, and
// snapshots. Defined once, here; the writer, the reader, recovery and the tools all use it.
// docs/wal-format.md explains it for operators and tool authors.
//
// Everything is little-endian with explicit padding; reserved bytes are zero and are checked.
// Checksums and chain hashes are XXH3-128. XXH3 is not cryptographic: the chain detects
// corruption, torn and misdirected writes and careless edits, not a forger who recomputes it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

#include "base/hash.h"

namespace ledger::wal {

using base::Hash128;

// XXH3-128 of bytes (the one hash of the format).
inline Hash128 HashBytes(std::span<const std::byte> bytes) { return base::HashBytes128(bytes); }

inline constexpr uint16_t kFormatVersion = 1;
// Writes to the log are O_DIRECT: offsets and sizes are multiples of this.
inline constexpr uint64_t kBlockBytes = 4096;
inline constexpr uint64_t RoundUpToBlock(uint64_t bytes) {
  return (bytes + kBlockBytes - 1) / kBlockBytes * kBlockBytes;
}
// Reserved bytes and padding must be zero.
bool IsAllZero(std::span<const std::byte> bytes);

// Entries start at multiples of this inside a group (so a header never straddles a block
// boundary needlessly and a scan for the next header has few positions to try).
inline constexpr uint64_t kEntryAlignBytes = 64;

// ---------------------------------------------------------------------------------------------
// Identity file ("LEDGER" in the data directory), written once by `init`.

inline constexpr uint64_t kIdentityMagic = 0x444952454744454CULL;  // "LEDGERID" little-endian

struct IdentityFile {
  uint64_t magic;           // kIdentityMagic
  uint16_t format_version;  // kFormatVersion
  uint16_t reserved0;
  uint32_t reserved1;
  Hash128 directory_id;         // random at init: segments of another directory are refused
  uint64_t segment_size_bytes;  // fixed for the directory's life
  uint64_t created_at_ns;
  uint8_t reserved2[64];
  Hash128 checksum;  // of the bytes before it
};
static_assert(std::is_trivially_copyable_v<IdentityFile> && sizeof(IdentityFile) == 128);
static_assert(offsetof(IdentityFile, directory_id) == 16 &&
              offsetof(IdentityFile, segment_size_bytes) == 32 &&
              offsetof(IdentityFile, checksum) == 112);

// ---------------------------------------------------------------------------------------------
// Segments: "wal-<index, 20 digits>.seg", preallocated to segment_size_bytes. Block 0 holds
// the segment header; groups start at kBlockBytes. Space after the last group is zero.

inline constexpr uint64_t kSegmentMagic = 0x544D4745534C4157ULL;  // "WALSEGMT"

struct SegmentHeader {
  uint64_t magic;  // kSegmentMagic
  uint16_t format_version;
  uint16_t reserved0;
  uint32_t reserved1;
  Hash128 directory_id;
  uint64_t segment_index;  // dense from 0: a gap is a missing segment
  uint8_t reserved2[72];
  Hash128 checksum;  // of the bytes before it
};
static_assert(std::is_trivially_copyable_v<SegmentHeader> && sizeof(SegmentHeader) == 128);
static_assert(offsetof(SegmentHeader, directory_id) == 16 &&
              offsetof(SegmentHeader, segment_index) == 32 &&
              offsetof(SegmentHeader, checksum) == 112);

// ---------------------------------------------------------------------------------------------
// Groups: one write to the log. A group starts at a kBlockBytes boundary with this header,
// then holds whole entries, then zero padding to the next boundary. A group is written only
// after the previous one is durable, and an acknowledgement waits for its whole group, so
// the group is the unit of durability: after a crash only the newest group can be torn.
// Hence the reader's rule (docs/wal-format.md): a bad group followed by a valid group header
// anywhere later is corruption; a bad group followed by nothing valid is a torn tail.

inline constexpr uint64_t kGroupMagic = 0x50554F52474C4157ULL;  // "WALGROUP"

struct GroupHeader {
  uint64_t magic;  // kGroupMagic
  uint64_t first_op;
  uint32_t entry_count;
  uint32_t reserved0;
  uint64_t size_bytes;     // this header and the entries, before padding
  uint64_t segment_index;  // where it was meant to be written: catches misdirected writes
  uint64_t segment_offset;
  Hash128 checksum;  // GroupChecksum: of the bytes before it, keyed by the directory id
};
static_assert(std::is_trivially_copyable_v<GroupHeader> && sizeof(GroupHeader) == 64);
static_assert(offsetof(GroupHeader, size_bytes) == 24 && offsetof(GroupHeader, checksum) == 48);

// ---------------------------------------------------------------------------------------------
// Entries: one per state-changing batch. Header, then the body (event_count fixed-layout
// records of the operation's type, exactly as the client sent them), then zero padding to
// kEntryAlignBytes.

inline constexpr uint64_t kEntryMagic = 0x5952544E454C4157ULL;  // "WALENTRY"

// What the layer above logs, which wal/ checks and knows nothing else of: the size of one
// record of each operation code's body (0: no operation has that code). replica/ builds it
// from engine/operation.h; the reader refuses an entry whose code or size it does not give.
struct EntrySchema {
  std::array<uint32_t, 256> record_size_bytes{};

  // The largest entry the schema allows (kEventsPerEntryMax of its largest record).
  uint64_t entry_size_max_bytes() const;
};

struct EntryHeader {
  uint64_t magic;  // kEntryMagic
  uint16_t format_version;
  uint8_t operation;  // what the body holds: a code of the EntrySchema (engine::Operation)
  uint8_t reserved0;
  uint32_t event_count;
  uint64_t op;                // dense from 1
  uint64_t timestamp_ns;      // the batch's booking timestamp (events get timestamp_ns + 1 + i)
  uint32_t body_size_bytes;   // event_count * the schema's record size for `operation`
  uint32_t entry_size_bytes;  // header + body + padding: the next entry's offset - this one's
  uint64_t reserved1;
  Hash128 body_checksum;
  Hash128 previous_chain_hash;  // the previous entry's chain_hash (zero before op 1)
  uint8_t reserved2[32];
  // XXH3-128 of the bytes before it: every header field, the body checksum and the previous
  // chain hash, so changing, reordering, inserting or deleting an entry breaks the chain.
  Hash128 chain_hash;
};
static_assert(std::is_trivially_copyable_v<EntryHeader> && sizeof(EntryHeader) == 128);
static_assert(offsetof(EntryHeader, operation) == 10 && offsetof(EntryHeader, event_count) == 12 &&
              offsetof(EntryHeader, op) == 16 && offsetof(EntryHeader, timestamp_ns) == 24 &&
              offsetof(EntryHeader, body_size_bytes) == 32 &&
              offsetof(EntryHeader, entry_size_bytes) == 36 &&
              offsetof(EntryHeader, body_checksum) == 48 &&
              offsetof(EntryHeader, previous_chain_hash) == 64 &&
              offsetof(EntryHeader, chain_hash) == 112);

// The most events one entry may carry, and so the largest entry.
inline constexpr uint32_t kEventsPerEntryMax = 8190;
inline constexpr uint64_t EntrySizeBytes(uint64_t body_size_bytes) {
  return (sizeof(EntryHeader) + body_size_bytes + kEntryAlignBytes - 1) / kEntryAlignBytes *
         kEntryAlignBytes;
}

// Fills magic, version, sizes, the body checksum and chain_hash from the other fields.
void SealEntry(EntryHeader& header, std::span<const std::byte> body);
// Checks magic, version, the operation and sizes against `schema`, reserved bytes and the
// chain hash (not the body, not the link to the previous entry). False for anything that is
// not a well-formed header.
bool IsWellFormedEntryHeader(const EntryHeader& header, const EntrySchema& schema);

// ---------------------------------------------------------------------------------------------
// Snapshots: "snapshot-<op, 20 digits>.snap", the engine state after entry `op`. Written to a
// temporary name, synced, then renamed; a snapshot whose checksum fails is skipped.

inline constexpr uint64_t kSnapshotMagic = 0x544F485350414E53ULL;  // "SNAPSHOT"

struct SnapshotHeader {
  uint64_t magic;  // kSnapshotMagic
  uint16_t format_version;
  uint16_t reserved0;
  uint32_t section_count;
  Hash128 directory_id;
  uint64_t op;            // state after this entry
  uint64_t timestamp_ns;  // the engine's last timestamp at op
  Hash128 chain_hash;     // the chain hash of entry `op` (replay continues from it)
  uint64_t body_size_bytes;
  uint8_t reserved1[24];
  Hash128 body_checksum;  // XXH3-128 of everything after this header
  Hash128 checksum;       // of the bytes before it
};
static_assert(std::is_trivially_copyable_v<SnapshotHeader> && sizeof(SnapshotHeader) == 128);
static_assert(offsetof(SnapshotHeader, op) == 32 && offsetof(SnapshotHeader, chain_hash) == 48 &&
              offsetof(SnapshotHeader, body_checksum) == 96 &&
              offsetof(SnapshotHeader, checksum) == 112);

// The body is section_count sections, each a SectionHeader then `size_bytes` of records.
struct SectionHeader {
  uint32_t kind;  // engine::SnapshotSection kind
  uint32_t record_size_bytes;
  uint64_t size_bytes;
};
static_assert(sizeof(SectionHeader) == 16);

// ---------------------------------------------------------------------------------------------
// Epoch file ("EPOCH"): in a replica group, the highest epoch this member has seen
// (docs/replication.md); it refuses anything from an older one. Replaced whole (written to
// "EPOCH.tmp", synced, renamed, the directory synced). Absent: epoch 0.

inline constexpr uint64_t kEpochMagic = 0x48434F5045474C4CULL;  // "LLGEPOCH"

struct EpochFile {
  uint64_t magic;  // kEpochMagic
  uint16_t format_version;
  uint16_t reserved0;
  uint32_t reserved1;
  Hash128 directory_id;  // the directory's: an epoch file copied from elsewhere is refused
  uint64_t epoch;
  uint8_t reserved2[8];
  Hash128 checksum;  // of the bytes before it
};
static_assert(std::is_trivially_copyable_v<EpochFile> && sizeof(EpochFile) == 64);
static_assert(offsetof(EpochFile, directory_id) == 16 && offsetof(EpochFile, epoch) == 32 &&
              offsetof(EpochFile, checksum) == 48);

// ---------------------------------------------------------------------------------------------
// Cut file ("CUT"): a cut of the log's tail in progress. A member of a replica group drops the
// entries a new epoch does not have (written under an older one, never acknowledged:
// docs/replication.md). The log can only be cut at a group's start, so the entries of the
// group holding `after_op` up to it are kept here and appended again after the cut; recovery
// finishes a cut it finds, so a crash midway loses nothing kept. The header is followed by
// `kept_bytes` of whole entries (kept_first_op through after_op).

inline constexpr uint64_t kCutMagic = 0x4C49415447554C4CULL;  // "LLUGTAIL"

struct CutHeader {
  uint64_t magic;  // kCutMagic
  uint16_t format_version;
  uint16_t reserved0;
  uint32_t reserved1;
  Hash128 directory_id;
  uint64_t after_op;  // the log's last op once cut
  // Where the group holding after_op starts: the log is zeroed from here.
  uint64_t group_segment_index;
  uint64_t group_offset;
  uint64_t kept_first_op;  // that group's first op
  uint64_t kept_bytes;
  Hash128 after_chain_hash;  // after_op's chain hash
  Hash128 kept_checksum;     // XXH3-128 of the kept entries
  uint8_t reserved2[8];
  Hash128 checksum;  // of the bytes before it
};
static_assert(std::is_trivially_copyable_v<CutHeader> && sizeof(CutHeader) == 128);
static_assert(offsetof(CutHeader, after_op) == 32 && offsetof(CutHeader, kept_bytes) == 64 &&
              offsetof(CutHeader, after_chain_hash) == 72 && offsetof(CutHeader, checksum) == 112);

// ---------------------------------------------------------------------------------------------
// Durable file ("DURABLE"): how far the log has been made durable here, so that a log found
// shorter (its newest segment deleted or replaced by an older copy, acknowledged groups zeroed
// or damaged at its end) is refused rather than taken for a log that ends earlier. Two slots
// of kBlockBytes, written in place and synced in turn (slot = sequence % 2), so a write torn
// by a crash leaves the other: the valid slot with the higher sequence holds. The log writer
// updates it at each segment switch, at most every second after a group, and when it stops;
// a cut of the log (recovery.h) lowers it. Absent (directories made before it): no bound.

inline constexpr uint64_t kDurableMagic = 0x4C42525544474C4CULL;  // "LLGDURBL"
inline constexpr uint64_t kDurableSlotCount = 2;

struct DurableRecord {
  uint64_t magic;  // kDurableMagic
  uint16_t format_version;
  uint16_t reserved0;
  uint32_t reserved1;
  Hash128 directory_id;    // the directory's: a copy from elsewhere is refused
  uint64_t sequence;       // the newer of the two slots has the higher one
  uint64_t segment_index;  // the newest segment created
  uint64_t durable_op;     // every op through this one was durable in the log
  uint8_t reserved2[8];
  Hash128 checksum;  // of the bytes before it
};
static_assert(std::is_trivially_copyable_v<DurableRecord> && sizeof(DurableRecord) == 80);
static_assert(offsetof(DurableRecord, sequence) == 32 &&
              offsetof(DurableRecord, segment_index) == 40 &&
              offsetof(DurableRecord, durable_op) == 48 && offsetof(DurableRecord, checksum) == 64);

// The checksum field of these headers covers the bytes before it.
template <typename Header>
Hash128 HeaderChecksum(const Header& header) {
  return HashBytes(std::as_bytes(std::span(&header, 1)).first(offsetof(Header, checksum)));
}

// Identity, segment, group and snapshot headers: magic and checksum (and version) hold.
bool IsValid(const IdentityFile& identity);
bool IsValid(const SegmentHeader& header);
bool IsValid(const SnapshotHeader& header);
bool IsValid(const EpochFile& file);
bool IsValid(const CutHeader& header);
bool IsValid(const DurableRecord& record);

// Group headers are checksummed with a seed taken from the directory id, which never leaves
// the directory: bytes inside an entry's body (a client's records) can then never pass for a
// group header when the reader looks for later groups.
Hash128 GroupChecksum(const GroupHeader& header, const Hash128& directory_id);
bool IsValid(const GroupHeader& header, const Hash128& directory_id);

}  // namespace ledger::wal
