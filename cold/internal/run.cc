#include "cold/internal/run.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/assert.h"

namespace ledger::cold {

std::string RunFileName(uint64_t sequence) {
  std::string digits = std::to_string(sequence);
  return absl::StrCat("run-", std::string(digits.size() < 16 ? 16 - digits.size() : 0, '0'), digits,
                      ".cold");
}

std::optional<uint64_t> RunSequenceOf(const std::string& name) {
  if (!absl::StartsWith(name, "run-") || !absl::EndsWith(name, ".cold")) return std::nullopt;
  uint64_t sequence = 0;
  if (!absl::SimpleAtoi(name.substr(4, name.size() - 9), &sequence)) return std::nullopt;
  return sequence;
}

namespace internal {
namespace {

using engine::BalanceFact;
using engine::ExpiryFact;
using engine::FailureRecord;
using ::ledger::Transfer;

constexpr uint32_t kRecordSizes[kRunSectionCount] = {
    sizeof(Transfer),        sizeof(FailureRecord), sizeof(ExpiryFact),
    sizeof(BalanceFact),     sizeof(IdEntry),       sizeof(AccountEntry),
    sizeof(ResolutionEntry), sizeof(ReversalEntry), sizeof(Hash128)};

uint64_t AlignUp(uint64_t bytes) {
  return (bytes + kRunAlignBytes - 1) / kRunAlignBytes * kRunAlignBytes;
}

uint64_t ChunkCount(uint64_t size_bytes, uint64_t chunk_bytes) {
  return (size_bytes + chunk_bytes - 1) / chunk_bytes;
}

uint64_t ChunkBytesOf(const RunHeader& header) {
  return header.format_version == 1 ? kChunkBytesVersion1 : header.chunk_bytes;
}

template <typename Record>
std::span<const std::byte> BytesOf(const std::vector<Record>& records) {
  return std::as_bytes(std::span(records));
}

struct AccountIdHash {
  size_t operator()(const AccountId& id) const { return base::HashWords64(id.lo, id.hi); }
};

// accounts_unsorted (booking order) into accounts, by (account, time): entries are grouped by
// account in one pass, in the order of the accounts sorted; within an account they stay in
// booking order. Linear in the entries (a run has far fewer accounts than entries), where a
// comparison sort of 2M entries was a tenth of the server's time.
void GroupByAccount(RunScratch& indexes) {
  absl::flat_hash_map<AccountId, uint32_t, AccountIdHash> slot_of;
  std::vector<AccountId> distinct;
  indexes.account_slots.clear();
  for (const AccountEntry& entry : indexes.accounts_unsorted) {
    const auto [it, added] = slot_of.try_emplace(entry.account_id, distinct.size());
    if (added) distinct.push_back(entry.account_id);
    indexes.account_slots.push_back(it->second);
  }
  std::vector<uint32_t> order(distinct.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&distinct](uint32_t a, uint32_t b) { return distinct[a] < distinct[b]; });
  std::vector<uint64_t> next(distinct.size() + 1, 0);  // by slot: where its next entry goes
  for (uint32_t slot : indexes.account_slots) ++next[slot];
  uint64_t offset = 0;
  for (uint32_t slot : order) {
    const uint64_t count = next[slot];
    next[slot] = offset;
    offset += count;
  }
  indexes.accounts.resize(indexes.accounts_unsorted.size());
  for (size_t i = 0; i < indexes.accounts_unsorted.size(); ++i) {
    indexes.accounts[next[indexes.account_slots[i]]++] = indexes.accounts_unsorted[i];
  }
}

// The sorted sections, built from the records into the scratch.
void BuildIndexes(const RunFacts& facts, RunScratch& indexes) {
  indexes.ids.clear();
  indexes.accounts.clear();
  indexes.resolutions.clear();
  indexes.reversals.clear();
  indexes.balances.assign(facts.balances.begin(), facts.balances.end());
  std::stable_sort(indexes.balances.begin(), indexes.balances.end(),
                   [](const BalanceFact& a, const BalanceFact& b) {
                     return a.account_id < b.account_id;  // stable: time order within one
                   });
  indexes.ids.reserve(facts.transfers.size() + facts.failures.size());
  indexes.accounts_unsorted.clear();
  indexes.accounts_unsorted.reserve(2 * facts.transfers.size());
  for (uint64_t i = 0; i < facts.transfers.size(); ++i) {
    const Transfer& transfer = facts.transfers[i];
    indexes.ids.push_back({transfer.id, i});
    indexes.accounts_unsorted.push_back({transfer.debit_account_id, transfer.timestamp_ns, i});
    indexes.accounts_unsorted.push_back({transfer.credit_account_id, transfer.timestamp_ns, i});
    if ((transfer.flags & (transfer_flags::kPostPending | transfer_flags::kVoidPending)) != 0) {
      indexes.resolutions.push_back({transfer.pending_id, i});
    }
    if (!transfer.reverses_id.IsZero()) indexes.reversals.push_back({transfer.reverses_id, i});
  }
  for (uint64_t j = 0; j < facts.failures.size(); ++j) {
    indexes.ids.push_back({facts.failures[j].event.id, kInFailures | j});
  }
  for (uint64_t k = 0; k < facts.expiries.size(); ++k) {
    indexes.resolutions.push_back({facts.expiries[k].id, kIsExpiry | k});
  }
  std::sort(indexes.ids.begin(), indexes.ids.end(),
            [](const IdEntry& a, const IdEntry& b) { return a.id < b.id; });
  GroupByAccount(indexes);
  std::stable_sort(indexes.resolutions.begin(), indexes.resolutions.end(),
                   [](const ResolutionEntry& a, const ResolutionEntry& b) {
                     return a.pending_id < b.pending_id;
                   });
  std::stable_sort(indexes.reversals.begin(), indexes.reversals.end(),
                   [](const ReversalEntry& a, const ReversalEntry& b) {
                     return a.reverses_id < b.reverses_id;  // stable: booking order within one
                   });
}

// The key of every kAccountFenceStride-th entry of the sorted account section.
void FenceAccounts(RunScratch& indexes) {
  indexes.account_fences.clear();
  for (uint64_t i = 0; i < indexes.accounts.size(); i += kAccountFenceStride) {
    indexes.account_fences.push_back(
        {indexes.accounts[i].account_id, indexes.accounts[i].timestamp_ns});
  }
}

absl::Status CheckOrder(const RunFacts& facts) {
  uint64_t previous_ns = 0;
  for (const Transfer& transfer : facts.transfers) {
    if (transfer.timestamp_ns < facts.begin_ns || transfer.timestamp_ns >= facts.end_ns ||
        transfer.timestamp_ns <= previous_ns) {
      return absl::InvalidArgumentError(
          absl::StrCat("cold run: transfer booked at ", transfer.timestamp_ns,
                       " out of order or outside [", facts.begin_ns, ", ", facts.end_ns, ")"));
    }
    previous_ns = transfer.timestamp_ns;
  }
  return absl::OkStatus();
}

uint64_t TimestampMin(const RunFacts& facts) {
  uint64_t min_ns = facts.begin_ns;
  for (const FailureRecord& failure : facts.failures) {
    min_ns = std::min(min_ns, failure.event.timestamp_ns);
  }
  return min_ns;
}

}  // namespace

absl::Status WriteRun(wal::Storage& storage, const std::string& directory, uint64_t sequence,
                      const RunFacts& facts, RunScratch& indexes) {
  LEDGER_RETURN_IF_ERROR(CheckOrder(facts));
  BuildIndexes(facts, indexes);
  const std::span<const std::byte> contents[kRunSectionCount - 1] = {
      std::as_bytes(facts.transfers), std::as_bytes(facts.failures), std::as_bytes(facts.expiries),
      BytesOf(indexes.balances),      BytesOf(indexes.ids),          BytesOf(indexes.accounts),
      BytesOf(indexes.resolutions),   BytesOf(indexes.reversals)};

  RunHeader header{};
  header.magic = kRunMagic;
  header.format_version = kRunFormatVersion;
  header.section_count = kRunSectionCount;
  header.sequence = sequence;
  header.begin_ns = facts.begin_ns;
  header.end_ns = facts.end_ns;
  header.timestamp_min_ns = TimestampMin(facts);
  header.chunk_bytes = kChunkBytes;
  std::vector<Hash128> checksums;
  uint64_t offset = kRunHeaderBytes;
  for (size_t s = 0; s + 1 < kRunSectionCount; ++s) {
    header.sections[s] = {offset, contents[s].size(), kRecordSizes[s], 0, checksums.size()};
    for (uint64_t chunk = 0; chunk < ChunkCount(contents[s].size(), kChunkBytes); ++chunk) {
      checksums.push_back(base::HashBytes128(contents[s].subspan(
          chunk * kChunkBytes, std::min(kChunkBytes, contents[s].size() - chunk * kChunkBytes))));
    }
    offset = AlignUp(offset + contents[s].size());
  }
  const std::span<const std::byte> checksum_bytes = BytesOf(checksums);
  header.sections[kRunSectionCount - 1] = {offset, checksum_bytes.size(), sizeof(Hash128), 0, 0};
  header.checksums_checksum = base::HashBytes128(checksum_bytes);
  offset = AlignUp(offset + checksum_bytes.size());
  FenceAccounts(indexes);
  const std::span<const std::byte> fence_bytes = BytesOf(indexes.account_fences);
  header.account_fences = {offset, fence_bytes.size(), sizeof(AccountFence), 0, 0};
  header.account_fences_checksum = base::HashBytes128(fence_bytes);
  header.file_size_bytes = AlignUp(offset + fence_bytes.size());  // whole blocks: O_DIRECT
  header.checksum =
      base::HashBytes128(std::as_bytes(std::span(&header, 1)).first(offsetof(RunHeader, checksum)));

  const std::string path = absl::StrCat(directory, "/", RunFileName(sequence));
  const std::string temporary_path = absl::StrCat(path, kTemporarySuffix);
  storage.Remove(temporary_path).IgnoreError();           // a leftover of a crash
  wal::TemporaryFile temporary(storage, temporary_path);  // gone if the disk is full
  wal::OpenOptions options;
  options.writable = true;
  options.create_new = true;
  options.direct = true;
  LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<wal::File> file, storage.Open(temporary_path, options));
  // Reserved whole first: a full disk shows here, not half-way.
  LEDGER_RETURN_IF_ERROR(file->Allocate(header.file_size_bytes));
  // Around the page cache (direct), in whole blocks: copying ~200 bytes a transfer into fresh
  // cache pages cost a sixth of the server's CPU.
  wal::BlockWriter writer(*file, wal::BlockWriter::kBesideTheLogBytes);
  LEDGER_RETURN_IF_ERROR(writer.Put(0, std::as_bytes(std::span(&header, 1))));
  for (size_t s = 0; s + 1 < kRunSectionCount; ++s) {
    LEDGER_RETURN_IF_ERROR(writer.Put(header.sections[s].offset, contents[s]));
  }
  LEDGER_RETURN_IF_ERROR(writer.Put(header.sections[kRunSectionCount - 1].offset, checksum_bytes));
  LEDGER_RETURN_IF_ERROR(writer.Put(header.account_fences.offset, fence_bytes));
  LEDGER_RETURN_IF_ERROR(writer.Finish());
  LEDGER_RETURN_IF_ERROR(file->Sync());
  file.reset();
  LEDGER_RETURN_IF_ERROR(storage.Rename(temporary_path, path));
  temporary.Keep();
  return storage.SyncDirectory(directory);
}

