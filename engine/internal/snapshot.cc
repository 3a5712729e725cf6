// Capture and restore of the whole state (engine/snapshot.h).
//
// Restore never trusts its input, even though the file around it is checksummed (a checksum
// catches rot, not a bug in the writer or a hand-made file): every record is validated, every
// reference resolved, and every balance, closed flag and reversal sum re-derived from the
// transfers and compared. Derived structures (indexes, history lists, reversal links, the
// expiry queue) are rebuilt, never read. The change feed's window is checked against all of
// that: every change must name a transfer or expiry that happened, in log order, with the
// balances the state implies.
#include <algorithm>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/internal/state.h"

namespace ledger::engine::internal {

namespace {

using transfer_flags::kPending;
using transfer_flags::kPostPending;
using transfer_flags::kVoidPending;

template <typename T>
std::span<const std::byte> BytesOf(const T* records, size_t count) {
  return std::as_bytes(std::span<const T>(records, count));
}

// Records of a section, copied out one at a time (the bytes may be unaligned). The transfers
// and changes sections may come in several pieces (a snapshot's extents, replica/): read as
// one, mostly in order, so the piece of the previous read is tried first.
template <typename T>
class Records {
 public:
  explicit Records(std::span<const std::byte> bytes) { Add(bytes); }
  explicit Records(std::span<const std::span<const std::byte>> pieces) {
    for (const std::span<const std::byte> piece : pieces) Add(piece);
  }
  size_t size() const { return ends_.empty() ? 0 : ends_.back(); }
  T operator[](size_t index) const {
    if (index < PieceBegin(cursor_)) cursor_ = 0;
    while (index >= ends_[cursor_]) ++cursor_;
    T record;
    std::memcpy(&record, pieces_[cursor_].data() + (index - PieceBegin(cursor_)) * sizeof(T),
                sizeof(T));
    return record;
  }

 private:
  void Add(std::span<const std::byte> bytes) {
    pieces_.push_back(bytes);
    ends_.push_back(size() + bytes.size() / sizeof(T));
  }
  size_t PieceBegin(size_t piece) const { return piece == 0 ? 0 : ends_[piece - 1]; }

  std::vector<std::span<const std::byte>> pieces_;
  std::vector<size_t> ends_;  // records up to the end of each piece
  mutable size_t cursor_ = 0;
};

absl::Status Corrupt(const char* what, uint64_t index, const char* why) {
  return absl::DataLossError(absl::StrCat("snapshot: ", what, " ", index, ": ", why));
}

uint32_t RecordSizeOf(SnapshotSectionKind kind) {
  switch (kind) {
    case SnapshotSectionKind::kMeta:
      return sizeof(SnapshotMeta);
    case SnapshotSectionKind::kLedgers:
      return sizeof(Ledger);
    case SnapshotSectionKind::kAccounts:
      return sizeof(Account);
    case SnapshotSectionKind::kTransfers:
      return sizeof(Transfer);
    case SnapshotSectionKind::kFailures:
      return sizeof(FailureRecord);
    case SnapshotSectionKind::kReservations:
      return sizeof(ReservationRecord);
    case SnapshotSectionKind::kBalanceHistory:
      return sizeof(BalanceHistoryRecord);
    case SnapshotSectionKind::kChanges:
      return sizeof(Change);
    case SnapshotSectionKind::kExpiries:
      return sizeof(ExpiryFact);
    case SnapshotSectionKind::kColdDigest:
      return sizeof(ColdDigest);
  }
  return 0;
}

bool IsZero(const void* bytes, size_t size) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  return std::all_of(p, p + size, [](unsigned char c) { return c == 0; });
}

// A stored transfer's effect on its accounts' derived balances `d` and `c`; false if the
// posted sums overflow.
bool AddToDerived(const Transfer& transfer, Balances& d, Balances& c) {
  if ((transfer.flags & kPending) != 0) {
    // Modulo 2^128: reservations are added here and released in RestoreReservations, so
    // the running sum of an account's reservations, resolved ones included, may pass 2^128
    // while the true balance (what is compared at the end) never does.
    d.debits_pending = Amount::From(d.debits_pending.Get() + transfer.amount.Get());
    c.credits_pending = Amount::From(c.credits_pending.Get() + transfer.amount.Get());
    return true;
  }
  if ((transfer.flags & kVoidPending) != 0) return true;  // moves nothing posted
  return CheckedAdd(d.debits_posted, transfer.amount, &d.debits_posted) &&
         CheckedAdd(c.credits_posted, transfer.amount, &c.credits_posted);
}

// The change a stored transfer made.
ChangeKind ChangeKindOf(const Transfer& transfer) {
  if ((transfer.flags & kPending) != 0) return ChangeKind::kPending;
  if ((transfer.flags & kPostPending) != 0) return ChangeKind::kPosted;
  if ((transfer.flags & kVoidPending) != 0) return ChangeKind::kVoided;
  return ChangeKind::kSinglePhase;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Capture

Account State::ToAccount(Ref account_ref) const {
  const AccountRecord& record = this->account(account_ref);
  const Balances balances = GetBalances(account_ref);
  Account account{};
  account.id = record.id;
  account.debits_pending = balances.debits_pending;
  account.debits_posted = balances.debits_posted;
  account.credits_pending = balances.credits_pending;
  account.credits_posted = balances.credits_posted;
  account.user_data_128 = record.user_data_128;
  account.user_data_64 = record.user_data_64;
  account.user_data_32 = record.user_data_32;
  account.ledger = record.ledger;
  account.code = record.code;
  account.flags = static_cast<uint16_t>(record.flags & account_flags::kAll);
  account.timestamp_ns = record.timestamp_ns;
  return account;
}

void State::CaptureSnapshot(EngineSnapshot& image, const CaptureOptions& options) const {
  LEDGER_ASSERT(!in_chain_ && image.live_images_ == nullptr);
  // The window from transfers_after_ns on is borrowed: eviction stops short of it.
  const uint64_t borrow_from_ns = options.transfers_after_ns + 1;
  if (live_images_.load(std::memory_order_acquire) == 0 ||
      borrow_from_ns < images_borrow_from_ns_.load(std::memory_order_relaxed)) {
    images_borrow_from_ns_.store(borrow_from_ns, std::memory_order_release);
  }
  live_images_.fetch_add(1, std::memory_order_acq_rel);
  image.live_images_ = &live_images_;
  image.meta_ = {last_timestamp_ns_,
                 expired_count_,
                 change_sequence_next(),
                 kSnapshotFormatVersion,
                 0,
                 cold_before_ns_,
                 changes_.retained_count(),
                 {}};
  image.cold_digest_ = cold_digest_;
  image.ledgers_ = ledgers_;
  CaptureAccounts(image);
  CaptureReservations(image);
  image.expiries_.clear();
  for (uint64_t i = expiries_->begin_position(); i < expiries_->end_position(); ++i) {
    image.expiries_.push_back({expiries_->at(i).id, expiries_->at(i).timestamp_ns, 0});
  }
  // Every transfer and expiry in the window is one of the newest changes: restore derives
  // those (RestoreChanges). Only the retained changes older than the window are copied (the
  // ring is overwritten as the engine goes on), oldest first; none unless the feed is longer
  // than the window. Copying the whole feed took 168 MB for 1M changes at every snapshot.
  const uint64_t retained = changes_.retained_count();
  image.change_count_ = retained - std::min(retained, hot_transfer_count() + expiries_->size());
  // A reused image's buffer only grows: no zero-fill, no fresh pages (those were two thirds of
  // a busy server's page faults, on the engine's thread).
  if (image.changes_.size() < image.change_count_) image.changes_.resize(image.change_count_);
  GetChanges(change_sequence_oldest(), std::span(image.changes_).first(image.change_count_));
  image.window_transfer_count_ = hot_transfer_count();
  const std::span<const std::byte> transfer_bytes =
      CaptureTransfers(image, options.transfers_after_ns);
  const bool whole_window = options.transfers_after_ns == 0;
  image.sections_ = {
      {SnapshotSectionKind::kMeta, sizeof(SnapshotMeta), BytesOf(&image.meta_, 1)},
      {SnapshotSectionKind::kLedgers, sizeof(Ledger),
       BytesOf(image.ledgers_.data(), image.ledgers_.size())},
      {SnapshotSectionKind::kAccounts, sizeof(Account),
       BytesOf(image.accounts_.data(), image.accounts_.size())},
      {SnapshotSectionKind::kTransfers, sizeof(Transfer), transfer_bytes},
      {SnapshotSectionKind::kFailures, sizeof(FailureRecord), CaptureFailures(image, whole_window)},
      {SnapshotSectionKind::kReservations, sizeof(ReservationRecord),
       BytesOf(image.reservations_.data(), image.reservations_.size())},
      {SnapshotSectionKind::kBalanceHistory, sizeof(BalanceHistoryRecord),
       BytesOf(image.balance_history_.data(), image.balance_history_.size())},
      {SnapshotSectionKind::kExpiries, sizeof(ExpiryFact),
       BytesOf(image.expiries_.data(), image.expiries_.size())},
      {SnapshotSectionKind::kColdDigest, sizeof(ColdDigest), BytesOf(&image.cold_digest_, 1)},
      {SnapshotSectionKind::kChanges, sizeof(Change),
       BytesOf(image.changes_.data(), image.change_count_)},
  };
}

// Sections are in creation order whatever the shard count: a snapshot restores onto any.
void State::CaptureAccounts(EngineSnapshot& image) const {
  const std::vector<Ref> accounts = AccountsInOrder();
  image.accounts_.resize(accounts.size());
  image.balance_history_.clear();
  for (uint32_t index = 0; index < accounts.size(); ++index) {
    const Ref ref = accounts[index];
    image.accounts_[index] = ToAccount(ref);
    const auto& balance_history = shard_of(ref).balance_history;
    auto history = balance_history.find(ref);
    if (history == balance_history.end()) continue;
    for (const AccountBalance& balance : history->second) {
      image.balance_history_.push_back({index, 0, balance});
    }
  }
}

// Every shard's reservations, named by their transfers' section indexes and in their order.
void State::CaptureReservations(EngineSnapshot& image) const {
  image.reservations_.clear();
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    for (const auto& [id, state] : shards_[shard]->pending) {
      ReservationRecord& record = image.reservations_.emplace_back();
      record = ReservationRecord{};
      record.id = id;
      record.amount = state.amount;
      record.expires_at_ns = state.expires_at_ns;
      record.booked_ns = state.booked_ns;
      record.debit_account_slot = AccountSectionIndex(state.debit_ref);
      record.credit_account_slot = AccountSectionIndex(state.credit_ref);
      record.resolver_slot = TransferSectionIndex(state.resolver_ref);
      record.flags = state.flags;
      record.code = state.code;
      record.status = state.status;
    }
  }
  std::sort(image.reservations_.begin(), image.reservations_.end(),
            [](const ReservationRecord& a, const ReservationRecord& b) {
              return a.booked_ns < b.booked_ns;
            });
}

// With several shards: how many transfers of every shard are older (each shard's table is in
// timestamp order, and so is the section). With one shard a ref is its slot, so its index.
uint32_t State::TransferSectionIndex(Ref ref) const {
  if (ref == kNoRef) return kNoSlot;
  const uint64_t timestamp_ns = transfer(ref).timestamp_ns;
  uint64_t older = 0;
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    for (const std::span<const Transfer> piece : shards_[shard]->transfers.pieces()) {
      older += static_cast<uint64_t>(
          std::partition_point(piece.begin(), piece.end(),
                               [&](const Transfer& t) { return t.timestamp_ns < timestamp_ns; }) -
          piece.begin());
    }
  }
  return static_cast<uint32_t>(older);
}

