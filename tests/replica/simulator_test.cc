// The whole replica (sequencer, log writer, snapshots, recovery, engine) on a simulated disk
// (tests/wal/memory_storage.h) that crashes at a random I/O operation and tears the writes not
// yet synced (none, all, some sectors, or a prefix cut at any byte), fails syncs and drops the
// unsynced pages (fsyncgate), runs out of space, misdirects writes, fails reads during
// recovery, grows bad sectors on old files while the replica serves, and on some seeds makes
// every operation slow. Half the seeds keep a window of tens of transfers in memory, so most
// go to the cold store on the same disk; a third sign checkpoints beside it; now and then the
// replica shuts down cleanly before the power goes. While it serves, and after each crash once
// it opens again:
// - every acknowledged op is there: recovery never starts with less;
// - the state is exactly the reference engine's after the same batches at the log's
//   timestamps (the log holds what was submitted, nothing else), however much of it is cold;
// - lookups of transfer ids (hot, cold, never booked), through the engine and through old
//   history (ColdHistory), answer exactly as the reference's;
// - a recovery that cannot read its disk refuses (an error), and the next one, without the
//   fault, recovers in full; one over a bad sector recovers in full or refuses with DataLoss
//   naming the file;
// - after a clean shutdown everything logged is there, and every checkpoint line is whole,
//   signed and an op of the log;
// - a batch refused for a fault that is over goes through when retried.
//
// LEDGER_SEED=N replays one seed (its faults; with latency, the threads may interleave
// otherwise); LEDGER_SIM_SECONDS=S runs seeds for S seconds (the long mode); by default kSeeds
// seeds.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "replica/checkpoint.h"
#include "replica/log_schema.h"
#include "replica/replica.h"
#include "tests/wal/memory_storage.h"
#include "tests/wal/wal_test_util.h"
#include "wal/directory.h"
#include "wal/log_reader.h"

namespace ledger::replica {
namespace {

using wal::testing::MemoryStorage;
namespace testing = wal::testing;

constexpr char kPath[] = "data";
constexpr char kCheckpointFile[] = "keys/checkpoints";  // outside the directory, same disk
// ~30 ms of CPU a seed in release (half of them with a cold store, a quarter slowed down). The
// sanitizers, three (ASan) to ten (TSan) times slower, check the memory and the threads of the
// same code on fewer.
#if defined(__SANITIZE_THREAD__)
constexpr uint64_t kSeeds = 30;
#elif defined(__SANITIZE_ADDRESS__)
constexpr uint64_t kSeeds = 60;
#else
constexpr uint64_t kSeeds = 300;
#endif
constexpr int kRounds = 4;            // crashes per seed
constexpr uint64_t kBatchesMax = 24;  // submitted per round at most
// The windows of the seeds that keep one: a batch is up to 40 transfers and a few reaching
// back, so most of what a seed books goes cold, in runs of tens of transfers.
constexpr uint64_t kHotWindows[] = {48, 64, 96, 160};
constexpr uint64_t kLookupsPerCheck = 6;  // ids looked up against the reference per check
constexpr int kRetriesMax = 4;            // of a refused batch, past a fault that is over

// What the faults did, over all seeds.
struct Tally {
  uint64_t seeds = 0;
  uint64_t seeds_whole = 0;               // ran every round (the others ended with a refusal)
  uint64_t cold_seeds = 0;                // with a window of tens of transfers
  uint64_t latency_seeds = 0;             // every disk operation paused a while
  uint64_t checkpoint_seeds = 0;          // signing the log's head every few ops
  std::atomic<uint64_t> crashes{0};       // these six counted on the replica's threads too
  std::atomic<uint64_t> cold_crashes{0};  // at an operation on the cold store's files
  std::atomic<uint64_t> sync_failures{0};
  std::atomic<uint64_t> disk_full{0};
  std::atomic<uint64_t> misdirected{0};
  std::atomic<uint64_t> cold_write_failures{0};  // the cold store's alone, for a moment
  uint64_t retried = 0;                          // batches refused meanwhile, then accepted
  uint64_t refused_after_misdirect = 0;          // recoveries that found the damage and refused
  uint64_t read_errors = 0;
  uint64_t bad_sectors = 0;                // put on old files while the replica served
  uint64_t serving_read_errors = 0;        // reads and maps that met one while serving
  uint64_t recovered_over_bad_sector = 0;  // recoveries in full with one on the disk
  uint64_t refused_after_bad_sector = 0;   // DataLoss naming the file
  uint64_t cold_runs = 0;                  // published, while serving or recovering
  uint64_t lookups = 0;                    // ids checked against the reference
  uint64_t history_lookups = 0;            // of them, answered by old history too
  uint64_t clean_closes = 0;               // clean shutdowns before the power went
  uint64_t checkpoints = 0;                // signed lines checked against the log after a recovery
  std::atomic<uint64_t> torn_checkpoints{0};  // lines a crash cut short, cut at the next open
  uint64_t recoveries = 0;
  uint64_t acknowledged = 0;
  uint64_t lost_unacknowledged = 0;  // ops logged but not acknowledged, gone after a crash
};

// Tables for the few hundred transfers a seed books: an engine's default ones cost more to
// build than the whole seed.
engine::EngineOptions SmallEngine() {
  engine::EngineOptions options;
  options.accounts_capacity = 64;
  options.transfers_capacity = 1024;
  return options;
}

class Simulation {
 public:
  // What a seed is (a window, latency) and its new faults come from a stream of their own.
  explicit Simulation(uint64_t seed)
      : seed_(seed), random_(seed), tear_(seed ^ 0x7ea5), choices_(seed ^ 0xc01d5eed) {
    if (choices_() % 2 == 0) hot_transfers_ = kHotWindows[choices_() % std::size(kHotWindows)];
    if (choices_() % 4 == 0) latency_max_ns_ = 20'000 + choices_() % 80'000;
    if (choices_() % 3 == 0) checkpoint_interval_ops_ = 2 + choices_() % 4;
  }

