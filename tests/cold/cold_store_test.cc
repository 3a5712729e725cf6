// The cold store on disk against the in-memory one (tests/engine/memory_cold_store.h, obviously
// right): a windowed engine runs the property tests' random workload over the disk store, an
// all-hot twin runs it too (same results, same state hash after every batch), every export
// goes to both stores, and random questions get the same answers from both, before and after
// the store is opened again. Then the store's own contract: damage named, half-written runs
// removed, the id filter.
#include "cold/cold_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "base/hash.h"
#include "cold/format.h"
#include "cold/internal/filter_file.h"
#include "cold/internal/run.h"
#include "engine/engine.h"
#include "tests/engine/memory_cold_store.h"
#include "tests/engine/property_generator.h"
#include "tests/engine/reference_model.h"
#include "tests/wal/memory_storage.h"
#include "tests/wal/wal_test_util.h"

namespace ledger::cold {
namespace {

using engine::ColdFacts;
using engine::Engine;
using engine::EngineOptions;

using ledger::testing::Batch;
using ledger::testing::Generator;
using ledger::testing::ReferenceModel;
using wal::testing::TemporaryDirectory;

constexpr uint64_t kHotTransfers = 64;
constexpr uint64_t kWindowBatches = 3;

uint64_t SeedForThisTest() {
  std::random_device entropy;
  const char* text = std::getenv("LEDGER_SEED");
  const uint64_t seed =
      text != nullptr ? std::stoull(text) : ((uint64_t{entropy()} << 32) | entropy());
  std::cout << "[   SEED   ] LEDGER_SEED=" << seed << std::endl;
  return seed;
}

std::vector<uint8_t> Apply(Engine& engine, const Batch& batch) {
  std::vector<uint8_t> codes;
  if (batch.type == Batch::Type::kLedgers) {
    std::vector<CreateLedgerResult> results(batch.ledgers.size());
    engine.CreateLedgers(batch.ledgers, batch.timestamp_ns, results);
    for (auto r : results) codes.push_back(static_cast<uint8_t>(r));
  } else if (batch.type == Batch::Type::kAccounts) {
    std::vector<CreateAccountResult> results(batch.accounts.size());
    engine.CreateAccounts(batch.accounts, batch.timestamp_ns, results);
    for (auto r : results) codes.push_back(static_cast<uint8_t>(r));
  } else {
    std::vector<CreateTransferResult> results(batch.transfers.size());
    engine.CreateTransfers(batch.transfers, batch.timestamp_ns, results);
    for (auto r : results) codes.push_back(static_cast<uint8_t>(r));
  }
  return codes;
}

void ApplyToModel(ReferenceModel& model, const Batch& batch) {
  if (batch.type == Batch::Type::kLedgers) {
    model.CreateLedgers(batch.ledgers, batch.timestamp_ns);
  } else if (batch.type == Batch::Type::kAccounts) {
    model.CreateAccounts(batch.accounts, batch.timestamp_ns);
  } else {
    model.CreateTransfers(batch.transfers, batch.timestamp_ns);
  }
}

bool SameTransfers(std::span<const Transfer> a, std::span<const Transfer> b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(Transfer)) == 0);
}

class DiskAgainstMemory {
 public:
  explicit DiskAgainstMemory(uint64_t seed) : rng_(seed), generator_(seed, Mix(), model_) {
    Reopen();
    EngineOptions options;
    options.accounts_capacity = 16;
    options.transfers_capacity = 16;
    twin_ = std::make_unique<Engine>(options);
    options_ = options;
    options_.hot_transfers = kHotTransfers;
    options_.cold = disk_.get();
    engine_ = std::make_unique<Engine>(options_);
  }

  static ledger::testing::Mix Mix() {
    ledger::testing::Mix mix = ledger::testing::ReservationHeavyWorkload();
    mix.import_batch_percent = 8;
    return mix;
  }

  void Run(uint64_t batch_count) {
    std::vector<Batch> batches = generator_.Setup();
    for (uint64_t index = 0; index < batch_count; ++index) {
      const Batch batch =
          index < batches.size() ? batches[index] : generator_.Next(engine_->last_timestamp_ns());
      Remember(batch);
      const std::vector<uint8_t> codes = Apply(*engine_, batch);
      ASSERT_EQ(codes, Apply(*twin_, batch)) << "at batch " << index;
      ApplyToModel(model_, batch);
      batch_ends_ns_.push_back(engine_->last_timestamp_ns() + 1);
      ASSERT_EQ(engine_->ComputeStateHash(), twin_->ComputeStateHash()) << "at batch " << index;
      Cool();
      if (std::uniform_int_distribution<int>(0, 3)(rng_) == 0) {
        ASSERT_NO_FATAL_FAILURE(CompareAnswers()) << "at batch " << index;
      }
      if (std::uniform_int_distribution<int>(0, 49)(rng_) == 0) {
        ASSERT_NO_FATAL_FAILURE(Restart());
      }
    }
    std::cout << "[   COLD   ] " << disk_->transfer_count() << " transfers in "
              << disk_->run_count() << " runs, " << restarts_ << " restarts\n";
    EXPECT_GT(disk_->transfer_count(), 100u);
    EXPECT_EQ(disk_->transfer_count(), memory_.transfer_count());
  }

 private:
  void Remember(const Batch& batch) {
    for (const Transfer& t : batch.transfers) {
      for (const TransferId& id : {t.id, t.pending_id, t.reverses_id}) {
        if (!id.IsZero()) ids_.insert(id);
      }
      accounts_.insert(t.debit_account_id);
      accounts_.insert(t.credit_account_id);
    }
  }

  void Cool() {
    if (batch_ends_ns_.size() <= kWindowBatches) return;
    const uint64_t boundary_ns = batch_ends_ns_.front();
    batch_ends_ns_.erase(batch_ends_ns_.begin());
    ColdFacts facts;
    engine_->ExportCold(std::max(boundary_ns, engine_->exported_before_ns()), facts);
    memory_.Add(facts);
    const absl::Status appended = disk_->Append(facts);
    ASSERT_TRUE(appended.ok()) << appended;
    engine_->EvictBefore(boundary_ns);
  }