// As TransferSectionIndex, for the accounts section (creation order).
uint32_t State::AccountSectionIndex(Ref ref) const {
  const uint64_t timestamp_ns = account(ref).timestamp_ns;
  uint64_t older = 0;
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    const VirtualArray<AccountRecord>& table = shards_[shard]->accounts;
    older += static_cast<uint64_t>(std::partition_point(table.data(), table.data() + table.size(),
                                                        [&](const AccountRecord& a) {
                                                          return a.timestamp_ns < timestamp_ns;
                                                        }) -
                                   table.data());
  }
  return static_cast<uint32_t>(older);
}

// Transfers and failures are append-only: their prefix is borrowed, not copied. With several
// shards the transfers section is merged as it is written (EngineSnapshot::Stream), and the
// bytes returned are empty (sections() merges on demand).
std::span<const std::byte> State::CaptureTransfers(EngineSnapshot& image, uint64_t after_ns) const {
  image.shard_transfers_.clear();
  image.merged_transfers_.clear();
  image.transfer_count_ = 0;
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    EngineSnapshot::ShardTransfers& borrowed = image.shard_transfers_.emplace_back();
    const auto pieces = shards_[shard]->transfers.pieces();
    for (size_t i = 0; i < 2; ++i) {
      const auto first =
          std::partition_point(pieces[i].begin(), pieces[i].end(),
                               [&](const Transfer& t) { return t.timestamp_ns <= after_ns; });
      borrowed.pieces[i] = pieces[i].subspan(static_cast<size_t>(first - pieces[i].begin()));
    }
    image.transfer_count_ += borrowed.count();
  }
  if (shard_count_ == 1 && image.shard_transfers_[0].pieces[1].empty()) {
    const std::span<const Transfer> only = image.shard_transfers_[0].pieces[0];
    image.shard_transfers_.clear();
    return std::as_bytes(only);
  }
  return {};
}

// Failures are borrowed only while eviction waits for the image: it frees their slots.
std::span<const std::byte> State::CaptureFailures(EngineSnapshot& image, bool borrow) const {
  const auto pieces = failures_.pieces();
  image.failures_.clear();
  if (borrow && pieces[1].empty()) return std::as_bytes(pieces[0]);
  image.failures_.assign(pieces[0].begin(), pieces[0].end());
  image.failures_.insert(image.failures_.end(), pieces[1].begin(), pieces[1].end());
  return std::as_bytes(std::span<const FailureRecord>(image.failures_));
}

}  // namespace ledger::engine::internal