  void Run(Tally& tally) {
    tally_ = &tally;
    ++tally.seeds;
    tally.cold_seeds += hot_transfers_ > 0;
    tally.latency_seeds += latency_max_ns_ > 0;
    tally.checkpoint_seeds += checkpoint_interval_ops_ > 0;
    ASSERT_TRUE(
        wal::Directory::Init(kPath, {.segment_size_bytes = wal::kSegmentSizeMinBytes}, disk_).ok());
    ASSERT_TRUE(disk_.CreateDirectory("keys").ok());
    disk_.failed_sync_drops_pages = true;
    disk_.SetLatency(latency_max_ns_, seed_);
    for (int round = 0; round < kRounds && !::testing::Test::HasFailure(); ++round) {
      std::unique_ptr<Replica> replica = Recover(tally);
      if (replica == nullptr) return;
      Book(replica, tally);
      replica.reset();  // its writes fail after the crash; it closes all the same
      disk_.fault = nullptr;
      disk_.misdirect = nullptr;
      disk_.Restart();
    }
    if (!::testing::Test::HasFailure() && Recover(tally) != nullptr) ++tally.seeds_whole;
  }

 private:
  // Opens the replica, once perhaps with read errors (it must then refuse, not start short),
  // and checks what it recovered.
  std::unique_ptr<Replica> Recover(Tally& tally) {
    if (random_() % 4 == 0) {
      const uint64_t failing_read = random_() % 40;
      auto reads = std::make_shared<std::atomic<uint64_t>>(0);
      disk_.fault = [reads, failing_read](std::string_view operation, const std::string&) {
        if (operation == "read" && reads->fetch_add(1) == failing_read) {
          return absl::DataLossError("simulated: the sector does not read (EIO)");
        }
        return absl::OkStatus();
      };
      absl::StatusOr<std::unique_ptr<Replica>> opened = Open();
      disk_.fault = nullptr;
      if (!opened.ok()) {
        ++tally.read_errors;
      } else {
        Check(**opened, tally);
        if (::testing::Test::HasFailure()) return nullptr;
        opened->reset();
      }
    }
    const uint64_t runs_before = ColdRunFiles();
    absl::StatusOr<std::unique_ptr<Replica>> opened = Open();
    if (!opened.ok() && NamesABadFile(opened.status())) {
      // A file recovery needs does not read: refused, naming it (the operator restores it).
      ++tally.refused_after_bad_sector;
      return nullptr;
    }
    if (!opened.ok() && misdirected_->load() && absl::IsDataLoss(opened.status())) {
      // A group written where another belongs: damage the log shows, refused with its place.
      ++tally.refused_after_misdirect;
      return nullptr;
    }
    EXPECT_TRUE(opened.ok()) << "seed " << seed_ << ": " << opened.status();
    if (!opened.ok()) return nullptr;
    ++tally.recoveries;
    tally.recovered_over_bad_sector += disk_.bad_sector_count() > 0;
    runs_at_open_ = RunCount(**opened);
    op_at_open_ = (*opened)->last_op();
    tally.cold_runs += runs_at_open_ - std::min(runs_at_open_, runs_before);
    Check(**opened, tally);
    if (!::testing::Test::HasFailure()) CheckLookups(**opened, tally);
    return ::testing::Test::HasFailure() ? nullptr : std::move(*opened);
  }

