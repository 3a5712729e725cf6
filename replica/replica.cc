#include "replica/replica.h"

#include <algorithm>
#include <future>

#include "absl/strings/str_cat.h"
#include "replica/log_schema.h"
#include "replica/recovery.h"

namespace ledger::replica {

namespace {

// The facts a logged entry may add to the engine's window: one per transfer event at most.
uint64_t FactsOf(const wal::EntryHeader& header) {
  return header.operation == static_cast<uint8_t>(engine::Operation::kCreateTransfers)
             ? header.event_count
             : 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Replica>> Replica::Open(const std::string& data_dir,
                                                       ReplicaOptions options) {
  const auto log = [&options](std::string_view message) {
    if (options.log) options.log(message);
  };
  std::unique_ptr<Replica> replica(new Replica());
  LEDGER_ASSIGN_OR_RETURN(replica->directory_,
                          wal::Directory::Open(data_dir, /*writable=*/true, *options.storage));

  RecoveryOptions recovery;
  recovery.engine = options.engine;
  // The store's ids are read on a thread of their own while the snapshot loads (both take
  // seconds on a long history); the replay waits for them. Joined however Open ends.
  std::future<absl::Status> ids_loaded;
  if (options.engine.hot_transfers > 0) {
    LEDGER_ASSIGN_OR_RETURN(replica->cold_store_,
                            cold::ColdStore::OpenIdsLater(data_dir + "/cold", *options.storage));
    cold::ColdStore* store = replica->cold_store_.get();
    ids_loaded = std::async(std::launch::async, [store] { return store->LoadIds(); });
    recovery.after_snapshot = [&ids_loaded] { return ids_loaded.get(); };
    recovery.engine.cold = replica->cold_store_.get();
    replica->cooler_ = std::make_unique<internal::Cooler>(
        *replica->cold_store_,
        internal::CoolerOptions{.hot_transfers = options.engine.hot_transfers,
                                .run_facts_max = options.cold_run_facts_max,
                                .log = options.log});
    internal::Cooler* cooler = replica->cooler_.get();
    recovery.before_entry = [cooler](engine::Engine& engine, const wal::EntryHeader& header) {
      return cooler->BeforeReplayedEntry(engine, FactsOf(header));
    };
    recovery.after_entry = [cooler](engine::Engine& engine, const wal::EntryHeader& header) {
      return cooler->AfterReplayedEntry(engine, header.op, FactsOf(header));
    };
  }
  LEDGER_ASSIGN_OR_RETURN(Recovered recovered, Recover(*replica->directory_, recovery));
  for (const std::string& note : recovered.notes) log(note);
  if (replica->cold_store_ != nullptr && !replica->cold_store_->ids_note().empty()) {
    log(absl::StrCat("cold store: ", replica->cold_store_->ids_note()));
  }
  log(absl::StrCat("recovered through op ", recovered.log.last_op, " (snapshot at op ",
                   recovered.snapshot_op, ", ", recovered.replayed_entries, " entries replayed)"));
  replica->engine_ = std::move(recovered.engine);
  if (replica->cold_store_ != nullptr &&
      replica->engine_->cold_before_ns() > replica->cold_store_->end_ns()) {
    return absl::DataLossError(
        absl::StrCat("the cold store ends at ", replica->cold_store_->end_ns(),
                     " ns but the state needs it through ", replica->engine_->cold_before_ns(),
                     " ns: rebuild it (ledger-wal rebuild-cold)"));
  }
  if (replica->cooler_ != nullptr)
    replica->cooler_->Begin(*replica->engine_, recovered.log.last_op);
  replica->recovery_ = {recovered.snapshot_op, recovered.replayed_entries, recovered.log.last_op};

  wal::WriterOptions writer;
  writer.schema = LogSchema();
  writer.use_io_uring = options.use_io_uring;
  // A group never straddles segments: in a directory of small segments the buffers shrink to
  // what one holds after its header block (still far more than the largest entry).
  writer.buffer_bytes = std::min(options.writer_buffer_bytes,
                                 replica->directory_->segment_size_bytes() - wal::kBlockBytes);
  writer.on_group_done = std::move(options.on_group_done);
  LEDGER_ASSIGN_OR_RETURN(replica->writer_,
                          wal::LogWriter::Open(*replica->directory_, recovered.log.end,
                                               recovered.log.last_op + 1, std::move(writer)));
  log(absl::StrCat("log writes through ", replica->writer_->io_backend()));

  internal::SequencerOptions sequencer;
  sequencer.clock_ns = std::move(options.clock_ns);
  sequencer.snapshot_interval_ops = options.snapshot_interval_ops;
  sequencer.snapshots_kept = options.snapshots_kept;
  sequencer.log_last_timestamp_ns = recovered.log.last_timestamp_ns;
  sequencer.extent_chain = std::move(recovered.extent_chain);
  sequencer.on_snapshot = std::move(options.on_snapshot);
  sequencer.on_entry = std::move(options.on_entry);
  if (!sequencer.on_snapshot) {
    sequencer.on_snapshot = [log = options.log](const absl::Status& status) {
      if (!status.ok() && log) log(absl::StrCat("snapshot failed: ", status.ToString().c_str()));
    };
  }
  replica->commit_gate_ =
      std::make_unique<internal::CommitGate>(*replica->writer_, options.replicated);
  if (!options.checkpoint_key.empty()) {
    LEDGER_ASSIGN_OR_RETURN(
        replica->checkpointer_,
        internal::Checkpointer::Open({.key = std::move(options.checkpoint_key),
                                      .file_path = options.checkpoint_file,
                                      .storage = options.storage,
                                      .interval_ops = options.checkpoint_interval_ops,
                                      .log = options.log,
                                      .on_checkpoint = std::move(options.on_checkpoint),
                                      .log_last_op = recovered.log.last_op,
                                      .log_last_chain_hash = recovered.log.last_chain_hash,
                                      .log_catches_up = options.replicated},
                                     *replica->commit_gate_));
  }
  replica->sequencer_ = std::make_unique<internal::Sequencer>(
      *replica->engine_, *replica->writer_, *replica->commit_gate_, *replica->directory_,
      recovered.log.last_op, recovered.log.last_chain_hash, std::move(sequencer));
  return replica;
}

Replica::~Replica() {
  // The sequencer waits for its snapshot (which waits no longer for the group to commit); the
  // cooler for a run being written; the writer flushes what was appended and stops, so no
  // callback runs after this returns. The last checkpoint first: it waits for the log.
  if (checkpointer_ != nullptr) checkpointer_->Close();
  if (commit_gate_ != nullptr) commit_gate_->Stop();
  sequencer_.reset();
  cooler_.reset();
  writer_.reset();
}

void Replica::NoteHead(uint64_t timestamp_ns) {
  if (checkpointer_ == nullptr) return;
  checkpointer_->Noted({sequencer_->last_op(), sequencer_->chain_hash(), timestamp_ns,
                        engine_->change_sequence_next()});
}

absl::Status Replica::MakeRoom(uint64_t event_count) {
  return cooler_->MakeRoom(
      *engine_, event_count, commit_gate_->committed_op(),
      [this](uint64_t op) { return commit_gate_->Wait(op); },
      [this] { sequencer_->WaitSnapshotIdle(); });
}

void Replica::AfterBatch(engine::Operation operation, uint64_t op, uint64_t event_count) {
  const bool transfers = operation == engine::Operation::kCreateTransfers;
  cooler_->AfterBatch(*engine_, op, transfers ? event_count : 0, commit_gate_->committed_op());
}

void ColdHistory::ColdCandidates(std::span<const Transfer> events, cold::ReadAheadIds& ids) const {
  // The ids' filter blocks first (one cache miss each, overlapped), then the checks; the
  // engine's own checks when it applies the batch find them cached too.
  for (const Transfer& event : events) runs_.PrefetchFilter(event.id);
  for (const Transfer& event : events) {
    // The id (a retry of a cold transfer), the reservation a post or void names, the transfer
    // a reversal names: whatever else an event refers to is an account, always in memory.
    if (runs_.MayHold(event.id)) ids.own.push_back(event.id);
    for (const TransferId& id : {event.pending_id, event.reverses_id}) {
      if (!id.IsZero() && runs_.MayHold(id)) ids.referenced.push_back(id);
    }
  }
}

void Replica::ReadAhead(const cold::ReadAheadIds& ids, cold::ReadAheadAnswers& answers) const {
  if (cold_store_ != nullptr) cold_store_->ReadAhead(ids, answers);
}

std::shared_ptr<const ColdHistory> Replica::TakeColdHistory() const {
  if (cold_store_ == nullptr || engine_->cold_before_ns() == 0) return nullptr;
  return std::make_shared<const ColdHistory>(cold_store_->Published(), engine_->cold_before_ns());
}

bool ColdHistory::LookupTransfers(std::span<const TransferId> ids, std::vector<Transfer>& transfers,
                                  std::vector<FailedTransfer>& failures) const {
  for (const TransferId& id : ids) {
    const std::optional<engine::ColdTransfer> found = runs_.FindTransfer(id, before_ns_);
    if (!found.has_value()) return false;
    if (found->failure == CreateTransferResult::kOk) {
      transfers.push_back(found->record);
    } else {
      failures.push_back(FailedTransfer{found->record, found->failure});
    }
  }
  return true;
}

// The engine's answer, below its boundary: nothing for an account it does not know (which
// has no history either), the store's otherwise.
std::optional<size_t> ColdHistory::GetAccountTransfers(const AccountFilter& filter,
                                                       std::span<Transfer> out) const {
  if (!Covers(filter)) return std::nullopt;
  if ((filter.flags & (filter_flags::kDebits | filter_flags::kCredits)) == 0 ||
      filter.timestamp_min_ns > filter.timestamp_max_ns) {
    return 0;
  }
  return runs_.GetAccountTransfers(filter, out);
}

std::optional<size_t> ColdHistory::GetAccountBalances(const AccountFilter& filter,
                                                      std::span<AccountBalance> out) const {
  if (!Covers(filter)) return std::nullopt;
  if (filter.timestamp_min_ns > filter.timestamp_max_ns) return 0;
  return runs_.GetAccountBalances(filter, out);
}

uint64_t Replica::last_op() const { return sequencer_->last_op(); }

const wal::Hash128& Replica::chain_hash() const { return sequencer_->chain_hash(); }

absl::Status Replica::SnapshotNow() { return sequencer_->SnapshotNow(); }

absl::StatusOr<BatchReceipt> Replica::AppendReplicated(const wal::EntryHeader& header,
                                                       std::span<const std::byte> body) {
  if (!wal::IsWellFormedEntryHeader(header, LogSchema()) || body.size() != header.body_size_bytes ||
      wal::HashBytes(body) != header.body_checksum) {
    return absl::DataLossError(
        absl::StrCat("replicated entry of op ", header.op, " is malformed or its body is damaged"));
  }
  const auto operation = static_cast<engine::Operation>(header.operation);
  const bool transfers = operation == engine::Operation::kCreateTransfers;
  if (cooler_ != nullptr && transfers && !engine_->HasRoomFor(0, header.event_count)) {
    LEDGER_RETURN_IF_ERROR(MakeRoom(header.event_count));
  }
  LEDGER_RETURN_IF_ERROR(sequencer_->AppendSealed(header, body));
  NoteHead(header.timestamp_ns);
  if (cooler_ != nullptr) AfterBatch(operation, header.op, header.event_count);
  return BatchReceipt{header.op, header.timestamp_ns, engine_->change_sequence_next()};
}

absl::StatusOr<std::optional<BatchReceipt>> Replica::ExpireDue() {
  const std::optional<uint64_t> next_ns = engine_->next_expiry_ns();
  if (!next_ns.has_value() || *next_ns > sequencer_->clock_ns()) return std::nullopt;
  LEDGER_ASSIGN_OR_RETURN(const BatchReceipt receipt, Submit<Transfer>({}, {}));
  return receipt;
}

uint64_t Replica::StoredTimestamp(const Ledger& event) const {
  return engine_->LookupLedger(event.id).value_or(Ledger{}).timestamp_ns;
}
uint64_t Replica::StoredTimestamp(const Account& event) const {
  return engine_->LookupAccount(event.id).value_or(Account{}).timestamp_ns;
}
uint64_t Replica::StoredTimestamp(const Transfer& event) const {
  return engine_->LookupTransfer(event.id).value_or(Transfer{}).timestamp_ns;
}

}  // namespace ledger::replica