namespace ledger::engine {

absl::Status EngineSnapshot::MergeTransfers(
    absl::FunctionRef<absl::Status(std::span<const Transfer>)> write) const {
  constexpr size_t kPieceRecords = 16384;  // 2.4 MiB
  std::vector<Transfer> piece;
  piece.reserve(kPieceRecords);
  std::vector<size_t> next(shard_transfers_.size(), 0);
  for (uint64_t done = 0; done < transfer_count_; ++done) {
    size_t oldest = shard_transfers_.size();
    for (size_t shard = 0; shard < shard_transfers_.size(); ++shard) {
      if (next[shard] == shard_transfers_[shard].count()) continue;
      if (oldest == shard_transfers_.size() ||
          shard_transfers_[shard][next[shard]].timestamp_ns <
              shard_transfers_[oldest][next[oldest]].timestamp_ns) {
        oldest = shard;
      }
    }
    piece.push_back(shard_transfers_[oldest][next[oldest]++]);
    if (piece.size() == kPieceRecords || done + 1 == transfer_count_) {
      LEDGER_RETURN_IF_ERROR(write(piece));
      piece.clear();
    }
  }
  return absl::OkStatus();
}

std::span<const SnapshotSection> EngineSnapshot::sections() const {
  if (!shard_transfers_.empty() && merged_transfers_.size() != transfer_count_) {
    merged_transfers_.reserve(transfer_count_);
    const absl::Status merged = MergeTransfers([&](std::span<const Transfer> piece) {
      merged_transfers_.insert(merged_transfers_.end(), piece.begin(), piece.end());
      return absl::OkStatus();
    });
    LEDGER_ASSERT(merged.ok());  // the sink above never fails
    for (SnapshotSection& section : sections_) {
      if (section.kind == SnapshotSectionKind::kTransfers) {
        section.bytes = std::as_bytes(std::span<const Transfer>(merged_transfers_));
      }
    }
  }
  return sections_;
}

absl::Status EngineSnapshot::Stream(StartSection start, WriteBytes write,
                                    absl::FunctionRef<bool(SnapshotSectionKind)> include) const {
  for (const SnapshotSection& section : sections_) {
    if (!include(section.kind)) continue;
    if (section.kind == SnapshotSectionKind::kTransfers && !shard_transfers_.empty()) {
      LEDGER_RETURN_IF_ERROR(
          start(section.kind, section.record_size_bytes, transfer_count_ * sizeof(Transfer)));
      LEDGER_RETURN_IF_ERROR(MergeTransfers(
          [&](std::span<const Transfer> piece) { return write(std::as_bytes(piece)); }));
      continue;
    }
    LEDGER_RETURN_IF_ERROR(start(section.kind, section.record_size_bytes, section.bytes.size()));
    LEDGER_RETURN_IF_ERROR(write(section.bytes));
  }
  return absl::OkStatus();
}

}  // namespace ledger::engine

namespace ledger::engine::internal {

// ---------------------------------------------------------------------------------------------
// Restore

absl::Status State::Restore(std::span<const SnapshotSection> sections) {
  LEDGER_ASSERT(ledgers_.empty() && account_count() == 0 && transfer_count() == 0);
  // Each kind once, except the transfers and changes, which may come in pieces (in order).
  std::vector<std::span<const std::byte>> pieces[kSnapshotSectionCount + 1];
  for (const SnapshotSection& section : sections) {
    const uint32_t kind = static_cast<uint32_t>(section.kind);
    if (kind == 0 || kind > kSnapshotSectionCount) return Corrupt("section", kind, "unknown kind");
    const bool in_pieces = section.kind == SnapshotSectionKind::kTransfers ||
                           section.kind == SnapshotSectionKind::kChanges;
    if (!pieces[kind].empty() && !in_pieces) return Corrupt("section", kind, "appears twice");
    if (section.record_size_bytes != RecordSizeOf(section.kind) ||
        section.bytes.size() % section.record_size_bytes != 0) {
      return Corrupt("section", kind, "wrong record size");
    }
    pieces[kind].push_back(section.bytes);
  }
  const auto section = [&](SnapshotSectionKind kind) {
    return pieces[static_cast<uint32_t>(kind)].front();
  };
  const auto section_pieces = [&](SnapshotSectionKind kind) {
    return std::span<const std::span<const std::byte>>(pieces[static_cast<uint32_t>(kind)]);
  };
  // The version first: an older snapshot also lacks sections, and this says why.
  if (pieces[static_cast<uint32_t>(SnapshotSectionKind::kMeta)].empty()) {
    return Corrupt("meta", 0, "missing or malformed");
  }
  Records<SnapshotMeta> meta(section(SnapshotSectionKind::kMeta));
  if (meta.size() != 1) return Corrupt("meta", 0, "missing or malformed");
  if (meta[0].format_version != kSnapshotFormatVersion &&
      meta[0].format_version != kSnapshotFormatVersionWholeFeed) {
    return absl::DataLossError(absl::StrCat("snapshot: format version ", meta[0].format_version,
                                            ", this engine reads ", kSnapshotFormatVersionWholeFeed,
                                            " and ", kSnapshotFormatVersion));
  }
  if (meta[0].reserved0 != 0 || !IsZero(meta[0].reserved, sizeof(meta[0].reserved)) ||
      meta[0].cold_before_ns > meta[0].last_timestamp_ns + 1) {
    return Corrupt("meta", 0, "malformed");
  }
  for (uint32_t kind = 1; kind <= kSnapshotSectionCount; ++kind) {
    if (pieces[kind].empty()) return Corrupt("section", kind, "missing");
  }
  last_timestamp_ns_ = meta[0].last_timestamp_ns;
  expired_count_ = meta[0].expired_count;
  LEDGER_RETURN_IF_ERROR(
      RestoreColdDigest(section(SnapshotSectionKind::kColdDigest), meta[0].cold_before_ns));

  const uint64_t transfer_count =
      Records<Transfer>(section_pieces(SnapshotSectionKind::kTransfers)).size();
  ReserveForRestore(transfer_count,
                    section(SnapshotSectionKind::kFailures).size() / sizeof(FailureRecord));
  LEDGER_RETURN_IF_ERROR(RestoreLedgers(section(SnapshotSectionKind::kLedgers)));
  Restoring restoring;
  LEDGER_RETURN_IF_ERROR(RestoreAccounts(section(SnapshotSectionKind::kAccounts), restoring));
  {
    std::jthread prefaulting(
        [this, transfer_count](std::stop_token stop) { PrefaultForRestore(transfer_count, stop); });
    LEDGER_RETURN_IF_ERROR(
        RestoreTransfers(section_pieces(SnapshotSectionKind::kTransfers), restoring));
  }
  LEDGER_RETURN_IF_ERROR(RestoreFailures(section(SnapshotSectionKind::kFailures)));
  LEDGER_RETURN_IF_ERROR(
      RestoreReservations(section(SnapshotSectionKind::kReservations), restoring));
  LEDGER_RETURN_IF_ERROR(RestoreExpiries(section(SnapshotSectionKind::kExpiries), restoring));
  LEDGER_RETURN_IF_ERROR(CheckRestoredAccounts(restoring));
  LEDGER_RETURN_IF_ERROR(
      RestoreBalanceHistory(section(SnapshotSectionKind::kBalanceHistory), restoring));
  LEDGER_RETURN_IF_ERROR(
      RestoreChanges(section_pieces(SnapshotSectionKind::kChanges), meta[0], restoring));
  return absl::OkStatus();
}

// Ids spread evenly over the shards, and so do their transfers (by debit account).
uint64_t State::ShareOfShard(uint64_t count) const {
  if (shard_count_ == 1) return count;
  const uint64_t share = count / shard_count_;
  return share + share / 8 + 64;
}

void State::ReserveForRestore(uint64_t transfer_count, uint64_t failure_count) {
  // Grown as they fill (from the options' capacity), the id indexes would place every id
  // again at each doubling, at random. A quarter more: the replay of the log after the
  // snapshot follows, and a doubling in it took a tenth of the replay.
  const uint64_t ids = transfer_count + failure_count;
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    shards_[shard]->transfer_index.Reserve(ShareOfShard(ids + ids / 4));
  }
}