  // DataLoss for an I/O error, naming a file with a bad sector.
  bool NamesABadFile(const absl::Status& status) const {
    if (!absl::IsDataLoss(status) ||
        std::string(status.message()).find("Input/output error") == std::string::npos) {
      return false;
    }
    for (const std::string& path : bad_files_) {
      if (std::string(status.message()).find(path) != std::string::npos) return true;
    }
    return false;
  }

  uint64_t ColdRunFiles() const {
    uint64_t runs = 0;
    for (const MemoryStorage::FileInfo& file : disk_.FilesIn(std::string(kPath) + "/cold")) {
      runs += file.name.rfind("run-", 0) == 0 && !file.name.ends_with(".tmp");
    }
    return runs;
  }

  static uint64_t RunCount(const Replica& replica) {
    return replica.cold_store() != nullptr ? replica.cold_store()->run_count() : 0;
  }

  absl::StatusOr<std::unique_ptr<Replica>> Open() {
    ReplicaOptions options;
    options.use_io_uring = false;
    options.storage = &disk_;
    options.writer_buffer_bytes = uint64_t{1280} << 10;  // the largest entry fits; zeroed at open
    options.snapshot_interval_ops = 3 + seed_ % 9;
    options.engine = SmallEngine();
    options.engine.hot_transfers = hot_transfers_;
    if (checkpoint_interval_ops_ > 0) {
      options.checkpoint_key = CheckpointKey();
      options.checkpoint_file = kCheckpointFile;
      options.checkpoint_interval_ops = checkpoint_interval_ops_;
      options.log = [tally = tally_](std::string_view message) {
        tally->torn_checkpoints += message.find("left unfinished") != std::string_view::npos;
      };
    }
    return Replica::Open(kPath, std::move(options));
  }

  static std::vector<uint8_t> CheckpointKey() {
    std::vector<uint8_t> key(kCheckpointKeyBytesMin);
    for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 7 + 1);
    return key;
  }

  // Acknowledged ops survive; the state is the reference's after the logged batches.
  void Check(const Replica& replica, Tally& tally) {
    const uint64_t last_op = replica.last_op();
    ASSERT_GE(last_op, acknowledged_op_) << "seed " << seed_ << ": acknowledged ops lost";
    ASSERT_LE(last_op, planned_.size()) << "seed " << seed_ << ": ops nobody submitted";
    const std::vector<wal::EntryHeader> log = LogHeaders(last_op);
    ASSERT_EQ(log.size(), last_op + 1) << "seed " << seed_;
    reference_ = std::make_unique<engine::Engine>(SmallEngine());
    for (uint64_t op = 1; op <= last_op; ++op) Apply(*reference_, op, log[op].timestamp_ns);
    ASSERT_EQ(replica.engine().ComputeStateHash(), reference_->ComputeStateHash())
        << "seed " << seed_ << ": state differs at op " << last_op;
    planned_.resize(last_op);  // what was not logged is submitted anew, as new batches
    if (checkpoint_interval_ops_ > 0) CheckCheckpoints(log, tally);
  }