  // The engine from a snapshot, over the store opened again.
  void Restart() {
    std::unique_ptr<engine::EngineSnapshot> image = engine_->CaptureSnapshot();
    const std::vector<engine::SnapshotSection> sections(image->sections().begin(),
                                                        image->sections().end());
    Reopen();
    options_.cold = disk_.get();
    absl::StatusOr<std::unique_ptr<Engine>> restored = Engine::Restore(options_, sections);
    ASSERT_TRUE(restored.ok()) << restored.status();
    ASSERT_EQ((*restored)->ComputeStateHash(), twin_->ComputeStateHash());
    image.reset();
    engine_ = std::move(*restored);
    ++restarts_;
  }

  void Reopen() {
    disk_.reset();
    absl::StatusOr<std::unique_ptr<ColdStore>> opened =
        ColdStore::Open(directory_.Sub("cold"), wal::Storage::Posix());
    ASSERT_TRUE(opened.ok()) << opened.status();
    disk_ = std::move(*opened);
  }

  template <typename T>
  const T& Pick(const std::set<T>& values) {
    auto it = values.begin();
    std::advance(it, std::uniform_int_distribution<size_t>(0, values.size() - 1)(rng_));
    return *it;
  }
  uint64_t Uniform(uint64_t low, uint64_t high) {
    return std::uniform_int_distribution<uint64_t>(low, high)(rng_);
  }

  void CompareAnswers() {
    const uint64_t end_ns = disk_->end_ns();
    if (ids_.empty() || end_ns == 0) return;
    for (int q = 0; q < 20; ++q) {
      const TransferId id =
          Uniform(0, 9) == 0 ? TransferId::From(Uniform(1, 1u << 30)) : Pick(ids_);
      const uint64_t before_ns = Uniform(0, 3) == 0 ? Uniform(0, end_ns) : end_ns;
      const auto disk_found = disk_->FindTransfer(id, before_ns);
      const auto memory_found = memory_.FindTransfer(id, before_ns);
      ASSERT_EQ(disk_found.has_value(), memory_found.has_value());
      if (disk_found) {
        ASSERT_TRUE(SameTransfers({&disk_found->record, 1}, {&memory_found->record, 1}));
        ASSERT_EQ(disk_found->failure, memory_found->failure);
      }
      const engine::ColdResolution a = disk_->FindResolution(id, before_ns);
      const engine::ColdResolution b = memory_.FindResolution(id, before_ns);
      ASSERT_EQ(a.status, b.status);
      ASSERT_EQ(a.expired_at_ns, b.expired_at_ns);
      ASSERT_TRUE(SameTransfers({&a.resolver, 1}, {&b.resolver, 1}));
      TransferId disk_ids[4], memory_ids[4];
      const engine::ColdReversals ra = disk_->FindReversals(id, before_ns, disk_ids);
      const engine::ColdReversals rb = memory_.FindReversals(id, before_ns, memory_ids);
      ASSERT_EQ(ra.count, rb.count);
      ASSERT_EQ(ra.reversed, rb.reversed);
      for (uint64_t k = 0; k < std::min<uint64_t>(ra.count, 4); ++k) {
        ASSERT_EQ(disk_ids[k], memory_ids[k]);
      }
    }
    for (int q = 0; q < 10; ++q) ASSERT_NO_FATAL_FAILURE(CompareListings(end_ns));
  }

  void CompareListings(uint64_t end_ns) {
    AccountFilter filter;
    filter.account_id = Pick(accounts_);
    filter.timestamp_min_ns = Uniform(0, 1) == 0 ? 0 : Uniform(0, end_ns);
    filter.timestamp_max_ns =
        Uniform(0, 1) == 0 ? end_ns - 1 : Uniform(filter.timestamp_min_ns, end_ns);
    filter.flags = static_cast<uint32_t>(Uniform(1, 7));
    filter.code = static_cast<uint16_t>(Uniform(0, 2) == 0 ? Uniform(1, 3) : 0);
    filter.limit = static_cast<uint32_t>(Uniform(0, 20));
    std::vector<Transfer> a(16), b(16);
    a.resize(disk_->GetAccountTransfers(filter, a));
    b.resize(memory_.GetAccountTransfers(filter, b));
    ASSERT_TRUE(SameTransfers(a, b)) << a.size() << " against " << b.size();
    std::vector<AccountBalance> ba(16), bb(16);
    ba.resize(disk_->GetAccountBalances(filter, ba));
    bb.resize(memory_.GetAccountBalances(filter, bb));
    ASSERT_EQ(ba.size(), bb.size());
    if (!ba.empty()) {
      ASSERT_EQ(std::memcmp(ba.data(), bb.data(), ba.size() * sizeof(AccountBalance)), 0);
    }
    QueryFilter query;
    query.timestamp_min_ns = filter.timestamp_min_ns;
    query.timestamp_max_ns = filter.timestamp_max_ns;
    query.reversed = Uniform(0, 1) == 0;
    query.code = filter.code;
    query.ledger = static_cast<uint32_t>(Uniform(0, 1) == 0 ? Uniform(1, 3) : 0);
    query.limit = filter.limit;
    a.assign(16, Transfer{});
    b.assign(16, Transfer{});
    a.resize(disk_->QueryTransfers(query, a));
    b.resize(memory_.QueryTransfers(query, b));
    ASSERT_TRUE(SameTransfers(a, b));
  }

  TemporaryDirectory directory_;
  std::mt19937_64 rng_;
  ReferenceModel model_;  // only steers the generator
  Generator generator_;
  engine::testing::MemoryColdStore memory_;
  std::unique_ptr<ColdStore> disk_;
  EngineOptions options_;
  std::unique_ptr<Engine> engine_;  // reads disk_
  std::unique_ptr<Engine> twin_;    // all hot
  std::vector<uint64_t> batch_ends_ns_;
  std::set<TransferId> ids_;
  std::set<AccountId> accounts_;
  uint64_t restarts_ = 0;
};

TEST(ColdStore, AnswersAsTheMemoryStoreUnderARandomWorkloadAcrossRestarts) {
  DiskAgainstMemory test(SeedForThisTest());
  test.Run(600);
}

// ---------------------------------------------------------------------------------------------
// The store's own contract.

Transfer Plain(uint64_t id, uint64_t timestamp_ns) {
  Transfer transfer{};
  transfer.id = TransferId::From(id);
  transfer.debit_account_id = AccountId::From(1);
  transfer.credit_account_id = AccountId::From(2);
  transfer.amount = Amount::From(id);
  transfer.ledger = 1;
  transfer.code = 1;
  transfer.timestamp_ns = timestamp_ns;
  return transfer;
}