void State::PrefaultForRestore(uint64_t transfer_count, std::stop_token stop) const {
  // Faulted in on another core while the restoring one fills them: the kernel zeroes each
  // fresh page as it faults, which took a third of a restore when the restoring thread took
  // the faults itself. In steps, so that the restore soon finds its pages ready; each step
  // walks the pages faulted before again, which costs little next to faulting them.
  constexpr uint64_t kStepTransfers = uint64_t{1} << 16;
  const uint64_t share = ShareOfShard(transfer_count);
  for (uint64_t done = 0; done < share && !stop.stop_requested();) {
    done = std::min(share, done + kStepTransfers);
    for (uint32_t shard = 0; shard < shard_count_; ++shard) {
      const Shard& table = *shards_[shard];
      table.transfers.PrefaultBeside(done);
      table.transfer_accounts.PrefaultBeside(done);
      table.history.PrefaultBeside(3 * done);  // two entries a transfer, and the lists' slack
    }
  }
}

// What left memory: the cold store must be there to answer for it (a windowed snapshot restores
// only onto an engine given the store its facts went to).
absl::Status State::RestoreColdDigest(std::span<const std::byte> bytes, uint64_t cold_before_ns) {
  Records<ColdDigest> digest(bytes);
  if (digest.size() != 1) return Corrupt("cold digest", 0, "missing or malformed");
  const ColdDigest cold = digest[0];
  const bool empty = cold.transfer_count == 0 && cold.failure_count == 0 &&
                     cold.transfers == base::Hash128{} && cold.failures == base::Hash128{} &&
                     cold.expiries == base::Hash128{};
  if (cold_before_ns == 0 && !empty) return Corrupt("cold digest", 0, "without a cold boundary");
  if (cold_before_ns != 0 && cold_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot: the facts booked before ", cold_before_ns,
                     " are in a cold store, and the engine was given none"));
  }
  cold_digest_ = cold;
  cold_before_ns_ = cold_before_ns;
  exported_before_ns_ = cold_before_ns;
  return absl::OkStatus();
}

absl::Status State::RestoreLedgers(std::span<const std::byte> bytes) {
  Records<Ledger> ledgers(bytes);
  for (size_t i = 0; i < ledgers.size(); ++i) {
    const Ledger ledger = ledgers[i];
    // The imported flag is accepted (booked at its own timestamp); other flag bits are not.
    if (ValidateLedgerFields(ledger) != CreateLedgerResult::kOk || ledger.timestamp_ns == 0 ||
        ledger.timestamp_ns > last_timestamp_ns_) {
      return Corrupt("ledger", i, "invalid fields");
    }
    if (!ledger_index_.emplace(ledger.id, static_cast<uint32_t>(ledgers_.size())).second) {
      return Corrupt("ledger", i, "duplicate id");
    }
    ledgers_.push_back(ledger);
  }
  return absl::OkStatus();
}

absl::Status State::RestoreAccounts(std::span<const std::byte> bytes, Restoring& restoring) {
  Records<Account> accounts(bytes);
  if (!HasRoomFor(accounts.size(), 0)) return Corrupt("accounts", 0, "too many");
  restoring.account_refs.reserve(accounts.size());
  uint64_t previous_timestamp_ns = 0;
  for (size_t i = 0; i < accounts.size(); ++i) {
    const Account account = accounts[i];
    Account fresh = account;
    fresh.timestamp_ns = 0;
    fresh.debits_pending = fresh.debits_posted = fresh.credits_pending = fresh.credits_posted = {};
    fresh.flags &= static_cast<uint16_t>(~account_flags::kClosed);  // state, not a creation flag
    if (ValidateAccountFields(fresh) != CreateAccountResult::kOk ||
        (account.flags & account_flags::kLinked) != 0 || !ledger_index_.contains(account.ledger) ||
        account.timestamp_ns <= previous_timestamp_ns ||
        account.timestamp_ns > last_timestamp_ns_) {
      return Corrupt("account", i, "invalid fields");
    }
    previous_timestamp_ns = account.timestamp_ns;
    const uint32_t hash = HashId(account.id.lo, account.id.hi);
    if (FindAccount(account.id, hash) != kNoRef) return Corrupt("account", i, "duplicate id");
    AccountRecord record{};
    record.id = account.id;
    record.ledger = account.ledger;
    record.user_data_128 = account.user_data_128;
    record.user_data_64 = account.user_data_64;
    record.user_data_32 = account.user_data_32;
    record.code = account.code;
    record.timestamp_ns = account.timestamp_ns;
    const uint32_t home = HomeOf(account.id);
    const uint32_t local_slot = static_cast<uint32_t>(shards_[home]->accounts.Append(record));
    shards_[home]->account_index.Insert(hash, local_slot);
    const Ref ref = MakeRef(home, local_slot);
    IndexAccount(ref);
    restoring.account_refs.push_back(ref);
    WriteAccountState(ref,
                      {account.debits_pending, account.debits_posted, account.credits_pending,
                       account.credits_posted},
                      account.flags);
  }
  restoring.derived.resize(shard_count_);
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    restoring.derived[shard].resize(shards_[shard]->accounts.size());
  }
  return absl::OkStatus();
}