  // Every line of the checkpoint file (a line a crash cut short was cut at open) is whole,
  // signed with the key, and names an op of the log with its chain hash and timestamp: a checkpoint
  // is signed only once its op is durable, so recovery never ends before it. After a clean shutdown
  // the last op's is there.
  void CheckCheckpoints(std::span<const wal::EntryHeader> log, Tally& tally) {
    const std::string text = ReadAll(kCheckpointFile);
    const std::vector<uint8_t> key = CheckpointKey();
    size_t begin = 0;
    for (size_t end = text.find('\n'); end != std::string::npos;
         begin = end + 1, end = text.find('\n', begin)) {
      const absl::StatusOr<Checkpoint> checkpoint =
          ParseCheckpoint(key, std::string_view(text).substr(begin, end - begin));
      ASSERT_TRUE(checkpoint.ok()) << "seed " << seed_ << ": checkpoint line at byte " << begin
                                   << ": " << checkpoint.status();
      ASSERT_LT(checkpoint->op, log.size()) << "seed " << seed_ << ": a signed op was lost";
      ASSERT_EQ(checkpoint->chain_hash, log[checkpoint->op].chain_hash) << "seed " << seed_;
      ASSERT_EQ(checkpoint->timestamp_ns, log[checkpoint->op].timestamp_ns) << "seed " << seed_;
      ++tally.checkpoints;
      if (checkpoint->op == signed_op_expected_) signed_op_expected_ = 0;
    }
    ASSERT_EQ(begin, text.size()) << "seed " << seed_ << ": a line left unfinished, not cut";
    ASSERT_EQ(signed_op_expected_, 0u)
        << "seed " << seed_ << ": a clean shutdown's checkpoint was lost";
  }

  // A file's bytes, as the test's oracle reads them; empty when it is absent.
  std::string ReadAll(const std::string& path) {
    MemoryStorage::SeeThroughBadSectors oracle;
    absl::StatusOr<std::unique_ptr<wal::File>> file = disk_.Open(path, {});
    if (!file.ok()) return "";
    const absl::StatusOr<uint64_t> size_bytes = (*file)->Size();
    std::string text(size_bytes.value_or(0), '\0');
    EXPECT_TRUE((*file)->Read(0, std::as_writable_bytes(std::span(text))).ok());
    return text;
  }

  // Transfer ids booked (and retried) at random ops, and one never booked: the replica's
  // engine, and its old history where it answers, must answer each as the reference does.
  void CheckLookups(const Replica& replica, Tally& tally) {
    const uint64_t last_op = replica.last_op();
    if (last_op < 3) return;
    const std::shared_ptr<const ColdHistory> history = replica.TakeColdHistory();
    for (uint64_t k = 0; k < kLookupsPerCheck; ++k) {
      const uint64_t op = 3 + choices_() % (last_op - 2);
      const std::vector<Transfer>& batch = planned_[op - 1];
      const uint64_t index = choices_() % (batch.size() + 1);
      const TransferId id =
          index < batch.size() ? batch[index].id : TransferId::From((u128{op} << 32) | 0xfffff);
      history_answers_ = 0;
      CheckLookup(replica, history.get(), id);
      if (::testing::Test::HasFailure()) return;
      ++tally.lookups;
      tally.history_lookups += history_answers_;
    }
  }

  void CheckLookup(const Replica& replica, const ColdHistory* history, const TransferId& id) {
    const std::optional<Transfer> expected = reference_->LookupTransfer(id);
    const std::optional<FailedTransfer> expected_failure = reference_->LookupFailedTransfer(id);
    const std::optional<Transfer> found = replica.engine().LookupTransfer(id);
    ASSERT_EQ(found.has_value(), expected.has_value()) << "seed " << seed_ << ": transfer lookup";
    if (found) {
      ASSERT_EQ(std::memcmp(&*found, &*expected, sizeof(Transfer)), 0)
          << "seed " << seed_ << ": transfer record differs";
    }
    ASSERT_EQ(replica.engine().LookupFailedTransfer(id), expected_failure)
        << "seed " << seed_ << ": failed transfer lookup";
    if (history == nullptr) return;
    std::vector<Transfer> transfers;
    std::vector<FailedTransfer> failures;
    if (!history->LookupTransfers({&id, 1}, transfers, failures)) return;  // the engine's
    ++history_answers_;
    ASSERT_EQ(transfers.size() + failures.size(), 1u) << "seed " << seed_;
    if (!transfers.empty()) {
      ASSERT_TRUE(expected.has_value()) << "seed " << seed_ << ": old history made one up";
      ASSERT_EQ(std::memcmp(&transfers[0], &*expected, sizeof(Transfer)), 0)
          << "seed " << seed_ << ": old history's record differs";
    } else {
      ASSERT_EQ(failures[0], expected_failure) << "seed " << seed_ << ": old history's failure";
    }
  }