// Facts [begin_ns, end_ns) with one transfer per ns from first_id on.
ColdFacts Facts(uint64_t begin_ns, uint64_t end_ns, uint64_t first_id) {
  ColdFacts facts;
  facts.begin_ns = begin_ns;
  facts.end_ns = end_ns;
  for (uint64_t t = begin_ns; t < end_ns; ++t) facts.transfers.push_back(Plain(first_id++, t));
  return facts;
}

std::unique_ptr<ColdStore> OpenOrDie(const std::string& directory) {
  absl::StatusOr<std::unique_ptr<ColdStore>> store =
      ColdStore::Open(directory, wal::Storage::Posix());
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

void FlipByte(const std::string& path, uint64_t offset) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(static_cast<std::streamoff>(offset));
  char byte = 0;
  file.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x20);
  file.seekp(static_cast<std::streamoff>(offset));
  file.write(&byte, 1);
}

// Three runs of 100,000 transfers at 1..300,000 ns, ids 1..300,000.
class StoreFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::unique_ptr<ColdStore> store = OpenOrDie(directory());
    for (uint64_t r = 0; r < 3; ++r) {
      ASSERT_TRUE(
          store->Append(Facts(1 + r * kPerRun, 1 + (r + 1) * kPerRun, 1 + r * kPerRun)).ok());
    }
  }
  std::string directory() const { return temporary_.Sub("cold"); }
  std::string RunPath(uint64_t sequence) const { return directory() + "/" + RunFileName(sequence); }

  static constexpr uint64_t kPerRun = 100'000;
  // Each run's fences: its ids' (16 bytes per 256) and its two account entries a transfer's
  // (24 bytes per 512).
  static constexpr uint64_t kFenceBytes =
      3 * ((kPerRun + 255) / 256 * sizeof(TransferId) +
           (2 * kPerRun + kAccountFenceStride - 1) / kAccountFenceStride * sizeof(AccountFence));
  TemporaryDirectory temporary_;
};

TEST_F(StoreFiles, EveryIdFoundAfterReopenAndFewNewIdsPassTheFilter) {
  std::unique_ptr<ColdStore> store = OpenOrDie(directory());
  ASSERT_EQ(store->run_count(), 3u);
  ASSERT_EQ(store->end_ns(), 1 + 3 * kPerRun);
  for (uint64_t id = 1; id <= 3 * kPerRun; id += 997) {
    const auto found = store->FindTransfer(TransferId::From(id), store->end_ns());
    ASSERT_TRUE(found.has_value()) << id;
    EXPECT_EQ(found->record.amount, Amount::From(id));
    EXPECT_EQ(found->record.timestamp_ns, id);
    // Not yet booked before a boundary at its own time.
    EXPECT_FALSE(store->FindTransfer(TransferId::From(id), id).has_value());
  }
  // Every id, each side of every fence (a lookup searches the fences, then one block).
  for (uint64_t id = 1; id <= 3 * kPerRun; ++id) {
    ASSERT_TRUE(store->FindTransfer(TransferId::From(id), store->end_ns()).has_value()) << id;
  }
  for (uint64_t id = 3 * kPerRun + 1; id <= 3 * kPerRun + 1000; ++id) {
    ASSERT_FALSE(store->FindTransfer(TransferId::From(id), store->end_ns()).has_value()) << id;
  }
  ASSERT_FALSE(store->FindTransfer(TransferId{}, store->end_ns()).has_value());  // below all
  EXPECT_EQ(store->fence_bytes(), kFenceBytes);
  EXPECT_LE(store->filter_bytes(), 2 * 3 * kPerRun);  // at most 2 bytes per cold id
  const absl::Status verified = store->Verify();
  EXPECT_TRUE(verified.ok()) << verified;

  const uint64_t searches_before = store->run_searches();
  constexpr uint64_t kAbsent = 100'000;
  for (uint64_t id = 1; id <= kAbsent; ++id) {
    ASSERT_FALSE(store->FindTransfer(TransferId::From(id << 32), store->end_ns()).has_value());
  }
  // 16 bits per id: about 0.1% of new ids pass the filter and cost a search of the runs.
  EXPECT_LT(store->run_searches() - searches_before, kAbsent / 100);
}

// The filter and fences saved with the runs: an open reads them, and only the id sections of
// runs written since; a damaged file, or one of other runs, is not used, and the ids are read
// from every run instead. Every id is found either way.
TEST_F(StoreFiles, SavedFilterUsedAtOpenAndIgnoredWhenDamagedOrForeign) {
  const auto every_id_found = [](const ColdStore& store, uint64_t last_id) {
    for (uint64_t id = 1; id <= last_id; ++id) {
      ASSERT_TRUE(store.MayHold(TransferId::From(id))) << id;
      ASSERT_TRUE(store.FindTransfer(TransferId::From(id), store.end_ns()).has_value()) << id;
    }
  };
  {
    std::unique_ptr<ColdStore> store = OpenOrDie(directory());
    EXPECT_EQ(store->ids_note(), "ids: saved filter for 3 runs, 0 more runs' id sections read");
    ASSERT_NO_FATAL_FAILURE(every_id_found(*store, 3 * kPerRun));
    EXPECT_EQ(store->fence_bytes(), kFenceBytes);
    // A small run: fewer than an eighth more ids, so the file is not saved again.
    const uint64_t begin = 1 + 3 * kPerRun;
    ASSERT_TRUE(store->Append(Facts(begin, begin + 1000, begin)).ok());
  }
  {
    std::unique_ptr<ColdStore> store = OpenOrDie(directory());
    EXPECT_EQ(store->ids_note(), "ids: saved filter for 3 runs, 1 more runs' id sections read");
    ASSERT_NO_FATAL_FAILURE(every_id_found(*store, 3 * kPerRun + 1000));
  }
  const std::string saved = directory() + "/ids.filter";
  FlipByte(saved, std::filesystem::file_size(saved) - 100);  // in the filter's words
  {
    std::unique_ptr<ColdStore> store = OpenOrDie(directory());
    EXPECT_NE(store->ids_note().find("saved filter not used"), std::string::npos)
        << store->ids_note();
    EXPECT_NE(store->ids_note().find("checksum fails"), std::string::npos) << store->ids_note();
    ASSERT_NO_FATAL_FAILURE(every_id_found(*store, 3 * kPerRun + 1000));
  }
  // Another store's file (its runs' checksums differ from these).
  const std::string other = temporary_.Sub("other");
  {
    std::unique_ptr<ColdStore> store = OpenOrDie(other);
    ASSERT_TRUE(store->Append(Facts(1, 1 + kPerRun, 7 * kPerRun)).ok());
  }
  std::filesystem::copy_file(other + "/ids.filter", saved,
                             std::filesystem::copy_options::overwrite_existing);
  {
    std::unique_ptr<ColdStore> store = OpenOrDie(directory());
    EXPECT_NE(store->ids_note().find("is not the one whose ids it holds"), std::string::npos)
        << store->ids_note();
    ASSERT_NO_FATAL_FAILURE(every_id_found(*store, 3 * kPerRun + 1000));
  }
}