absl::Status State::RestoreTransfers(std::span<const std::span<const std::byte>> pieces,
                                     Restoring& restoring) {
  Records<Transfer> transfers(pieces);
  if (!HasRoomFor(0, transfers.size())) return Corrupt("transfers", 0, "too many");
  restoring.transfer_refs.reserve(transfers.size());
  uint64_t previous_timestamp_ns = 0;
  // Index probes are random: hash the ids kRestoreAhead records early and prefetch their
  // buckets, as the apply loop does (restore was bound by these misses).
  constexpr size_t kRestoreAhead = 16;
  TransferHashes ahead[kRestoreAhead];
  for (size_t i = 0; i < std::min(transfers.size(), kRestoreAhead); ++i) {
    ahead[i] = HashAndPrefetch(transfers[i]);
  }
  for (size_t i = 0; i < transfers.size(); ++i) {
    const Transfer transfer = transfers[i];
    const TransferHashes hashes = ahead[i % kRestoreAhead];
    if (i + kRestoreAhead < transfers.size()) {
      ahead[i % kRestoreAhead] = HashAndPrefetch(transfers[i + kRestoreAhead]);
    }
    LEDGER_RETURN_IF_ERROR(CheckTransferFields(transfer, i, previous_timestamp_ns));
    if (transfer.timestamp_ns < cold_before_ns_) {
      return Corrupt("transfer", i, "booked before the cold boundary");
    }
    previous_timestamp_ns = transfer.timestamp_ns;
    TransferLinks links;
    LEDGER_RETURN_IF_ERROR(FindTransferLinks(transfer, i, hashes, links));
    restoring.transfer_refs.push_back(StoreRestoredTransfer(transfer, hashes.id, links));
    // Balances as the transfers say; reservations are released in RestoreReservations. With
    // a cold part only the pending balances can be derived (from the reservations).
    if (cold_before_ns_ == 0 && !AddToDerived(transfer, DerivedOf(restoring, links.debit),
                                              DerivedOf(restoring, links.credit))) {
      return Corrupt("transfer", i, "balances overflow");
    }
  }
  return absl::OkStatus();
}

State::TransferHashes State::HashAndPrefetch(const Transfer& record) const {
  const TransferHashes hashes = {HashId(record.id.lo, record.id.hi),
                                 HashId(record.debit_account_id.lo, record.debit_account_id.hi),
                                 HashId(record.credit_account_id.lo, record.credit_account_id.hi)};
  shards_[HomeOf(record.id)]->transfer_index.Prefetch(hashes.id);
  shards_[HomeOf(record.debit_account_id)]->account_index.Prefetch(hashes.debit);
  shards_[HomeOf(record.credit_account_id)]->account_index.Prefetch(hashes.credit);
  return hashes;
}

// The record alone: what an event must satisfy, and what booking made of it.
absl::Status State::CheckTransferFields(const Transfer& transfer, uint64_t index,
                                        uint64_t previous_timestamp_ns) const {
  // A stored amount may be 0 where an event's may not: a balancing transfer clamped to
  // nothing, or the post/void of such a reservation.
  constexpr uint16_t kMayMoveNothing = transfer_flags::kBalancingDebit |
                                       transfer_flags::kBalancingCredit | kPostPending |
                                       kVoidPending;
  Transfer fresh = transfer;
  fresh.timestamp_ns = 0;
  if (fresh.amount.IsZero()) fresh.amount = Amount::From(1);
  if (ValidateTransferFields(fresh) != CreateTransferResult::kOk ||
      (transfer.amount.IsZero() && (transfer.flags & kMayMoveNothing) == 0)) {
    return Corrupt("transfer", index, "invalid fields");
  }
  if ((transfer.flags & transfer_flags::kLinked) != 0 ||
      transfer.timestamp_ns <= previous_timestamp_ns ||
      transfer.timestamp_ns > last_timestamp_ns_) {
    return Corrupt("transfer", index, "invalid flags or timestamp");
  }
  return absl::OkStatus();
}

// What the record names, in the tables restored so far: a new id, its accounts, and the
// reservation it posts or voids or the transfer it reverses, each as booking would have found
// them.
absl::Status State::FindTransferLinks(const Transfer& transfer, uint64_t index,
                                      const TransferHashes& hashes, TransferLinks& links) const {
  if (FindTransferPayload(transfer.id, hashes.id) != HashIndex::kNotFound) {
    return Corrupt("transfer", index, "duplicate id");
  }
  links.debit = FindAccount(transfer.debit_account_id, hashes.debit);
  links.credit = FindAccount(transfer.credit_account_id, hashes.credit);
  if (links.debit == kNoRef || links.credit == kNoRef ||
      account(links.debit).ledger != transfer.ledger ||
      account(links.credit).ledger != transfer.ledger ||
      account(links.debit).timestamp_ns > transfer.timestamp_ns ||
      account(links.credit).timestamp_ns > transfer.timestamp_ns) {
    return Corrupt("transfer", index, "unknown accounts or ledger");
  }
  if ((transfer.flags & (kPostPending | kVoidPending)) != 0) {
    const std::optional<Transfer> reservation = FindAnyTransfer(transfer.pending_id);
    if (!reservation || (reservation->flags & kPending) == 0 ||
        reservation->debit_account_id != transfer.debit_account_id ||
        reservation->credit_account_id != transfer.credit_account_id ||
        reservation->code != transfer.code || transfer.amount > reservation->amount ||
        ((transfer.flags & kVoidPending) != 0 && transfer.amount != reservation->amount)) {
      return Corrupt("transfer", index, "does not match its reservation");
    }
  }
  links.reversed_home = kNoSlot;
  if (!transfer.reverses_id.IsZero() &&
      CheckReversal(transfer, &links.reversed_home) != CreateTransferResult::kOk) {
    return Corrupt("transfer", index, "invalid reversal");
  }
  return absl::OkStatus();
}

// Appends the checked record to its debit account's shard, indexes it (by id and for
// queries), and rebuilds what is
// derived from it: both histories and the reversed transfer's sum.
Ref State::StoreRestoredTransfer(const Transfer& transfer, uint32_t id_hash,
                                 const TransferLinks& links) {
  const uint32_t home = shard_index_of(links.debit);
  const Ref ref = MakeRef(home, shards_[home]->transfers.Append(transfer));
  const auto history_bit = [&](Ref account_ref) {
    return (account(account_ref).flags & account_flags::kHistory) != 0
               ? TransferAccounts::kHistoryBit
               : 0;
  };
  shards_[home]->transfer_accounts.Append({links.debit.bits() | history_bit(links.debit),
                                           links.credit.bits() | history_bit(links.credit)});
  shards_[HomeOf(transfer.id)]->transfer_index.Insert(id_hash, ref.bits());
  IndexTransfer(ref);
  shard_of(links.debit).history.Append(account(links.debit), ref);
  shard_of(links.credit).history.Append(account(links.credit), ref);
  if (links.reversed_home != kNoSlot) {
    ReversalState& reversal = shards_[links.reversed_home]->reversals[transfer.reverses_id];
    reversal.reversed = Amount::From(reversal.reversed.Get() + transfer.amount.Get());
    reversal.reversal_refs.push_back(ref);
  }
  return ref;
}

absl::Status State::RestoreFailures(std::span<const std::byte> bytes) {
  Records<FailureRecord> failures(bytes);
  if (failures.size() > failures_.capacity()) return Corrupt("failures", 0, "too many");
  uint64_t previous_timestamp_ns = 0;
  for (size_t i = 0; i < failures.size(); ++i) {
    const FailureRecord failure = failures[i];
    // The event as submitted passed validation (failures come after it), and was recorded
    // without kLinked at the timestamp it would have been booked at (an imported one at its
    // own), in log order.
    if (ValidateTransferFields(failure.event) != CreateTransferResult::kOk ||
        (failure.event.flags & transfer_flags::kLinked) != 0 || !IsRecordedFailure(failure.code) ||
        !IsZero(failure.reserved, sizeof(failure.reserved))) {
      return Corrupt("failure", i, "invalid fields");
    }
    // Native failures were recorded in log order at their batch's times. An imported one has
    // its own time, which a failed chain leaves above the ledger's last timestamp (the failure
    // stays, the chain's bookings go), so only its range is checked.
    const uint64_t failed_ns = failure.event.timestamp_ns;
    if ((failure.event.flags & transfer_flags::kImported) != 0) {
      if (failed_ns == 0 || failed_ns >= kTimestampLimitNs) {
        return Corrupt("failure", i, "timestamp out of range");
      }
    } else if (failed_ns <= previous_timestamp_ns || failed_ns > last_timestamp_ns_) {
      return Corrupt("failure", i, "timestamp out of order");
    } else {
      previous_timestamp_ns = failed_ns;
    }
    const TransferId id = failure.event.id;
    const uint32_t hash = HashId(id.lo, id.hi);
    if (FindTransferPayload(id, hash) != HashIndex::kNotFound) {
      return Corrupt("failure", i, "duplicate id");
    }
    AppendFailure(failure, hash);
  }
  return absl::OkStatus();
}