  // Each op's entry header in the log (index = op), read as the test's oracle: through bad
  // sectors, which are the replica's to meet.
  std::vector<wal::EntryHeader> LogHeaders(uint64_t last_op) {
    MemoryStorage::SeeThroughBadSectors oracle;
    std::vector<wal::EntryHeader> headers(1);
    absl::StatusOr<std::unique_ptr<wal::Directory>> directory =
        wal::Directory::Open(kPath, /*writable=*/false, disk_);
    EXPECT_TRUE(directory.ok()) << directory.status();
    if (!directory.ok()) return headers;
    const absl::StatusOr<wal::ScanResult> scanned =
        wal::ScanLog(**directory, LogScanOptions(),
                     [&](const wal::EntryHeader& header, std::span<const std::byte>) {
                       if (header.op <= last_op) headers.push_back(header);
                       return absl::OkStatus();
                     });
    EXPECT_TRUE(scanned.ok()) << scanned.status();
    return headers;
  }

  void Apply(engine::Engine& reference, uint64_t op, uint64_t timestamp_ns) {
    if (op == 1) {
      const Ledger ledger = testing::TestLedger();
      CreateLedgerResult result;
      reference.CreateLedgers({&ledger, 1}, timestamp_ns, {&result, 1});
    } else if (op == 2) {
      const std::vector<Account> accounts = testing::TestAccounts();
      std::vector<CreateAccountResult> results(accounts.size());
      reference.CreateAccounts(accounts, timestamp_ns, results);
    } else {
      const std::vector<Transfer>& batch = planned_[op - 1];
      std::vector<CreateTransferResult> results(batch.size());
      reference.CreateTransfers(batch, timestamp_ns, results);
    }
  }

  // Submits batches until the disk crashes (at a random operation) or fails; now and then
  // a sector of an old file goes bad meanwhile. Lookups while it serves answer as the
  // reference's (which takes each batch at the replica's timestamp).
  void Book(std::unique_ptr<Replica>& owned, Tally& tally) {
    Replica& replica = *owned;
    ArmFaults(tally);
    const uint64_t batches = 1 + random_() % kBatchesMax;
    const uint64_t bad_sector_at = choices_() % 6 == 0 ? choices_() % batches : batches;
    const uint64_t bad_reads_before = disk_.bad_sector_reads();
    for (uint64_t i = 0; i < batches; ++i) {
      if (i == bad_sector_at) PutBadSector(tally);
      const uint64_t op = replica.last_op() + 1;
      planned_.push_back(op <= 2 ? std::vector<Transfer>() : Batch(op));
      if (!SubmitPlanned(replica, op, tally)) break;
      if (i % 4 == 3) CheckLookups(replica, tally);
      if (::testing::Test::HasFailure()) break;
      if (i % 3 == 2 || i + 1 == batches) {
        if (!replica.WaitDurable(op).ok()) break;
        tally.acknowledged += op - acknowledged_op_;
        acknowledged_op_ = op;
      }
    }
    tally.serving_read_errors += disk_.bad_sector_reads() - bad_reads_before;
    tally.cold_runs += RunCount(replica) - runs_at_open_;
    const uint64_t logged = replica.last_op();
    if (!crashed_->load() && quiet_round_ && choices_() % 3 == 0) CloseCleanly(owned, tally);
    if (!crashed_->load()) {
      // The process dies: what it logged and did not sync may be torn.
      std::lock_guard lock(*tear_mutex_);
      disk_.Crash(&tear_);
      ++tally.crashes;
    }
    tally.lost_unacknowledged += logged - acknowledged_op_;  // at most: some may survive
    ++generation_;
  }

  // The replica shuts down cleanly, the disk quiet (the machine then loses power): what it
  // logged is durable once it has closed, and with a key its last op is signed.
  void CloseCleanly(std::unique_ptr<Replica>& replica, Tally& tally) {
    quiet_->store(true);
    const bool healthy = replica->log_status().ok();
    const uint64_t last_op = replica->last_op();
    replica.reset();  // waits for the threads: no fault is in progress after it
    if (!healthy || crashed_->load()) return;
    ++tally.clean_closes;
    tally.acknowledged += last_op - acknowledged_op_;
    acknowledged_op_ = last_op;
    // Signed when this replica logged something (the last op it noted).
    if (checkpoint_interval_ops_ > 0 && last_op > op_at_open_) signed_op_expected_ = last_op;
  }