// A saved filter that passes every check of its own but lacks ids (a bug, not rot) is caught
// by Verify (ledger-wal verify), which asks the filter for every id of every run.
TEST_F(StoreFiles, VerifyFindsASavedFilterThatLacksIds) {
  std::vector<std::unique_ptr<internal::Run>> runs;
  std::vector<const internal::Run*> run_pointers;
  for (uint64_t sequence = 1; sequence <= 3; ++sequence) {
    auto run = internal::Run::Open(wal::Storage::Posix(), RunPath(sequence));
    ASSERT_TRUE(run.ok()) << run.status();
    std::vector<TransferId> fences;
    uint64_t index = 0;
    ASSERT_TRUE((*run)
                    ->ForEachIds([&](std::span<const IdEntry> entries) {
                      for (const IdEntry& entry : entries) {
                        if (index++ % internal::Run::kFenceStride == 0) fences.push_back(entry.id);
                      }
                    })
                    .ok());
    (*run)->SetFences(std::move(fences));
    run_pointers.push_back(run->get());
    runs.push_back(std::move(*run));
  }
  const internal::IdFilter empty(3 * kPerRun);
  ASSERT_TRUE(
      internal::SaveIds(wal::Storage::Posix(), directory(), empty, 3 * kPerRun, run_pointers).ok());
  std::unique_ptr<ColdStore> store = OpenOrDie(directory());
  EXPECT_EQ(store->ids_note(), "ids: saved filter for 3 runs, 0 more runs' id sections read");
  const absl::Status verified = store->Verify();
  EXPECT_EQ(verified.code(), absl::StatusCode::kDataLoss) << verified;
  EXPECT_NE(verified.message().find("lacks an id of run 1"), std::string::npos) << verified;
}