absl::Status State::RestoreReservations(std::span<const std::byte> bytes, Restoring& restoring) {
  Records<ReservationRecord> reservations(bytes);
  const std::vector<Ref>& refs = restoring.transfer_refs;
  uint64_t pending_transfers = 0;
  uint64_t resolving_transfers = 0;
  for (Ref ref : refs) {
    pending_transfers += (transfer(ref).flags & kPending) != 0 ? 1 : 0;
    resolving_transfers += (transfer(ref).flags & (kPostPending | kVoidPending)) != 0 ? 1 : 0;
  }
  uint64_t in_window = 0;  // reservations whose record is in the transfers section
  uint64_t resolved = 0;
  for (size_t i = 0; i < reservations.size(); ++i) {
    const ReservationRecord record = reservations[i];
    if ((i > 0 && record.booked_ns <= reservations[i - 1].booked_ns) ||
        record.debit_account_slot >= restoring.account_refs.size() ||
        record.credit_account_slot >= restoring.account_refs.size() ||
        !IsZero(record.reserved, sizeof(record.reserved))) {
      return Corrupt("reservation", i, "invalid order, slots or reserved bytes");
    }
    LEDGER_RETURN_IF_ERROR(CheckReservation(record, i, restoring));
    AddRestoredReservation(record, restoring);
    in_window += record.booked_ns >= cold_before_ns_ ? 1 : 0;
    resolved +=
        record.status == PendingStatus::kPosted || record.status == PendingStatus::kVoided ? 1 : 0;
    restoring.expired_states += record.status == PendingStatus::kExpired ? 1 : 0;
  }
  if (in_window != pending_transfers) {
    return Corrupt("reservations", in_window, "count differs from pending transfers");
  }
  if (resolved != resolving_transfers) {
    return Corrupt("reservations", resolved, "posts and voids without a reservation");
  }
  return absl::OkStatus();
}

// A record against its reservation (in the transfers section, or cold before the boundary) and
// a resolved one against its resolving transfer, which is in the section.
absl::Status State::CheckReservation(const ReservationRecord& record, uint64_t index,
                                     const Restoring& restoring) const {
  std::optional<Transfer> reservation;
  if (record.booked_ns < cold_before_ns_) {
    reservation = FindColdTransfer(record.id);
  } else if (const Ref ref = FindTransfer(record.id); ref != kNoRef) {
    reservation = transfer(ref);
  }
  uint64_t expires_at_ns = 0;
  if (!reservation || (reservation->flags & kPending) == 0 ||
      reservation->timestamp_ns != record.booked_ns || reservation->amount != record.amount ||
      reservation->flags != record.flags || reservation->code != record.code ||
      reservation->debit_account_id !=
          account(restoring.account_refs[record.debit_account_slot]).id ||
      reservation->credit_account_id !=
          account(restoring.account_refs[record.credit_account_slot]).id ||
      (reservation->timeout_s != 0 &&
       (__builtin_add_overflow(reservation->timestamp_ns,
                               uint64_t{reservation->timeout_s} * 1'000'000'000, &expires_at_ns) ||
        expires_at_ns >= kTimestampLimitNs)) ||
      record.expires_at_ns != expires_at_ns) {
    return Corrupt("reservation", index, "does not match its transfer");
  }
  const std::vector<Ref>& refs = restoring.transfer_refs;
  if (record.status == PendingStatus::kPosted || record.status == PendingStatus::kVoided) {
    const uint16_t kind = record.status == PendingStatus::kPosted ? kPostPending : kVoidPending;
    if (record.resolver_slot >= refs.size() ||
        transfer(refs[record.resolver_slot]).timestamp_ns <= record.booked_ns ||
        (transfer(refs[record.resolver_slot]).flags & kind) == 0 ||
        transfer(refs[record.resolver_slot]).pending_id != record.id) {
      return Corrupt("reservation", index, "invalid resolving transfer");
    }
  } else if ((record.status != PendingStatus::kPending &&
              (record.status != PendingStatus::kExpired || expires_at_ns == 0)) ||
             record.resolver_slot != kNoSlot) {
    return Corrupt("reservation", index, "invalid status");
  }
  return absl::OkStatus();
}

// A checked record's state (for one whose record is cold, an index entry naming its shard);
// while pending, its count and place in the expiry queue. The derived pending balances: without
// a cold part, a resolved or expired one's amount is released from what its transfer added;
// with one, a pending one's amount is added (nothing else derives them).
void State::AddRestoredReservation(const ReservationRecord& record, Restoring& restoring) {
  const Ref debit_ref = restoring.account_refs[record.debit_account_slot];
  const Ref credit_ref = restoring.account_refs[record.credit_account_slot];
  const bool is_resolved =
      record.status == PendingStatus::kPosted || record.status == PendingStatus::kVoided;
  const Ref resolver_ref = is_resolved ? restoring.transfer_refs[record.resolver_slot] : kNoRef;
  const uint32_t home = shard_index_of(debit_ref);
  Shard& shard = *shards_[home];
  shard.pending.emplace(
      record.id, PendingState{record.amount, record.expires_at_ns, record.booked_ns, debit_ref,
                              credit_ref, resolver_ref, record.flags, record.code, record.status});
  if (record.booked_ns < cold_before_ns_) {
    shards_[HomeOf(record.id)]->transfer_index.Insert(HashId(record.id.lo, record.id.hi),
                                                      kKeptBits | home);
    shard.kept_ids.insert(record.id);
  }
  Balances& d = DerivedOf(restoring, debit_ref);
  Balances& c = DerivedOf(restoring, credit_ref);
  if (record.status == PendingStatus::kPending) {
    ++shard.pending_count;
    if (record.expires_at_ns != 0) {
      shard.expiry_queue.push({record.expires_at_ns, record.booked_ns, record.id});
    }
    if (cold_before_ns_ != 0) {
      d.debits_pending = Amount::From(d.debits_pending.Get() + record.amount.Get());
      c.credits_pending = Amount::From(c.credits_pending.Get() + record.amount.Get());
    }
    return;
  }
  if (cold_before_ns_ != 0) return;
  d.debits_pending = Amount::From(d.debits_pending.Get() - record.amount.Get());
  c.credits_pending = Amount::From(c.credits_pending.Get() - record.amount.Get());
}

absl::Status State::RestoreExpiries(std::span<const std::byte> bytes, const Restoring& restoring) {
  Records<ExpiryFact> expiries(bytes);
  // Each in memory has its reservation's state (kept until the expiry leaves), and without a
  // cold part they are all there.
  if (expiries.size() != restoring.expired_states ||
      (cold_before_ns_ == 0 && expiries.size() != expired_count_)) {
    return Corrupt("expiries", 0, "count differs");
  }
  uint64_t previous_ns = 0;
  for (size_t i = 0; i < expiries.size(); ++i) {
    const ExpiryFact fact = expiries[i];
    const uint32_t payload = FindTransferPayload(fact.id, HashId(fact.id.lo, fact.id.hi));
    uint32_t home = kNoSlot;
    if ((payload & kFailedBit) == 0) home = shard_index_of(Ref::FromBits(payload));
    if (payload != HashIndex::kNotFound && IsKept(payload)) home = payload & ~kKeptBits;
    // find, not at: the id may name a transfer that never was a reservation (at would throw).
    const PendingState* state = nullptr;
    if (home != kNoSlot) {
      const auto found = shards_[home]->pending.find(fact.id);
      if (found != shards_[home]->pending.end()) state = &found->second;
    }
    if (state == nullptr || state->status != PendingStatus::kExpired || fact.reserved != 0 ||
        fact.timestamp_ns < state->expires_at_ns || fact.timestamp_ns < previous_ns ||
        fact.timestamp_ns < cold_before_ns_ || fact.timestamp_ns > last_timestamp_ns_) {
      return Corrupt("expiry", i, "names no reservation that expired then, in log order");
    }
    previous_ns = fact.timestamp_ns;
    expiries_->Append({fact.id, fact.timestamp_ns, home});
  }
  return absl::OkStatus();
}

absl::Status State::CheckRestoredAccounts(Restoring& restoring) const {
  // An account is closed while a closing reservation of its side is pending or posted.
  RefMap<bool> closed;  // by account ref: few accounts are closed
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    for (const auto& [id, state] : shards_[shard]->pending) {
      if (state.status != PendingStatus::kPending && state.status != PendingStatus::kPosted) {
        continue;
      }
      const uint16_t flags = state.flags;
      if ((flags & transfer_flags::kClosingDebit) != 0) closed[state.debit_ref] = true;
      if ((flags & transfer_flags::kClosingCredit) != 0) closed[state.credit_ref] = true;
    }
  }
  // With a cold part the posted balances follow from transfers not here: only the pending ones
  // are checked (`ledger-wal verify` replays the log for the rest).
  const bool posted_derived = cold_before_ns_ == 0;
  for (uint64_t index = 0; index < restoring.account_refs.size(); ++index) {
    const Ref ref = restoring.account_refs[index];
    const Balances actual = GetBalances(ref);
    const Balances& expected = DerivedOf(restoring, ref);
    if (actual.debits_pending != expected.debits_pending ||
        actual.credits_pending != expected.credits_pending ||
        (posted_derived && (actual.debits_posted != expected.debits_posted ||
                            actual.credits_posted != expected.credits_posted))) {
      return Corrupt("account", index, "balances differ from its transfers");
    }
    // A closing reservation posted long ago may be cold: then only its presence is checked.
    const bool is_closed = (account(ref).flags & account_flags::kClosed) != 0;
    if (posted_derived ? is_closed != closed.contains(ref) : !is_closed && closed.contains(ref)) {
      return Corrupt("account", index, "closed flag differs from its closing transfers");
    }
  }
  return absl::OkStatus();
}

