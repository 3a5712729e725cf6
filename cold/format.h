// The on-disk format of the cold store (docs/cold-store.md): one immutable run file per export,
// defined once, here, for the writer, the reader and the tools.
//
// A run holds the facts booked in [begin_ns, end_ns) (engine/cold.h): the records in booking
// order, and sorted sections that answer each question the engine asks with binary searches.
// Runs are numbered from 1 and cover consecutive time ranges, so a missing run is a gap.
//
// Layout: a 4 KiB header, then the sections, each starting on a 4 KiB boundary, in the order
// of RunSection, kChecksums last of them, then (version 3) the account fences. Everything is
// little-endian with explicit padding; reserved bytes are zero. Checksums are XXH3-128: the
// header's covers the header, kChecksums holds one per chunk (chunk_bytes) of every other
// section (chunks numbered across sections in order), and the header holds kChecksums' own and
// the account fences'. A reader checks a chunk the first time it touches it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "base/hash.h"
#include "engine/cold.h"
#include "engine/snapshot.h"
#include "engine/types.h"

namespace ledger::cold {

using base::Hash128;

inline constexpr uint64_t kRunMagic = 0x4E55524444C4F43ULL;  // "COLDRUN" little-endian
// Version 3: the account fences (RunHeader::account_fences). Version 2: chunks of
// RunHeader::chunk_bytes (4 KiB). Versions 1 (64 KiB chunks, the field zero) and 2 (no account
// fences: a history page binary-searches the account section) are still read.
inline constexpr uint32_t kRunFormatVersion = 3;
inline constexpr uint64_t kRunHeaderBytes = 4096;
inline constexpr uint64_t kRunAlignBytes = 4096;
// 4 KiB: a lookup reads and checks a page per record it touches the first time (a history
// page of 100 transfers from all over a run touched 100 chunks: with 64 KiB chunks, 6.4 MB read
// and hashed); the checksums cost 16 bytes per chunk (0.4%).
inline constexpr uint64_t kChunkBytes = uint64_t{4} << 10;
inline constexpr uint64_t kChunkBytesVersion1 = uint64_t{64} << 10;

enum class RunSection : uint32_t {
  kTransfers = 0,    // Transfer[], booking order
  kFailures = 1,     // engine::FailureRecord[], the order they were recorded
  kExpiries = 2,     // engine::ExpiryFact[], log order
  kBalances = 3,     // engine::BalanceFact[], by (account_id, timestamp_ns)
  kIds = 4,          // IdEntry[], by id: every transfer and failure
  kAccounts = 5,     // AccountEntry[], by (account_id, timestamp_ns): both sides of each transfer
  kResolutions = 6,  // ResolutionEntry[], by pending_id: posts, voids and expiries
  kReversals = 7,    // ReversalEntry[], by (reverses_id, position)
  kChecksums = 8,    // Hash128[], one per chunk of the sections before it
};
inline constexpr size_t kRunSectionCount = 9;

struct SectionExtent {
  uint64_t offset;  // from the file's start; a multiple of kRunAlignBytes
  uint64_t size_bytes;
  uint32_t record_size_bytes;
  uint32_t reserved;
  uint64_t first_chunk;  // the index of its first chunk's checksum in kChecksums
};
static_assert(sizeof(SectionExtent) == 32);

struct RunHeader {
  uint64_t magic;  // kRunMagic
  uint32_t format_version;
  uint32_t section_count;  // kRunSectionCount
  uint64_t sequence;       // 1, 2, ... in the order runs were written
  uint64_t begin_ns;       // the facts booked in [begin_ns, end_ns)
  uint64_t end_ns;
  // The oldest booking in the run: a failure of an imported chain may precede begin_ns.
  uint64_t timestamp_min_ns;
  uint64_t file_size_bytes;
  uint64_t chunk_bytes;  // the checksums' chunk size (version 1: zero, meaning 64 KiB)
  SectionExtent sections[kRunSectionCount];
  Hash128 checksums_checksum;  // of the kChecksums section
  // Version 3: the key of every kAccountFenceStride-th entry of kAccounts (AccountFence[]),
  // after kChecksums, outside the chunks: read whole into memory at open and checked against
  // account_fences_checksum. Zero in versions 1 and 2.
  SectionExtent account_fences;
  Hash128 account_fences_checksum;
  uint8_t reserved1[32];
  Hash128 checksum;  // of the header's bytes before it
};
static_assert(std::is_trivially_copyable_v<RunHeader> && sizeof(RunHeader) == 464);
static_assert(offsetof(RunHeader, sections) == 64 && offsetof(RunHeader, checksum) == 448);

// IdEntry::where: a position in kTransfers, or kInFailures | a position in kFailures.
inline constexpr uint64_t kInFailures = uint64_t{1} << 63;
struct IdEntry {
  TransferId id;
  uint64_t where;
};
static_assert(sizeof(IdEntry) == 24);

struct AccountEntry {
  AccountId account_id;
  uint64_t timestamp_ns;
  uint64_t position;  // in kTransfers
};
static_assert(sizeof(AccountEntry) == 32);

// The key of an AccountEntry: a history page finds where it starts by these, kept in memory
// (24 bytes per 512 entries: 0.09 bytes per transfer), and then reads one block of the section
// (16 KiB, one read) instead of binary-searching the whole of it (a dozen reads one after the
// other, each waiting for the disk).
inline constexpr uint64_t kAccountFenceStride = 512;
struct AccountFence {
  AccountId account_id;
  uint64_t timestamp_ns;
};
static_assert(sizeof(AccountFence) == 24);

// ResolutionEntry::where: a post's or void's position in kTransfers, or kIsExpiry | a
// position in kExpiries.
inline constexpr uint64_t kIsExpiry = uint64_t{1} << 63;
struct ResolutionEntry {
  TransferId pending_id;
  uint64_t where;
};
static_assert(sizeof(ResolutionEntry) == 24);

struct ReversalEntry {
  TransferId reverses_id;
  uint64_t position;  // in kTransfers
};
static_assert(sizeof(ReversalEntry) == 24);

static_assert(sizeof(Transfer) == 152 && sizeof(engine::FailureRecord) == 160 &&
              sizeof(engine::ExpiryFact) == 32 && sizeof(engine::BalanceFact) == 96);

// The name of run `sequence` in the store's directory, and the name it is written under first.
std::string RunFileName(uint64_t sequence);
inline constexpr char kTemporarySuffix[] = ".tmp";
// The sequence a run's file name holds; nullopt for any other name.
std::optional<uint64_t> RunSequenceOf(const std::string& name);

}  // namespace ledger::cold
