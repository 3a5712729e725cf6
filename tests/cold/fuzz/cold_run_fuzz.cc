// libFuzzer target for the cold store's reader (cold/cold_store.h): a run file's bytes (and the
// saved id filter's) -> the run's header and checksums section (Run::Open), the ids read into
// the filter, or the saved filter and fences (ColdStore::OpenReadOnly) -> Verify -> the lookups
// and history pages the engine and the server ask of it.
//
// Input: byte 0 is a set of flags (tests/fuzz/fuzz_util.h: kFixChecksums); bytes 1..4 the run
// file's size n (little-endian, cut to what the input holds); then run 1's n bytes; the rest,
// when there is any, is the store's ids.filter.
//
// Verdicts: opening and Verify return a store or an error. The store's reads have no error to
// return: a chunk that fails its checksum stops the process by design (docs/cold-store.md: the
// store never answers "nothing" for what it cannot read), so only a store that Verify passed
// is read; Verify must then have caught everything a read would stop at. Found transfers are
// the ones asked for, pages are within their limits. A crash, a sanitizer report or a broken
// check is a bug.
//
// Seeds: LEDGER_FUZZ_WRITE_SEEDS=DIR cold_run_fuzz writes runs of the seed ledger's facts
// (tests/fuzz/seed_ledger.h) that the store itself wrote, and exits.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/assert.h"
#include "base/hash.h"
#include "cold/cold_store.h"
#include "cold/format.h"
#include "cold/internal/filter_file.h"
#include "engine/cold.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/seed_ledger.h"
#include "tests/wal/memory_storage.h"