absl::Status State::RestoreBalanceHistory(std::span<const std::byte> bytes,
                                          const Restoring& restoring) {
  Records<BalanceHistoryRecord> records(bytes);
  for (size_t i = 0; i < records.size(); ++i) {
    const BalanceHistoryRecord record = records[i];
    if (record.account_slot >= restoring.account_refs.size() || record.reserved != 0 ||
        record.balance.reserved != 0 ||
        (account(restoring.account_refs[record.account_slot]).flags & account_flags::kHistory) ==
            0) {
      return Corrupt("balance history", i, "invalid account");
    }
    const Ref ref = restoring.account_refs[record.account_slot];
    BalanceHistory& snapshots = shard_of(ref).balance_history[ref];
    const uint64_t after_ns =
        snapshots.empty() ? account(ref).timestamp_ns : snapshots.back().timestamp_ns;
    if (record.balance.timestamp_ns <= after_ns ||
        record.balance.timestamp_ns > last_timestamp_ns_) {
      return Corrupt("balance history", i, "timestamps out of order");
    }
    snapshots.push_back(record.balance);
  }
  // The newest snapshot of an account is its balance now.
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    for (const auto& [ref, snapshots] : shards_[shard]->balance_history) {
      const Balances now = GetBalances(ref);
      const AccountBalance& last = snapshots.back();
      if (last.debits_pending != now.debits_pending || last.debits_posted != now.debits_posted ||
          last.credits_pending != now.credits_pending ||
          last.credits_posted != now.credits_posted) {
        return Corrupt("balance history", ref.bits(), "newest entry differs from the balances");
      }
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Restore: the change feed

absl::Status State::RestoreChanges(std::span<const std::span<const std::byte>> pieces,
                                   const SnapshotMeta& meta, const Restoring& restoring) {
  const std::vector<Ref>& refs = restoring.transfer_refs;  // booking order
  const uint64_t next_sequence = meta.change_sequence_next;
  if (next_sequence != transfer_count() + expired_count_) {
    return Corrupt("meta", 0, "change sequence differs from the transfers and expiries");
  }
  // The held changes, the oldest retained ones, are read where the snapshot holds them, from
  // the newest back (the order the balances undo in). Format 3 holds every retained change.
  const Records<Change> held(pieces);
  const uint64_t retained = meta.format_version == kSnapshotFormatVersionWholeFeed
                                ? held.size()
                                : meta.retained_change_count;
  if (held.size() > retained || retained > next_sequence) {
    return Corrupt("changes", held.size(), "more than the feed retained or the sequence counter");
  }
  const uint64_t oldest = next_sequence - retained;
  // Every transfer booked since the oldest held change is in the feed, in booking order: from
  // the newest back, the changes name the window's transfers from the newest back.
  uint64_t window_begin = 0;
  if (held.size() > 0) {
    window_begin = static_cast<uint64_t>(
        std::lower_bound(refs.begin(), refs.end(), held[0].timestamp_ns,
                         [&](Ref ref, uint64_t t) { return transfer(ref).timestamp_ns < t; }) -
        refs.begin());
  }
  WindowCursor window{refs.size(), expiries_->end_position()};
  const std::span<Change> kept = changes_.RestoreNewest(retained);
  const uint64_t first_kept = retained - kept.size();
  RefMap<Balances> running;  // by account ref: its balances after change i
  Change later{};            // change i + 1
  for (uint64_t i = retained; i-- > 0;) {
    const bool derived = i >= held.size();
    Change change{};
    Transfer named;
    if (derived) {
      if (!NextWindowChange(refs, window_begin, window, change, named)) {
        return Corrupt("change", i, "the window holds fewer changes than the feed retained");
      }
      change.sequence = oldest + i;
    } else {
      change = held[i];
      LEDGER_RETURN_IF_ERROR(
          NameHeldChange(change, i, oldest, refs, window_begin, window.transfer, named));
      if (i + 1 < retained && !IsInLogOrder(change, later)) {
        return Corrupt("change", i + 1, "out of log order");
      }
    }
    LEDGER_RETURN_IF_ERROR(UndoChange(change, derived, named, i, running));
    if (i >= first_kept) kept[i - first_kept] = change;
    later = change;
  }
  if (held.size() > 0 && window.transfer != window_begin) {
    return Corrupt("transfer", window_begin, "booked within the change window but not in it");
  }
  return absl::OkStatus();
}

// The window's newest transfer or expiry not yet taken (the later in the log of the two:
// timestamps rise along the log, and an expiry's batch books its transfers after it), as its
// change without the sequence and balances, and the transfer it names; false if none is left.
bool State::NextWindowChange(const std::vector<Ref>& refs, uint64_t window_begin,
                             WindowCursor& window, Change& change, Transfer& named) const {
  const bool transfer_left = window.transfer > window_begin;
  const bool expiry_left = window.expiry > expiries_->begin_position();
  if (!transfer_left && !expiry_left) return false;
  if (expiry_left && (!transfer_left || expiries_->at(window.expiry - 1).timestamp_ns >
                                            transfer(refs[window.transfer - 1]).timestamp_ns)) {
    const ExpiredRecord& expiry = expiries_->at(--window.expiry);
    const std::optional<Transfer> reservation = FindAnyTransfer(expiry.id);
    if (!reservation) return false;  // RestoreExpiries found it: unreachable
    named = *reservation;
    change.timestamp_ns = expiry.timestamp_ns;
    change.transfer_id = expiry.id;
    change.kind = ChangeKind::kExpired;
    return true;
  }
  named = transfer(refs[--window.transfer]);
  change.timestamp_ns = named.timestamp_ns;
  change.transfer_id = named.id;
  change.kind = ChangeKindOf(named);
  return true;
}

// A change the snapshot holds must name what was booked: an expired reservation, a cold
// transfer, or the next transfer of the window from the newest back (`index` moves past it).
absl::Status State::NameHeldChange(const Change& change, uint64_t i, uint64_t oldest,
                                   const std::vector<Ref>& refs, uint64_t window_begin,
                                   uint64_t& index, Transfer& named) const {
  if (change.sequence != oldest + i || static_cast<uint8_t>(change.kind) >= kChangeKindCount ||
      !IsZero(change.reserved, sizeof(change.reserved))) {
    return Corrupt("change", i, "invalid sequence, kind or reserved bytes");
  }
  if (change.kind == ChangeKind::kExpired) {
    const std::optional<Transfer> reservation = FindAnyTransfer(change.transfer_id);
    if (!reservation || (reservation->flags & kPending) == 0 ||
        GetHeldStatus(*reservation).status != PendingStatus::kExpired ||
        GetHeldStatus(*reservation).expires_at_ns > change.timestamp_ns ||
        change.timestamp_ns > last_timestamp_ns_) {
      return Corrupt("change", i, "names no reservation that expired then");
    }
    named = *reservation;
  } else if (change.timestamp_ns < cold_before_ns_) {
    // Booked before the window: the cold store has it.
    const std::optional<Transfer> cold = FindColdTransfer(change.transfer_id);
    if (!cold || cold->timestamp_ns != change.timestamp_ns || ChangeKindOf(*cold) != change.kind) {
      return Corrupt("change", i, "differs from the cold transfer it names");
    }
    named = *cold;
  } else if (index <= window_begin || transfer(refs[index - 1]).id != change.transfer_id ||
             transfer(refs[index - 1]).timestamp_ns != change.timestamp_ns ||
             ChangeKindOf(transfer(refs[index - 1])) != change.kind) {
    return Corrupt("change", i, "differs from the transfer booked next");
  } else {
    named = transfer(refs[--index]);
  }
  return absl::OkStatus();
}

// Both changes are known to name what they should. Timestamps rise along the log, except that
// the expiries of one batch share its timestamp and come in order of expiry, then booking.
bool State::IsInLogOrder(const Change& previous, const Change& change) const {
  if (change.timestamp_ns > previous.timestamp_ns) return true;
  if (change.timestamp_ns < previous.timestamp_ns || previous.kind != ChangeKind::kExpired ||
      change.kind != ChangeKind::kExpired) {
    return false;
  }
  const Transfer earlier = *FindAnyTransfer(previous.transfer_id);
  const Transfer later = *FindAnyTransfer(change.transfer_id);
  return std::pair(GetHeldStatus(earlier).expires_at_ns, earlier.timestamp_ns) <
         std::pair(GetHeldStatus(later).expires_at_ns, later.timestamp_ns);
}

// Change i (of `transfer`) reports the balances its two accounts have at that point: their
// balances now (first seen) less the effects of the later changes, undone in `running` already.
// A derived change takes them; a held one must report them. Then undoes it there.
absl::Status State::UndoChange(Change& change, bool derived, const Transfer& transfer, size_t i,
                               RefMap<Balances>& running) const {
  const Ref debit_ref = FindAccount(transfer.debit_account_id);
  const Ref credit_ref = FindAccount(transfer.credit_account_id);
  for (Ref ref : {debit_ref, credit_ref}) {
    if (running.try_emplace(ref).second) running[ref] = GetBalances(ref);
  }
  Balances& d = running.at(debit_ref);  // no insertion from here on: references hold
  Balances& c = running.at(credit_ref);
  if (derived) {
    change.debit_balance = d;
    change.credit_balance = c;
  } else if (d != change.debit_balance || c != change.credit_balance) {
    return Corrupt("change", i, "balances differ from the state");
  }
  Amount posted;    // moved into the posted balances
  Amount reserved;  // moved into the pending balances
  Amount released;  // moved out of the pending balances
  const Amount reservation_amount =
      change.kind == ChangeKind::kPosted || change.kind == ChangeKind::kVoided
          ? ReservationAmount(transfer.pending_id)
          : transfer.amount;
  switch (change.kind) {
    case ChangeKind::kSinglePhase:
      posted = transfer.amount;
      break;
    case ChangeKind::kPending:
      reserved = transfer.amount;
      break;
    case ChangeKind::kPosted:
      posted = transfer.amount;
      released = reservation_amount;
      break;
    case ChangeKind::kVoided:
    case ChangeKind::kExpired:
      released = reservation_amount;
      break;
  }
  if (!CheckedSub(d.debits_posted, posted, &d.debits_posted) ||
      !CheckedSub(c.credits_posted, posted, &c.credits_posted) ||
      !CheckedSub(d.debits_pending, reserved, &d.debits_pending) ||
      !CheckedSub(c.credits_pending, reserved, &c.credits_pending) ||
      !CheckedAdd(d.debits_pending, released, &d.debits_pending) ||
      !CheckedAdd(c.credits_pending, released, &c.credits_pending)) {
    return Corrupt("change", i, "balances do not follow from the earlier ones");
  }
  return absl::OkStatus();
}

}  // namespace ledger::engine::internal