  // Submits op `op` (planned), which the reference then applies at the receipt's timestamp.
  // A batch refused while the log is healthy, the disk up and no lasting fault armed (a full
  // disk, a bad sector) is retried, as a client would: a retry must get past a fault that is
  // over (a cold run whose write failed for a moment is written again).
  bool SubmitPlanned(Replica& replica, uint64_t op, Tally& tally) {
    for (int retry = 0;; ++retry) {
      const absl::StatusOr<BatchReceipt> receipt = SubmitOnce(replica, op);
      if (receipt.ok()) {
        Apply(*reference_, op, receipt->timestamp_ns);
        return true;
      }
      if (crashed_->load() || lasting_fault_ || !replica.log_status().ok() ||
          disk_.bad_sector_count() > 0 || replica.last_op() >= op) {
        return false;
      }
      if (retry == kRetriesMax) {
        ADD_FAILURE() << "seed " << seed_ << ": op " << op << " refused " << retry + 1
                      << " times with the log healthy: " << receipt.status();
        return false;
      }
      ++tally.retried;
    }
  }

  absl::StatusOr<BatchReceipt> SubmitOnce(Replica& replica, uint64_t op) {
    if (op == 1) {
      Ledger ledger = testing::TestLedger();
      CreateLedgerResult result;
      return replica.Submit<Ledger>({&ledger, 1}, {&result, 1});
    }
    if (op == 2) {
      std::vector<Account> accounts = testing::TestAccounts();
      std::vector<CreateAccountResult> results(accounts.size());
      return replica.Submit<Account>(accounts, results);
    }
    std::vector<CreateTransferResult> results(planned_[op - 1].size());
    return replica.Submit<Transfer>(planned_[op - 1], results);
  }