namespace ledger::cold {
namespace {

using fuzz::kFixChecksums;

constexpr char kStorePath[] = "/cold";
constexpr size_t kPrefixBytes = 5;  // flags, the run file's size
constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();

std::string RunPath() { return std::string(kStorePath) + "/" + RunFileName(1); }
std::string FilterPath() { return std::string(kStorePath) + "/" + internal::kFilterFileName; }

// Recomputes a run's chunk checksums (where its header places them in the file), the checksums
// section's checksum, the account fences', its size and its header's checksum.
void FixRunChecksums(std::span<std::byte> run) {
  if (run.size() < sizeof(RunHeader)) return;
  RunHeader header;
  std::memcpy(&header, run.data(), sizeof(header));
  const uint64_t chunk_bytes =
      header.format_version == 1 ? kChunkBytesVersion1 : header.chunk_bytes;
  const SectionExtent& sums = header.sections[kRunSectionCount - 1];
  const bool sums_fit = sums.offset <= run.size() && sums.size_bytes <= run.size() - sums.offset;
  if (sums_fit && chunk_bytes >= kRunAlignBytes && chunk_bytes <= kChunkBytesVersion1) {
    for (size_t s = 0; s + 1 < kRunSectionCount; ++s) {
      const SectionExtent& extent = header.sections[s];
      if (extent.offset > run.size() || extent.size_bytes > run.size() - extent.offset) continue;
      for (uint64_t begin = 0, chunk = extent.first_chunk; begin < extent.size_bytes;
           begin += chunk_bytes, ++chunk) {
        if (chunk >= sums.size_bytes / sizeof(Hash128)) break;
        const Hash128 sum = base::HashBytes128(
            run.subspan(extent.offset + begin, std::min(chunk_bytes, extent.size_bytes - begin)));
        std::memcpy(run.data() + sums.offset + chunk * sizeof(Hash128), &sum, sizeof(sum));
      }
    }
    header.checksums_checksum = base::HashBytes128(run.subspan(sums.offset, sums.size_bytes));
  }
  const SectionExtent& fences = header.account_fences;
  if (fences.offset <= run.size() && fences.size_bytes <= run.size() - fences.offset) {
    header.account_fences_checksum =
        base::HashBytes128(run.subspan(fences.offset, fences.size_bytes));
  }
  header.file_size_bytes = run.size();
  header.checksum =
      base::HashBytes128(std::as_bytes(std::span(&header, 1)).first(offsetof(RunHeader, checksum)));
  std::memcpy(run.data(), &header, sizeof(header));
}

// Recomputes the filter file's checksums; the run it names first becomes `run_checksum`.
void FixFilterChecksums(std::span<std::byte> filter, const Hash128& run_checksum) {
  using internal::FilterFileHeader;
  if (filter.size() < sizeof(FilterFileHeader)) return;
  FilterFileHeader header;
  std::memcpy(&header, filter.data(), sizeof(header));
  const std::span<std::byte> body = filter.subspan(sizeof(header));
  if (header.run_count > 0 && body.size() >= sizeof(Hash128)) {
    std::memcpy(body.data(), &run_checksum, sizeof(run_checksum));
  }
  header.body_size_bytes = body.size();
  header.body_checksum = base::HashBytes128(body);
  header.checksum = base::HashBytes128(
      std::as_bytes(std::span(&header, 1)).first(offsetof(FilterFileHeader, checksum)));
  std::memcpy(filter.data(), &header, sizeof(header));
}

template <typename Record>
void CheckPage(std::span<const Record> page, size_t count, uint32_t limit) {
  LEDGER_ASSERT(count <= page.size() && count <= limit, count, limit);
}

// What the engine and the server ask of a store, of the ids and accounts its facts name.
void ReadEverything(const ColdStore& store) {
  engine::ColdFacts facts;
  store.ReadFacts(0, kNever, facts);
  LEDGER_ASSERT(facts.transfers.size() <= store.transfer_count(), facts.transfers.size());
  std::vector<TransferId> ids;
  std::vector<AccountId> accounts;
  for (const Transfer& transfer : facts.transfers) {
    ids.push_back(transfer.id);
    ids.push_back(transfer.pending_id);
    accounts.push_back(transfer.debit_account_id);
  }
  for (const engine::FailureRecord& failure : facts.failures) ids.push_back(failure.event.id);
  for (const engine::ExpiryFact& expiry : facts.expiries) ids.push_back(expiry.id);
  for (const engine::BalanceFact& balance : facts.balances) accounts.push_back(balance.account_id);
  ids.resize(std::min<size_t>(ids.size(), 64));  // bounded work per input
  accounts.resize(std::min<size_t>(accounts.size(), 16));
  for (const TransferId& id : ids) {
    if (const auto found = store.FindTransfer(id, kNever)) {
      LEDGER_ASSERT(found->record.id == id, found->record.id.lo, id.lo);
    }
    (void)store.FindResolution(id, kNever);
    TransferId reversal_ids[4];
    (void)store.FindReversals(id, kNever, reversal_ids);
  }
  constexpr uint32_t kLimit = 8;
  for (const AccountId& account : accounts) {
    for (const uint32_t flags : {filter_flags::kDebits | filter_flags::kCredits,
                                 filter_flags::kCredits | filter_flags::kReversed}) {
      AccountFilter filter;
      filter.account_id = account;
      filter.flags = flags;
      filter.limit = kLimit;
      Transfer transfers[kLimit + 1];
      CheckPage<Transfer>(transfers, store.GetAccountTransfers(filter, transfers), kLimit);
      AccountBalance balances[kLimit + 1];
      CheckPage<AccountBalance>(balances, store.GetAccountBalances(filter, balances), kLimit);
    }
  }
  for (const bool reversed : {false, true}) {
    QueryFilter filter;
    filter.reversed = reversed;
    filter.limit = kLimit;
    Transfer transfers[kLimit + 1];
    CheckPage<Transfer>(transfers, store.QueryTransfers(filter, transfers), kLimit);
  }
}

// One input; true when the store opens and verifies.
bool RunInput(const uint8_t* data, size_t size) {
  if (size < kPrefixBytes) return false;
  const uint8_t flags = data[0];
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  const size_t run_bytes = std::min<size_t>(fuzz::ReadU32(data + 1), size - kPrefixBytes);
  std::vector<std::byte> run(bytes + kPrefixBytes, bytes + kPrefixBytes + run_bytes);
  std::vector<std::byte> filter(bytes + kPrefixBytes + run_bytes, bytes + size);
  if ((flags & kFixChecksums) != 0) {
    FixRunChecksums(run);
    Hash128 run_checksum;
    if (run.size() >= sizeof(RunHeader)) {
      std::memcpy(&run_checksum, run.data() + offsetof(RunHeader, checksum), sizeof(Hash128));
    }
    FixFilterChecksums(filter, run_checksum);
  }
  wal::testing::MemoryStorage storage;
  LEDGER_ASSERT(storage.CreateDirectory(kStorePath).ok());
  fuzz::PutFile(storage, RunPath(), run);
  if (!filter.empty()) fuzz::PutFile(storage, FilterPath(), filter);
  absl::StatusOr<std::unique_ptr<ColdStore>> store = ColdStore::OpenReadOnly(kStorePath, storage);
  if (!store.ok()) return false;
  LEDGER_ASSERT((*store)->run_count() == 1);
  if (!(*store)->Verify().ok()) return false;
  ReadEverything(**store);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Seeds

void WriteInputSeed(const std::string& seeds, const std::string& name, uint8_t flags,
                    std::span<const std::byte> run, std::span<const std::byte> filter) {
  std::vector<std::byte> input = {std::byte{flags}};
  fuzz::AppendU32(input, static_cast<uint32_t>(run.size()));
  input.insert(input.end(), run.begin(), run.end());
  input.insert(input.end(), filter.begin(), filter.end());
  // A seed that does not open and verify would only teach the fuzzer a refusal.
  LEDGER_ASSERT(RunInput(reinterpret_cast<const uint8_t*>(input.data()), input.size()), name);
  fuzz::WriteSeed(seeds, name, input);
}

// A run of the seed ledger's facts booked before the end of batch `batches`, written by the
// store, with its saved filter.
void WriteSeedsAfter(const std::string& seeds, size_t batches) {
  const std::unique_ptr<engine::Engine> engine =
      fuzz::SeedEngine(fuzz::SmallEngineOptions(), batches);
  engine::ColdFacts facts;
  engine->ExportCold(engine->last_timestamp_ns() + 1, facts);
  wal::testing::MemoryStorage storage;
  LEDGER_ASSERT(storage.CreateDirectory(kStorePath).ok());
  absl::StatusOr<std::unique_ptr<ColdStore>> store = ColdStore::Open(kStorePath, storage);
  LEDGER_ASSERT(store.ok(), std::string(store.status().message()));
  LEDGER_ASSERT((*store)->Append(facts).ok());
  const std::vector<std::byte> run = fuzz::GetFile(storage, RunPath());
  const std::vector<std::byte> filter = fuzz::GetFile(storage, FilterPath());
  const std::string suffix = "_batches_" + std::to_string(batches);
  WriteInputSeed(seeds, "run" + suffix, 0, run, {});
  WriteInputSeed(seeds, "run_fix_checksums" + suffix, kFixChecksums, run, {});
  WriteInputSeed(seeds, "run_and_filter" + suffix, 0, run, filter);
  WriteInputSeed(seeds, "run_and_filter_fix_checksums" + suffix, kFixChecksums, run, filter);
}

void WriteSeeds(const std::string& seeds) {
  WriteSeedsAfter(seeds, 4);
  WriteSeedsAfter(seeds, fuzz::SeedBatches().size());
}

}  // namespace
}  // namespace ledger::cold

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* directory = std::getenv("LEDGER_FUZZ_WRITE_SEEDS")) {
    ledger::cold::WriteSeeds(directory);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ledger::cold::RunInput(data, size);
  return 0;
}