// A file's bytes, and its bytes written back.
std::vector<std::byte> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto view = std::as_bytes(std::span(bytes));
  return {view.begin(), view.end()};
}
void WriteBytes(const std::string& path, std::span<const std::byte> bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// Recomputes a run header's checksum and puts it at the start of the run's bytes.
void SealHeader(RunHeader& header, std::vector<std::byte>& bytes) {
  header.checksum =
      base::HashBytes128(std::as_bytes(std::span(&header, 1)).first(offsetof(RunHeader, checksum)));
  std::memcpy(bytes.data(), &header, sizeof(header));
}

// A header as formats 1 and 2 wrote it: no account fences.
void DropAccountFences(RunHeader& header) {
  header.account_fences = {};
  header.account_fences_checksum = {};
}

// A forger's edit (XXH3 is no MAC): an id entry of run 2 names transfer 2^61 - 1, whose offset
// (times 152 bytes) wraps to 152 bytes before the section, and every checksum is recomputed.
// Verify names it; a lookup of it stops the process (it read before the section and indexed
// the chunk bitmap far past its end).
TEST_F(StoreFiles, ForgedPositionNamedByVerifyAndALookupOfItStops) {
  std::vector<std::byte> bytes = ReadBytes(RunPath(2));
  RunHeader header;
  std::memcpy(&header, bytes.data(), sizeof(header));
  const SectionExtent& ids = header.sections[static_cast<size_t>(RunSection::kIds)];
  IdEntry entry;
  std::memcpy(&entry, bytes.data() + ids.offset, sizeof(entry));
  ASSERT_EQ(entry.id, TransferId::From(kPerRun + 1));
  entry.where = (uint64_t{1} << 61) - 1;
  std::memcpy(bytes.data() + ids.offset, &entry, sizeof(entry));
  const SectionExtent& sums = header.sections[kRunSectionCount - 1];
  const uint64_t chunk = ids.first_chunk;  // the entry's chunk: the section's first
  const base::Hash128 sum = base::HashBytes128(
      std::span(bytes).subspan(ids.offset, std::min(kChunkBytes, ids.size_bytes)));
  std::memcpy(bytes.data() + sums.offset + chunk * sizeof(sum), &sum, sizeof(sum));
  header.checksums_checksum =
      base::HashBytes128(std::span(bytes).subspan(sums.offset, sums.size_bytes));
  SealHeader(header, bytes);
  WriteBytes(RunPath(2), bytes);

  std::unique_ptr<ColdStore> store = OpenOrDie(directory());  // the header checks out
  const absl::Status verified = store->Verify();
  EXPECT_TRUE(absl::IsDataLoss(verified)) << verified;
  EXPECT_NE(verified.message().find(RunFileName(2)), std::string::npos) << verified;
  EXPECT_NE(verified.message().find("id entry 0 names no record"), std::string::npos) << verified;
  EXPECT_TRUE(store->FindTransfer(TransferId::From(kPerRun + 2), store->end_ns()).has_value());
  EXPECT_DEATH(store->FindTransfer(TransferId::From(kPerRun + 1), store->end_ns()), "precondition");
}

// A saved filter whose header claims a huge capacity (checksums recomputed) is refused before
// the filter is built: the capacity sized an allocation (2^60 ids: 2^57 bytes) before it was
// compared with the words the file holds.
TEST_F(StoreFiles, SavedFilterClaimingAHugeCapacityIsNotUsed) {
  const std::string path = directory() + "/" + internal::kFilterFileName;
  std::vector<std::byte> bytes = ReadBytes(path);
  internal::FilterFileHeader header;
  std::memcpy(&header, bytes.data(), sizeof(header));
  header.capacity_ids = uint64_t{1} << 60;
  header.checksum = base::HashBytes128(
      std::as_bytes(std::span(&header, 1)).first(offsetof(internal::FilterFileHeader, checksum)));
  std::memcpy(bytes.data(), &header, sizeof(header));
  WriteBytes(path, bytes);
  std::unique_ptr<ColdStore> store = OpenOrDie(directory());
  EXPECT_NE(store->ids_note().find("does not match its capacity"), std::string::npos)
      << store->ids_note();
  for (uint64_t id = 1; id <= 3 * kPerRun; id += 9973) {
    ASSERT_TRUE(store->FindTransfer(TransferId::From(id), store->end_ns()).has_value()) << id;
  }
}

// A damaged id section fails the build of a larger filter: the run being written is written all
// the same (a Write that failed each time would keep the window from moving), the filter in use
// goes on holding every id, and the failure names the damaged run.
TEST_F(StoreFiles, AFilterThatCannotGrowLeavesTheOneInUseAndTheRunsGoOn) {
  RunHeader header{};
  std::memcpy(&header, ReadBytes(RunPath(1)).data(), sizeof(header));
  FlipByte(RunPath(1), header.sections[static_cast<size_t>(RunSection::kIds)].offset + 100);
  std::unique_ptr<ColdStore> store = OpenOrDie(directory());
  ASSERT_EQ(store->ids_note(), "ids: saved filter for 3 runs, 0 more runs' id sections read");
  constexpr uint64_t kRuns = 12;
  uint64_t failures = 0;
  for (uint64_t r = 3; r < kRuns; ++r) {
    absl::StatusOr<WrittenRun> written =
        store->Write(Facts(1 + r * kPerRun, 1 + (r + 1) * kPerRun, 1 + r * kPerRun));
    ASSERT_TRUE(written.ok()) << "run " << r + 1 << ": " << written.status();
    if (!written->filter_growth.ok()) {
      ++failures;
      EXPECT_TRUE(absl::IsDataLoss(written->filter_growth)) << written->filter_growth;
      EXPECT_NE(written->filter_growth.message().find(RunFileName(1)), std::string::npos)
          << written->filter_growth;
      EXPECT_EQ(written->grown_filter, nullptr);
    }
    store->Publish(std::move(*written));
    for (uint64_t id = 1; id <= (r + 1) * kPerRun; id += 7) {
      ASSERT_TRUE(store->MayHold(TransferId::From(id))) << "run " << r + 1 << ", id " << id;
    }
  }
  EXPECT_GE(failures, 1u);
  EXPECT_EQ(store->transfer_count(), kRuns * kPerRun);
  EXPECT_TRUE(store->FindTransfer(TransferId::From(kRuns * kPerRun), store->end_ns()).has_value());
}

TEST_F(StoreFiles, DamagedChunkNamedByVerifyAndAReadOfItStops) {
  FlipByte(RunPath(2), kRunHeaderBytes + 5 * sizeof(Transfer));  // in run 2's first chunk
  std::unique_ptr<ColdStore> store = OpenOrDie(directory());     // headers are intact
  const absl::Status verified = store->Verify();
  EXPECT_TRUE(absl::IsDataLoss(verified)) << verified;
  EXPECT_NE(verified.message().find(RunFileName(2)), std::string::npos) << verified;
  EXPECT_NE(verified.message().find("chunk 0 "), std::string::npos) << verified;
  // Run 1 reads on; run 2's damaged chunk stops the process rather than answer "nothing".
  EXPECT_TRUE(store->FindTransfer(TransferId::From(6), store->end_ns()).has_value());
  EXPECT_DEATH(store->FindTransfer(TransferId::From(kPerRun + 6), store->end_ns()),
               RunFileName(2) + ".*checksum mismatch");
}

// A read-ahead's answers, used while a batch applies, give what searching the runs gives, also
// for ids that went cold after the read-ahead (a run published in between: the filter let them
// through only then), and the runs are not searched again for the ids it answered.
TEST_F(StoreFiles, ReadAheadAnswersAsTheRunsIncludingRunsPublishedSince) {
  std::unique_ptr<ColdStore> store = OpenOrDie(directory());
  std::vector<TransferId> ids;
  for (uint64_t id = 1; id <= 4 * kPerRun + 10; id += 9973) ids.push_back(TransferId::From(id));
  ids.push_back(TransferId::From(4 * kPerRun));  // in the run published after the read-ahead
  ReadAheadAnswers answers;
  store->ReadAhead({.own = ids, .referenced = {}}, answers);
  ASSERT_FALSE(answers.empty());
  ASSERT_TRUE(store->Append(Facts(1 + 3 * kPerRun, 1 + 4 * kPerRun, 1 + 3 * kPerRun)).ok());
  for (const uint64_t before_ns : {uint64_t{1}, 2 * kPerRun, store->end_ns()}) {
    for (const TransferId& id : ids) {
      store->UseAnswers(nullptr);
      const std::optional<engine::ColdTransfer> searched = store->FindTransfer(id, before_ns);
      store->UseAnswers(&answers);
      const uint64_t searches_before = store->run_searches();
      const std::optional<engine::ColdTransfer> answered = store->FindTransfer(id, before_ns);
      if (id.lo <= 3 * kPerRun) {  // cold at the read-ahead: answered, no full search
        EXPECT_EQ(store->run_searches(), searches_before) << id.lo;
      }
      ASSERT_EQ(answered.has_value(), searched.has_value()) << id.lo << " before " << before_ns;
      if (searched) {
        EXPECT_EQ(answered->record.timestamp_ns, searched->record.timestamp_ns);
        EXPECT_EQ(answered->record.amount, searched->record.amount);
      }
      if (id.lo <= 4 * kPerRun && before_ns == store->end_ns()) {
        EXPECT_TRUE(answered.has_value()) << id.lo;
      }
    }
  }
  store->UseAnswers(nullptr);
}

TEST_F(StoreFiles, DamagedHeaderOrChecksumsOrAMissingRunRefusedAtOpenByName) {
  for (const uint64_t offset : {uint64_t{20}, uint64_t{300}}) {  // header fields
    TemporaryDirectory copy;
    std::filesystem::copy(directory(), copy.Sub("cold"));
    FlipByte(copy.Sub("cold") + "/" + RunFileName(3), offset);
    absl::StatusOr<std::unique_ptr<ColdStore>> opened =
        ColdStore::Open(copy.Sub("cold"), wal::Storage::Posix());
    EXPECT_TRUE(absl::IsDataLoss(opened.status())) << opened.status();
    EXPECT_NE(opened.status().message().find(RunFileName(3)), std::string::npos);
  }
  RunHeader header{};
  std::ifstream(RunPath(1), std::ios::binary)
      .read(reinterpret_cast<char*>(&header), sizeof(header));
  const SectionExtent& checksums = header.sections[kRunSectionCount - 1];
  ASSERT_GT(checksums.size_bytes, 8u);
  // The file is whole blocks (written around the page cache); the checksums end before that.
  ASSERT_EQ(std::filesystem::file_size(RunPath(1)) % kRunAlignBytes, 0u);
  const uint64_t checksums_at = checksums.offset + checksums.size_bytes - 8;
  FlipByte(RunPath(1), checksums_at);
  absl::StatusOr<std::unique_ptr<ColdStore>> opened =
      ColdStore::Open(directory(), wal::Storage::Posix());
  EXPECT_TRUE(absl::IsDataLoss(opened.status())) << opened.status();
  EXPECT_NE(opened.status().message().find("checksums section"), std::string::npos);
  FlipByte(RunPath(1), checksums_at);  // mended

  std::filesystem::remove(RunPath(2));
  opened = ColdStore::Open(directory(), wal::Storage::Posix());
  EXPECT_TRUE(absl::IsDataLoss(opened.status())) << opened.status();
  EXPECT_NE(opened.status().message().find("run 2 is missing"), std::string::npos)
      << opened.status();
}

// A run of 20,000 transfers between 37 accounts at random (40,000 account entries: 79 fences,
// so most accounts' entries span several blocks), and every page of every account (and of one
// with none) asked in both orders, with limits and time bounds cutting anywhere, compared with
// the records themselves: as written (format 3, the fences steer the search), with fences
// edited and their checksum recomputed (the entries around the block disagree: the whole
// section is searched, same answers, and Verify names the fence), and rewritten as format 2
// (no fences). A flipped byte of the fences is refused at open by name.
TEST(ColdStorePages, AccountFencesFindEveryPageAsTheRecordsSay) {
  TemporaryDirectory temporary;
  const std::string directory = temporary.Sub("cold");
  const std::string path = directory + "/" + RunFileName(1);
  constexpr uint64_t kTransfers = 20'000;
  constexpr uint64_t kAccounts = 37;
  std::mt19937_64 random(16);
  ColdFacts facts;
  facts.begin_ns = 1;
  facts.end_ns = 1 + kTransfers;
  for (uint64_t t = 0; t < kTransfers; ++t) {
    Transfer transfer = Plain(t + 1, 1 + t);
    const uint64_t debit = random() % kAccounts;
    transfer.debit_account_id = AccountId::From(1 + debit);
    transfer.credit_account_id =
        AccountId::From(1 + (debit + 1 + random() % (kAccounts - 1)) % kAccounts);
    facts.transfers.push_back(transfer);
  }
  ASSERT_TRUE(OpenOrDie(directory)->Append(facts).ok());

  const auto expected = [&facts](const AccountFilter& filter) {
    std::vector<Transfer> page;
    const uint64_t max_ns = filter.timestamp_max_ns == 0 ? UINT64_MAX : filter.timestamp_max_ns;
    for (const Transfer& t : facts.transfers) {
      if ((t.debit_account_id == filter.account_id || t.credit_account_id == filter.account_id) &&
          t.timestamp_ns >= filter.timestamp_min_ns && t.timestamp_ns <= max_ns) {
        page.push_back(t);
      }
    }
    if ((filter.flags & filter_flags::kReversed) != 0) std::reverse(page.begin(), page.end());
    page.resize(std::min<size_t>(page.size(), filter.limit));
    return page;
  };
  const auto every_page_as_the_records_say = [&](const ColdStore& store) {
    std::mt19937_64 bounds(7);
    std::vector<Transfer> out(8190);
    for (uint64_t account = 1; account <= kAccounts + 1; ++account) {
      for (int round = 0; round < 12; ++round) {
        AccountFilter filter;
        filter.account_id = AccountId::From(account);
        filter.timestamp_min_ns = round < 2 ? 0 : bounds() % kTransfers;
        filter.timestamp_max_ns = round == 0 ? 0 : filter.timestamp_min_ns + bounds() % kTransfers;
        filter.limit = std::array<uint32_t, 3>{1, 100, 8190}[round % 3];
        if (round % 2 == 1) filter.flags |= filter_flags::kReversed;
        const std::vector<Transfer> want = expected(filter);
        const size_t count = store.GetAccountTransfers(filter, out);
        ASSERT_EQ(count, want.size()) << account << " round " << round;
        // (An empty page's vector has no data to compare: memcmp must not see its null.)
        ASSERT_TRUE(count == 0 ||
                    std::memcmp(out.data(), want.data(), count * sizeof(Transfer)) == 0)
            << account << " round " << round;
      }
    }
  };
  std::unique_ptr<ColdStore> store = OpenOrDie(directory);
  EXPECT_EQ(store->fence_bytes(), (kTransfers + 255) / 256 * sizeof(TransferId) +
                                      (2 * kTransfers + kAccountFenceStride - 1) /
                                          kAccountFenceStride * sizeof(AccountFence));
  ASSERT_NO_FATAL_FAILURE(every_page_as_the_records_say(*store));
  EXPECT_TRUE(store->Verify().ok());
  store.reset();

  const std::vector<std::byte> written = ReadBytes(path);
  RunHeader header{};
  std::memcpy(&header, written.data(), sizeof(header));
  ASSERT_EQ(header.format_version, 3u);
  ASSERT_EQ(header.account_fences.size_bytes, 79 * sizeof(AccountFence));

  // Edited fences, checksums recomputed: the same answers; Verify names the fence.
  std::vector<std::byte> edited = written;
  for (uint64_t f : {5, 40}) {
    AccountFence fence;
    std::byte* at = edited.data() + header.account_fences.offset + f * sizeof(AccountFence);
    std::memcpy(&fence, at, sizeof(fence));
    fence.timestamp_ns = f == 5 ? 0 : fence.timestamp_ns + 5'000;
    std::memcpy(at, &fence, sizeof(fence));
  }
  RunHeader edited_header = header;
  edited_header.account_fences_checksum = base::HashBytes128(
      std::span(edited).subspan(header.account_fences.offset, header.account_fences.size_bytes));
  SealHeader(edited_header, edited);
  WriteBytes(path, edited);
  store = OpenOrDie(directory);
  ASSERT_NO_FATAL_FAILURE(every_page_as_the_records_say(*store));
  const absl::Status verified = store->Verify();
  EXPECT_TRUE(absl::IsDataLoss(verified)) << verified;
  EXPECT_NE(verified.message().find("account fence 5 is not the key of account entry 2560"),
            std::string::npos)
      << verified;
  store.reset();

  // A flipped byte of the fences: refused at open, by name.
  WriteBytes(path, written);
  FlipByte(path, header.account_fences.offset + 100);
  const absl::StatusOr<std::unique_ptr<ColdStore>> refused =
      ColdStore::Open(directory, wal::Storage::Posix());
  EXPECT_TRUE(absl::IsDataLoss(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find(RunFileName(1) + ": account fences checksum mismatch"),
            std::string::npos)
      << refused.status();

  // Format 2: no fences, the whole section searched.
  std::vector<std::byte> version2 = written;
  RunHeader header2 = header;
  header2.format_version = 2;
  header2.file_size_bytes = header.account_fences.offset;
  DropAccountFences(header2);
  version2.resize(header2.file_size_bytes);
  SealHeader(header2, version2);
  WriteBytes(path, version2);
  store = OpenOrDie(directory);
  EXPECT_EQ(store->fence_bytes(), (kTransfers + 255) / 256 * sizeof(TransferId));
  ASSERT_NO_FATAL_FAILURE(every_page_as_the_records_say(*store));
  EXPECT_TRUE(store->Verify().ok());
}

// Rewrites run `path` as format version 1 wrote it: 64 KiB chunks, the file ending with its
// checksums.
void RewriteAsVersion1(const std::string& path) {
  std::vector<std::byte> bytes = ReadBytes(path);
  RunHeader header{};
  std::memcpy(&header, bytes.data(), sizeof(header));
  std::vector<base::Hash128> checksums;
  for (size_t s = 0; s + 1 < kRunSectionCount; ++s) {
    SectionExtent& extent = header.sections[s];
    extent.first_chunk = checksums.size();
    for (uint64_t at = 0; at < extent.size_bytes; at += kChunkBytesVersion1) {
      checksums.push_back(base::HashBytes128(std::span(bytes).subspan(
          extent.offset + at, std::min(kChunkBytesVersion1, extent.size_bytes - at))));
    }
  }
  SectionExtent& checksum_extent = header.sections[kRunSectionCount - 1];
  const std::span<const std::byte> checksum_bytes = std::as_bytes(std::span(checksums));
  checksum_extent.size_bytes = checksum_bytes.size();
  header.format_version = 1;
  header.chunk_bytes = 0;
  header.checksums_checksum = base::HashBytes128(checksum_bytes);
  header.file_size_bytes = checksum_extent.offset + checksum_bytes.size();
  DropAccountFences(header);
  bytes.resize(header.file_size_bytes);
  std::memcpy(bytes.data() + checksum_extent.offset, checksum_bytes.data(), checksum_bytes.size());
  SealHeader(header, bytes);
  WriteBytes(path, bytes);
}

// Runs written by format version 1 (64 KiB chunks) read and verify as before, beside new ones.
TEST_F(StoreFiles, Version1RunsStillRead) {
  RewriteAsVersion1(RunPath(2));
  std::unique_ptr<ColdStore> store = OpenOrDie(directory());
  ASSERT_NE(store, nullptr);
  for (uint64_t id = 1; id <= 3 * kPerRun; id += 101) {
    const auto found = store->FindTransfer(TransferId::From(id), store->end_ns());
    ASSERT_TRUE(found.has_value()) << id;
    EXPECT_EQ(found->record.amount, Amount::From(id));
  }
  EXPECT_TRUE(store->Verify().ok());
  FlipByte(RunPath(2), kRunHeaderBytes + 40'000);  // in its first 64 KiB chunk of transfers
  store = OpenOrDie(directory());
  const absl::Status verified = store->Verify();
  EXPECT_TRUE(absl::IsDataLoss(verified)) << verified;
  EXPECT_NE(verified.message().find(RunFileName(2) + ": chunk 0 "), std::string::npos) << verified;
}

TEST_F(StoreFiles, HalfWrittenRunRemovedAtOpen) {
  const std::string leftover = RunPath(4) + kTemporarySuffix;
  std::ofstream(leftover) << "a run whose write never finished";
  std::unique_ptr<ColdStore> store = OpenOrDie(directory());
  EXPECT_FALSE(std::filesystem::exists(leftover));
  EXPECT_EQ(store->run_count(), 3u);
  EXPECT_TRUE(store->Append(Facts(store->end_ns(), store->end_ns() + 10, 1'000'000)).ok());
}

TEST_F(StoreFiles, WrittenRunInvisibleUntilPublishedAndFactsHeldAreLeftOut) {
  std::unique_ptr<ColdStore> store = OpenOrDie(directory());
  const uint64_t end_ns = store->end_ns();
  // Overlaps what the store holds by 50 ns: those are left out.
  absl::StatusOr<WrittenRun> written =
      store->Write(Facts(end_ns - 50, end_ns + 50, 3 * kPerRun - 49));
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->transfer_count, 50u);
  EXPECT_FALSE(store->FindTransfer(TransferId::From(3 * kPerRun + 10), end_ns + 100).has_value());
  EXPECT_EQ(store->end_ns(), end_ns);
  EXPECT_TRUE(absl::IsFailedPrecondition(store->Write(Facts(end_ns, end_ns + 1, 1)).status()));
  store->Publish(std::move(*written));
  EXPECT_EQ(store->end_ns(), end_ns + 50);
  EXPECT_EQ(store->transfer_count(), 3 * kPerRun + 50);
  EXPECT_TRUE(store->FindTransfer(TransferId::From(3 * kPerRun + 10), end_ns + 100).has_value());
  // A gap is refused.
  EXPECT_TRUE(
      absl::IsFailedPrecondition(store->Write(Facts(end_ns + 60, end_ns + 70, 1)).status()));
}

// The filter grows on a thread of its own while runs go on being written (on the writer's
// thread its reads held up the runs, and the batches behind them, for 8.5 s at 143M ids):
// after every run every id so far passes the filter in use, whichever that is, and the store
// ends with a filter of at most 2 bytes per id that few new ids pass.
TEST(ColdStoreFilter, GrowsBesideTheWritesAndHoldsEveryIdThroughout) {
  constexpr uint64_t kPerRun = 20'000;
  constexpr uint64_t kRuns = 16;
  wal::testing::MemoryStorage storage;
  ASSERT_TRUE(storage.CreateDirectory("/data").ok());
  absl::StatusOr<std::unique_ptr<ColdStore>> store = ColdStore::Open("/data/cold", storage);
  ASSERT_TRUE(store.ok()) << store.status();
  uint64_t filter_bytes = (*store)->filter_bytes();
  int growths = 0;
  for (uint64_t r = 0; r < kRuns; ++r) {
    ASSERT_TRUE(
        (*store)->Append(Facts(1 + r * kPerRun, 1 + (r + 1) * kPerRun, 1 + r * kPerRun)).ok());
    for (uint64_t id = 1; id <= (r + 1) * kPerRun; ++id) {
      ASSERT_TRUE((*store)->MayHold(TransferId::From(id))) << "run " << r << ", id " << id;
    }
    growths += (*store)->filter_bytes() > filter_bytes ? 1 : 0;
    filter_bytes = (*store)->filter_bytes();
  }
  EXPECT_GE(growths, 3);
  EXPECT_LE(filter_bytes, 2 * kRuns * kPerRun);
  const absl::Status verified = (*store)->Verify();
  EXPECT_TRUE(verified.ok()) << verified;
  uint64_t passed = 0;
  for (uint64_t id = kRuns * kPerRun + 1; id <= kRuns * kPerRun + 100'000; ++id) {
    passed += (*store)->MayHold(TransferId::From(id)) ? 1 : 0;
  }
  EXPECT_LT(passed, 2'000u);  // 2%: the filter in use may be as dense as 8 bits per id
}

// The machine stops at every step of writing a run (each open, allocate, write, sync, rename,
// directory sync): what was durable opens as a whole store, the half-written run is gone or
// removed, and the store takes the same run again afterwards.
TEST(ColdStoreCrash, AStopAtEveryStepOfARunWriteLeavesAStoreThatOpens) {
  constexpr uint64_t kPerRun = 5'000;
  bool finished = false;
  for (int stop_at = 1; !finished; ++stop_at) {
    ASSERT_LT(stop_at, 100) << "a run's write should take fewer steps";
    wal::testing::MemoryStorage storage;
    ASSERT_TRUE(storage.CreateDirectory("/data").ok());
    {
      absl::StatusOr<std::unique_ptr<ColdStore>> store = ColdStore::Open("/data/cold", storage);
      ASSERT_TRUE(store.ok()) << store.status();
      ASSERT_TRUE((*store)->Append(Facts(1, 1 + kPerRun, 1)).ok());
      int steps = 0;
      storage.fault = [&](std::string_view, const std::string&) {
        if (++steps != stop_at) return absl::OkStatus();
        storage.Crash();
        return absl::UnavailableError("the machine stopped");
      };
      finished = (*store)->Append(Facts(1 + kPerRun, 1 + 2 * kPerRun, 1 + kPerRun)).ok();
      storage.fault = nullptr;
    }
    storage.Restart();
    absl::StatusOr<std::unique_ptr<ColdStore>> reopened = ColdStore::Open("/data/cold", storage);
    ASSERT_TRUE(reopened.ok()) << "stopped at step " << stop_at << ": " << reopened.status();
    const uint64_t runs = (*reopened)->run_count();
    ASSERT_TRUE(runs == 1 || runs == 2) << runs;
    EXPECT_FALSE(storage.Exists("/data/cold/" + RunFileName(2) + kTemporarySuffix));
    for (uint64_t id = 1; id <= runs * kPerRun; id += 499) {
      ASSERT_TRUE((*reopened)->FindTransfer(TransferId::From(id), UINT64_MAX).has_value()) << id;
    }
    if (runs == 1) {  // the write is retried whole
      ASSERT_TRUE((*reopened)->Append(Facts(1 + kPerRun, 1 + 2 * kPerRun, 1 + kPerRun)).ok());
    }
    EXPECT_EQ((*reopened)->transfer_count(), 2 * kPerRun);
    EXPECT_TRUE((*reopened)->Verify().ok());
  }
}

// A write that fails at each step of a run in turn (the disk full for a moment, an EIO), the
// process going on: the same run written again succeeds. A failed write used to leave its
// temporary file, on which every later write of the run failed (AlreadyExists) until a restart.
TEST(ColdStoreCrash, AFailureAtEveryStepOfARunWriteLeavesAStoreThatTakesItAgain) {
  constexpr uint64_t kPerRun = 5'000;
  bool finished = false;
  for (int fail_at = 1; !finished; ++fail_at) {
    ASSERT_LT(fail_at, 100) << "a run's write should take fewer steps";
    wal::testing::MemoryStorage storage;
    ASSERT_TRUE(storage.CreateDirectory("/data").ok());
    absl::StatusOr<std::unique_ptr<ColdStore>> store = ColdStore::Open("/data/cold", storage);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Append(Facts(1, 1 + kPerRun, 1)).ok());
    int steps = 0;
    storage.fault = [&](std::string_view, const std::string&) {
      return ++steps == fail_at ? absl::ResourceExhaustedError("no space left on device")
                                : absl::OkStatus();
    };
    finished = (*store)->Append(Facts(1 + kPerRun, 1 + 2 * kPerRun, 1 + kPerRun)).ok();
    storage.fault = nullptr;
    if (!finished) {
      const absl::Status again = (*store)->Append(Facts(1 + kPerRun, 1 + 2 * kPerRun, 1 + kPerRun));
      ASSERT_TRUE(again.ok()) << "failed at step " << fail_at << ": " << again;
    }
    EXPECT_EQ((*store)->transfer_count(), 2 * kPerRun);
    EXPECT_TRUE((*store)->Verify().ok());
  }
}

}  // namespace
}  // namespace ledger::cold