  // New transfers, and now and then events naming an older op's (cold, in a small window): a
  // retry of one, and a post or void of one of its reservations.
  std::vector<Transfer> Batch(uint64_t op) {
    std::vector<Transfer> batch = testing::TestTransfers(seed_ * 1000 + generation_, op, 40);
    std::mt19937_64 pick(seed_ * 1'000'003 + generation_ * 7'919 + op);
    if (op < 6 || pick() % 2 == 0) return batch;
    const std::vector<Transfer>& old = planned_[3 + pick() % (op - 4) - 1];
    const Transfer& retried = old[pick() % old.size()];
    if (retried.pending_id.IsZero()) {
      batch.push_back(retried);
      batch.back().flags &= static_cast<uint16_t>(~transfer_flags::kLinked);
    }
    for (const Transfer& candidate : old) {
      if ((candidate.flags & transfer_flags::kPending) == 0) continue;
      Transfer resolve{};
      resolve.id = TransferId::From((u128{op} << 32) | 0x10000);
      resolve.pending_id = candidate.id;
      const bool post = pick() % 2 == 0;
      resolve.amount = post ? Amount::Max() : Amount{};
      resolve.flags = post ? transfer_flags::kPostPending : transfer_flags::kVoidPending;
      batch.push_back(resolve);
      break;
    }
    return batch;
  }

  // A sector of a file written before goes bad: a segment, a snapshot or an extent, a cold run
  // or the saved filter, the identity or durable mark (a temporary being written is not old).
  void PutBadSector(Tally& tally) {
    std::vector<std::pair<std::string, uint64_t>> files;  // path, data_end
    for (const std::string& directory : {std::string(kPath), std::string(kPath) + "/cold"}) {
      for (const MemoryStorage::FileInfo& file : disk_.FilesIn(directory)) {
        if (file.data_end > 0 && !file.name.ends_with(".tmp")) {
          files.emplace_back(directory + "/" + file.name, file.data_end);
        }
      }
    }
    if (files.empty()) return;
    const auto& [path, data_end] = files[choices_() % files.size()];
    const absl::Status marked =
        disk_.MarkBadSectors(path, choices_() % data_end, 1 + choices_() % 1024);
    if (absl::IsNotFound(marked)) return;  // pruned meanwhile (the snapshot thread)
    ASSERT_TRUE(marked.ok()) << marked;
    bad_files_.insert(path);
    ++tally.bad_sectors;
  }

  // A crash at a random I/O operation, and now and then a failed sync or a full disk first.
  void ArmFaults(Tally& tally) {
    crashed_ = std::make_shared<std::atomic<bool>>(false);
    quiet_ = std::make_shared<std::atomic<bool>>(false);
    const uint64_t crash_at = 1 + random_() % 60;
    const uint64_t fail_kind = random_() % 6;  // 0: a sync fails, 1: the disk is full, 2: a
                                               // segment write lands elsewhere
    const uint64_t fail_at = random_() % 40;
    lasting_fault_ = fail_kind == 1;
    quiet_round_ = fail_kind >= 3;  // nothing but a crash, and on the cold store's files
    // With a window: the cold store's next few writes or syncs fail (its disk full for a
    // moment, or a sync's EIO), the log's do not.
    auto cold_failures = std::make_shared<std::atomic<int64_t>>(
        hot_transfers_ > 0 && choices_() % 3 == 0 ? static_cast<int64_t>(1 + choices_() % 3) : 0);
    auto count = std::make_shared<std::atomic<uint64_t>>(0);
    if (fail_kind == 2) {
      const int64_t shift_blocks = static_cast<int64_t>(random_() % 7) - 3;
      auto writes = std::make_shared<std::atomic<uint64_t>>(0);
      disk_.misdirect = [writes, shift_blocks, &tally, misdirected = misdirected_, quiet = quiet_](
                            const std::string& path, uint64_t offset,
                            uint64_t size_bytes) -> std::optional<uint64_t> {
        if (quiet->load() || path.find("/wal-") == std::string::npos || shift_blocks == 0 ||
            writes->fetch_add(1) != 2) {
          return std::nullopt;
        }
        const int64_t to = static_cast<int64_t>(offset) + shift_blocks * int64_t{4096};
        if (to < 4096 || static_cast<uint64_t>(to) + size_bytes > wal::kSegmentSizeMinBytes) {
          return std::nullopt;
        }
        ++tally.misdirected;
        misdirected->store(true);
        return static_cast<uint64_t>(to);
      };
    }
    disk_.fault = [this, count, crash_at, fail_kind, fail_at, cold_failures, &tally,
                   crashed = crashed_,
                   quiet = quiet_](std::string_view operation, const std::string& path) {
      if (quiet->load()) return absl::OkStatus();
      const uint64_t n = count->fetch_add(1);
      if (n >= fail_at && path.find("/cold/") != std::string::npos &&
          (operation == "write" || operation == "allocate" || operation == "sync") &&
          cold_failures->load() > 0 && cold_failures->fetch_sub(1) > 0) {
        ++tally.cold_write_failures;
        return operation == "sync" ? absl::DataLossError("simulated: fsync failed (EIO)")
                                   : absl::ResourceExhaustedError("simulated: no space left");
      }
      if (n == fail_at && fail_kind == 0 && operation == "sync") {
        ++tally.sync_failures;
        return absl::DataLossError("simulated: fsync failed (EIO); its pages are dropped");
      }
      if (n >= fail_at && fail_kind == 1 && (operation == "write" || operation == "allocate")) {
        ++tally.disk_full;
        return absl::ResourceExhaustedError("simulated: no space left on device");
      }
      if (n == crash_at && !crashed->exchange(true)) {
        std::lock_guard lock(*tear_mutex_);
        disk_.Crash(&tear_);
        ++tally.crashes;
        tally.cold_crashes += path.find("/cold/") != std::string::npos;
        return absl::UnavailableError("simulated: the machine stopped");
      }
      return absl::OkStatus();
    };
  }

  const uint64_t seed_;
  std::mt19937_64 random_;
  std::mt19937_64 tear_;
  std::mt19937_64 choices_;     // the window, latency, bad sectors, ids looked up
  uint64_t hot_transfers_ = 0;  // 0: everything in memory
  uint64_t latency_max_ns_ = 0;
  uint64_t checkpoint_interval_ops_ = 0;  // 0: no checkpoints
  Tally* tally_ = nullptr;                // Run's, for the replica's messages
  bool lasting_fault_ = false;            // this round's: every write fails once the disk is full
  bool quiet_round_ = false;  // this round's: no fault but a crash (and the cold store's)
  // Set for a clean shutdown: the faults of the round stop.
  std::shared_ptr<std::atomic<bool>> quiet_ = std::make_shared<std::atomic<bool>>(false);
  uint64_t op_at_open_ = 0;
  uint64_t signed_op_expected_ = 0;  // a clean shutdown's checkpoint, to be found after it
  std::shared_ptr<std::mutex> tear_mutex_ = std::make_shared<std::mutex>();
  std::shared_ptr<std::atomic<bool>> crashed_ = std::make_shared<std::atomic<bool>>(false);
  // A misdirected write happened since the seed began: recovery may then refuse.
  std::shared_ptr<std::atomic<bool>> misdirected_ = std::make_shared<std::atomic<bool>>(false);
  MemoryStorage disk_;
  std::vector<std::vector<Transfer>> planned_;  // index op - 1; empty for ops 1 and 2
  // The state after the replica's last op: rebuilt from the log at each recovery, then given
  // each batch at its receipt's timestamp.
  std::unique_ptr<engine::Engine> reference_;
  std::set<std::string> bad_files_;  // paths where a bad sector was put
  uint64_t runs_at_open_ = 0;
  uint64_t history_answers_ = 0;  // CheckLookup's
  uint64_t acknowledged_op_ = 0;
  uint64_t generation_ = 0;
};

TEST(Simulator, AcknowledgedOpsSurviveCrashesTornWritesAndDiskFaultsWithTheReferenceState) {
  Tally tally;
  const char* replay = std::getenv("LEDGER_SEED");
  const char* seconds = std::getenv("LEDGER_SIM_SECONDS");
  const uint64_t first_seed = replay != nullptr ? std::strtoull(replay, nullptr, 10) : 1;
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::seconds(seconds != nullptr ? std::strtoull(seconds, nullptr, 10) : 0);
  for (uint64_t seed = first_seed;; ++seed) {
    if (replay != nullptr && seed != first_seed) break;
    if (replay == nullptr && seconds == nullptr && seed >= first_seed + kSeeds) break;
    if (seconds != nullptr && std::chrono::steady_clock::now() >= deadline) break;
    SCOPED_TRACE(absl::StrCat("LEDGER_SEED=", seed));
    Simulation(seed).Run(tally);
    if (HasFailure()) break;
  }
  const auto n = [](uint64_t value) { return static_cast<unsigned long>(value); };
  std::printf(
      "[   SIM    ] seeds %lu (all rounds: %lu; a small window: %lu, latency: %lu, checkpoints: "
      "%lu), crashes %lu (after a clean shutdown: %lu), "
      "failed syncs %lu, disk-full writes %lu, cold-store writes failed %lu (batches retried: "
      "%lu), misdirected writes %lu (refused after: %lu), "
      "failed recoveries (read errors) %lu, bad sectors %lu (reads failed while serving: %lu, "
      "recoveries past one: %lu, refused naming the file: %lu), cold runs %lu (crashes in the "
      "cold store: %lu), lookups checked %lu (answered by old history: %lu), checkpoints checked "
      "%lu (a line cut short, cut at open: %lu), recoveries checked %lu, ops acknowledged %lu, "
      "logged but "
      "unacknowledged at a crash "
      "%lu\n",
      n(tally.seeds), n(tally.seeds_whole), n(tally.cold_seeds), n(tally.latency_seeds),
      n(tally.checkpoint_seeds), n(tally.crashes.load()), n(tally.clean_closes),
      n(tally.sync_failures.load()), n(tally.disk_full.load()), n(tally.cold_write_failures.load()),
      n(tally.retried), n(tally.misdirected.load()), n(tally.refused_after_misdirect),
      n(tally.read_errors), n(tally.bad_sectors), n(tally.serving_read_errors),
      n(tally.recovered_over_bad_sector), n(tally.refused_after_bad_sector), n(tally.cold_runs),
      n(tally.cold_crashes.load()), n(tally.lookups), n(tally.history_lookups),
      n(tally.checkpoints), n(tally.torn_checkpoints), n(tally.recoveries), n(tally.acknowledged),
      n(tally.lost_unacknowledged));
  EXPECT_GT(tally.crashes, 0u);
}

}  // namespace
}  // namespace ledger::replica