namespace {

absl::Status Corrupt(const std::string& path, std::string_view what) {
  return absl::DataLossError(absl::StrCat("cold run ", path, ": ", std::string(what)));
}

absl::Status CheckHeader(const RunHeader& header, const std::string& path, uint64_t size_bytes) {
  if (header.magic != kRunMagic) return Corrupt(path, "not a cold run (magic)");
  const Hash128 checksum =
      base::HashBytes128(std::as_bytes(std::span(&header, 1)).first(offsetof(RunHeader, checksum)));
  if (checksum != header.checksum) return Corrupt(path, "header checksum mismatch");
  if (header.format_version < 1 || header.format_version > kRunFormatVersion) {
    return Corrupt(path, absl::StrCat("format version ", header.format_version,
                                      ", this build reads 1 to ", kRunFormatVersion));
  }
  const uint64_t chunk_bytes = ChunkBytesOf(header);
  if (!std::has_single_bit(chunk_bytes) || chunk_bytes < kRunAlignBytes ||
      chunk_bytes > kChunkBytesVersion1) {
    return Corrupt(path, absl::StrCat("chunk size ", chunk_bytes, " out of range"));
  }
  if (header.section_count != kRunSectionCount || header.file_size_bytes != size_bytes ||
      header.begin_ns > header.end_ns) {
    return Corrupt(path, absl::StrCat("header does not fit the file (", size_bytes, " bytes)"));
  }
  uint64_t chunk_count = 0;
  for (size_t s = 0; s < kRunSectionCount; ++s) {
    const SectionExtent& extent = header.sections[s];
    if (extent.offset % kRunAlignBytes != 0 || extent.offset < kRunHeaderBytes ||
        extent.offset > size_bytes || extent.size_bytes > size_bytes - extent.offset ||
        extent.record_size_bytes != kRecordSizes[s] || extent.size_bytes % kRecordSizes[s] != 0 ||
        (s + 1 < kRunSectionCount && extent.first_chunk != chunk_count)) {
      return Corrupt(path, absl::StrCat("section ", s, " does not fit the file"));
    }
    if (s + 1 < kRunSectionCount) chunk_count += ChunkCount(extent.size_bytes, chunk_bytes);
  }
  const SectionExtent& checksums = header.sections[kRunSectionCount - 1];
  if (checksums.size_bytes != chunk_count * sizeof(Hash128)) {
    return Corrupt(path, "checksums section has the wrong size");
  }
  if (header.format_version < 3) return absl::OkStatus();
  const SectionExtent& fences = header.account_fences;
  const uint64_t accounts =
      header.sections[static_cast<size_t>(RunSection::kAccounts)].size_bytes / sizeof(AccountEntry);
  if (fences.offset % kRunAlignBytes != 0 ||
      fences.offset < checksums.offset + checksums.size_bytes || fences.offset > size_bytes ||
      fences.size_bytes > size_bytes - fences.offset ||
      fences.record_size_bytes != sizeof(AccountFence) ||
      fences.size_bytes !=
          (accounts + kAccountFenceStride - 1) / kAccountFenceStride * sizeof(AccountFence)) {
    return Corrupt(path, "account fences do not fit the file");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Run>> Run::Open(wal::Storage& storage, const std::string& path) {
  LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<wal::File> file, storage.Open(path, {}));
  LEDGER_ASSIGN_OR_RETURN(const uint64_t size_bytes, file->Size());
  if (size_bytes < kRunHeaderBytes) return Corrupt(path, "shorter than its header");
  std::unique_ptr<Run> run(new Run());
  run->path_ = path;
  run->file_ = std::move(file);
  wal::File* const file_ptr = run->file_.get();
  LEDGER_RETURN_IF_ERROR(file_ptr->Read(0, std::as_writable_bytes(std::span(&run->header_, 1))));
  LEDGER_RETURN_IF_ERROR(CheckHeader(run->header_, path, size_bytes));
  run->chunk_bytes_ = ChunkBytesOf(run->header_);
  LEDGER_ASSIGN_OR_RETURN(run->bytes_, file_ptr->MapReadOnly(size_bytes, wal::MapAccess::kRandom));
  const SectionExtent& checksums = run->header_.sections[kRunSectionCount - 1];
  {
    // Read, not hashed through the mapping: the mapping is advised random, so that took one
    // read of 4 KiB a page (two seconds to open 128 runs of 1M transfers with a cold page
    // cache). The read leaves the pages cached for the mapping's lookups.
    std::vector<std::byte> read(checksums.size_bytes);
    LEDGER_RETURN_IF_ERROR(file_ptr->Read(checksums.offset, read));
    if (base::HashBytes128(read) != run->header_.checksums_checksum) {
      return Corrupt(path, "checksums section checksum mismatch");
    }
  }
  if (run->header_.format_version >= 3) {
    const SectionExtent& fences = run->header_.account_fences;
    run->account_fences_.resize(fences.size_bytes / sizeof(AccountFence));
    const std::span<std::byte> read = std::as_writable_bytes(std::span(run->account_fences_));
    LEDGER_RETURN_IF_ERROR(file_ptr->Read(fences.offset, read));
    if (base::HashBytes128(read) != run->header_.account_fences_checksum) {
      return Corrupt(path, "account fences checksum mismatch");
    }
  }
  const std::span<const std::byte> checksum_bytes(run->bytes_.get() + checksums.offset,
                                                  checksums.size_bytes);
  run->checksums_ = {reinterpret_cast<const Hash128*>(checksum_bytes.data()),
                     checksum_bytes.size() / sizeof(Hash128)};
  const uint64_t words = (run->checksums_.size() + 63) / 64;
  run->checked_ = std::make_unique<std::atomic<uint64_t>[]>(words);
  for (uint64_t w = 0; w < words; ++w) run->checked_[w].store(0, std::memory_order_relaxed);
  return run;
}

absl::Status Run::CheckChunk(const SectionExtent& extent, uint64_t chunk_in_section) const {
  const uint64_t chunk = extent.first_chunk + chunk_in_section;
  const uint64_t bit = uint64_t{1} << (chunk % 64);
  if ((checked_[chunk / 64].load(std::memory_order_acquire) & bit) != 0) return absl::OkStatus();
  const uint64_t begin = chunk_in_section * chunk_bytes_;
  const std::span<const std::byte> bytes(bytes_.get() + extent.offset + begin,
                                         std::min(chunk_bytes_, extent.size_bytes - begin));
  if (base::HashBytes128(bytes) != checksums_[chunk]) {
    return Corrupt(path_,
                   absl::StrCat("chunk ", chunk, " (bytes ", extent.offset + begin, " to ",
                                extent.offset + begin + bytes.size(), ") checksum mismatch"));
  }
  checked_[chunk / 64].fetch_or(bit, std::memory_order_acq_rel);
  return absl::OkStatus();
}

void Run::CheckRange(const SectionExtent& extent, uint64_t offset, uint64_t size_bytes) const {
  LEDGER_REQUIRE(offset + size_bytes <= extent.size_bytes, offset, size_bytes, extent.size_bytes);
  for (uint64_t chunk = offset / chunk_bytes_; chunk <= (offset + size_bytes - 1) / chunk_bytes_;
       ++chunk) {
    const absl::Status status = CheckChunk(extent, chunk);
    if (LEDGER_UNLIKELY(!status.ok())) {
      base::AssertFail(__FILE__, __LINE__, "cold store read", "chunk checksum",
                       std::string(status.message()));
    }
  }
}

absl::Status Run::ForEachIds(const std::function<void(std::span<const IdEntry>)>& visit) const {
  const SectionExtent& extent = header_.sections[static_cast<size_t>(RunSection::kIds)];
  // Read a piece of whole chunks at a time, each chunk checked.
  const uint64_t piece_bytes = std::max(chunk_bytes_, kChunkBytesVersion1);
  std::vector<std::byte> piece(piece_bytes);
  alignas(IdEntry) std::byte carry[sizeof(IdEntry)];
  size_t carry_bytes = 0;
  std::vector<IdEntry> entries;
  entries.reserve(piece_bytes / sizeof(IdEntry) + 1);
  for (uint64_t begin = 0; begin < extent.size_bytes; begin += piece_bytes) {
    const std::span<std::byte> bytes =
        std::span(piece).first(std::min(piece_bytes, extent.size_bytes - begin));
    LEDGER_RETURN_IF_ERROR(file_->Read(extent.offset + begin, bytes));
    for (uint64_t at = 0; at < bytes.size(); at += chunk_bytes_) {
      const uint64_t index = extent.first_chunk + (begin + at) / chunk_bytes_;
      const std::span<const std::byte> chunk =
          std::span(bytes).subspan(at, std::min(chunk_bytes_, bytes.size() - at));
      if (base::HashBytes128(chunk) != checksums_[index]) {
        return Corrupt(
            path_, absl::StrCat("chunk ", index, " (bytes ", extent.offset + begin + at, " to ",
                                extent.offset + begin + at + chunk.size(), ") checksum mismatch"));
      }
    }
    // An entry may straddle two chunks: its first part waits in `carry` for the rest.
    entries.clear();
    std::span<const std::byte> rest = bytes;
    if (carry_bytes > 0) {
      const size_t take = sizeof(IdEntry) - carry_bytes;
      std::memcpy(carry + carry_bytes, rest.data(), std::min(take, rest.size()));
      if (rest.size() < take) {
        carry_bytes += rest.size();
        continue;
      }
      entries.push_back(*reinterpret_cast<const IdEntry*>(carry));
      rest = rest.subspan(take);
      carry_bytes = 0;
    }
    const size_t whole = rest.size() / sizeof(IdEntry);
    const size_t had = entries.size();
    entries.resize(had + whole);
    std::memcpy(entries.data() + had, rest.data(), whole * sizeof(IdEntry));
    rest = rest.subspan(whole * sizeof(IdEntry));
    visit(entries);
    std::memcpy(carry, rest.data(), rest.size());
    carry_bytes = rest.size();
  }
  return absl::OkStatus();
}

absl::Status Run::Verify() const {
  for (size_t s = 0; s + 1 < kRunSectionCount; ++s) {
    const SectionExtent& extent = header_.sections[s];
    for (uint64_t chunk = 0; chunk < ChunkCount(extent.size_bytes, chunk_bytes_); ++chunk) {
      LEDGER_RETURN_IF_ERROR(CheckChunk(extent, chunk));
    }
  }
  return CheckPositions();
}

absl::Status Run::CheckPositions() const {
  const uint64_t transfers = Count<Transfer>(RunSection::kTransfers);
  const uint64_t failures = Count<FailureRecord>(RunSection::kFailures);
  const uint64_t expiries = Count<ExpiryFact>(RunSection::kExpiries);
  const auto wrong = [this](const char* section, uint64_t index) {
    return Corrupt(path_, absl::StrCat(section, " entry ", index,
                                       " names no record of the run filed under it"));
  };
  for (uint64_t i = 0; i < Count<IdEntry>(RunSection::kIds); ++i) {
    const IdEntry& entry = At<IdEntry>(RunSection::kIds, i);
    const uint64_t position = entry.where & ~kInFailures;
    const bool failure = (entry.where & kInFailures) != 0;
    if (position >= (failure ? failures : transfers) ||
        (failure ? At<FailureRecord>(RunSection::kFailures, position).event.id
                 : At<Transfer>(RunSection::kTransfers, position).id) != entry.id) {
      return wrong("id", i);
    }
  }
  for (uint64_t i = 0; i < Count<AccountEntry>(RunSection::kAccounts); ++i) {
    const AccountEntry& entry = At<AccountEntry>(RunSection::kAccounts, i);
    if (entry.position >= transfers) return wrong("account", i);
    const Transfer& transfer = At<Transfer>(RunSection::kTransfers, entry.position);
    if (transfer.debit_account_id != entry.account_id &&
        transfer.credit_account_id != entry.account_id) {
      return wrong("account", i);
    }
  }
  for (uint64_t f = 0; f < account_fences_.size(); ++f) {
    const AccountEntry& entry = At<AccountEntry>(RunSection::kAccounts, f * kAccountFenceStride);
    if (account_fences_[f].account_id != entry.account_id ||
        account_fences_[f].timestamp_ns != entry.timestamp_ns) {
      return Corrupt(path_, absl::StrCat("account fence ", f, " is not the key of account entry ",
                                         f * kAccountFenceStride));
    }
  }
  for (uint64_t i = 0; i < Count<ResolutionEntry>(RunSection::kResolutions); ++i) {
    const ResolutionEntry& entry = At<ResolutionEntry>(RunSection::kResolutions, i);
    const uint64_t position = entry.where & ~kIsExpiry;
    const bool expiry = (entry.where & kIsExpiry) != 0;
    if (position >= (expiry ? expiries : transfers) ||
        (expiry ? At<ExpiryFact>(RunSection::kExpiries, position).id
                : At<Transfer>(RunSection::kTransfers, position).pending_id) != entry.pending_id) {
      return wrong("resolution", i);
    }
  }
  for (uint64_t i = 0; i < Count<ReversalEntry>(RunSection::kReversals); ++i) {
    const ReversalEntry& entry = At<ReversalEntry>(RunSection::kReversals, i);
    if (entry.position >= transfers ||
        At<Transfer>(RunSection::kTransfers, entry.position).reverses_id != entry.reverses_id) {
      return wrong("reversal", i);
    }
  }
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace ledger::cold
