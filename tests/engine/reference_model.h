// A deliberately simple, obviously correct implementation of docs/data-model.md: the oracle the
// engine is held to by the property tests.
//
// Written independently of engine/internal/: ordered std::maps and vectors, plain u128
// arithmetic with an explicit overflow check on every sum, and the precedence tables of the
// data model transcribed one `if` per row. Chains copy the whole state before they start and
// restore the copy when they fail. Speed is not a goal: the model only has to be right.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/types.h"

namespace ledger::testing {

class ReferenceModel {
 public:
  // change_feed_capacity: as EngineOptions's; the model keeps every change and only answers
  // for the newest this many.
  explicit ReferenceModel(uint64_t change_feed_capacity = 0)
      : change_feed_capacity_(change_feed_capacity) {}

  // Each Create* applies one batch booked at timestamp_ns (which must exceed
  // last_timestamp_ns()) and returns one result per event.
  std::vector<CreateLedgerResult> CreateLedgers(std::span<const Ledger> events,
                                                uint64_t timestamp_ns);
  std::vector<CreateAccountResult> CreateAccounts(std::span<const Account> events,
                                                  uint64_t timestamp_ns);
  std::vector<CreateTransferResult> CreateTransfers(std::span<const Transfer> events,
                                                    uint64_t timestamp_ns);

  std::optional<Ledger> LookupLedger(uint32_t ledger_id) const;
  std::optional<Account> LookupAccount(AccountId id) const;
  std::optional<Transfer> LookupTransfer(TransferId id) const;
  std::optional<FailedTransfer> LookupFailedTransfer(TransferId id) const;
  PendingStatus GetPendingStatus(TransferId id) const;
  Amount GetPostedAmount(TransferId pending_id) const;
  Amount GetReversedAmount(TransferId id) const;
  std::vector<TransferId> GetReversals(TransferId id) const;
  // As Engine's, from the model's own records: its definition of each field, in one place.
  std::optional<TransferStatus> GetTransferStatus(TransferId id) const;

  // Queries mirror Engine's; out_size_max stands for the size of the engine's output span.
  std::vector<Transfer> GetAccountTransfers(const AccountFilter& filter,
                                            size_t out_size_max = SIZE_MAX) const;
  std::vector<AccountBalance> GetAccountBalances(const AccountFilter& filter,
                                                 size_t out_size_max = SIZE_MAX) const;
  std::optional<AccountBalance> GetBalanceAsOf(AccountId id, uint64_t timestamp_ns) const;
  std::vector<Account> QueryAccounts(const QueryFilter& filter,
                                     size_t out_size_max = SIZE_MAX) const;
  std::vector<Transfer> QueryTransfers(const QueryFilter& filter,
                                       size_t out_size_max = SIZE_MAX) const;
  std::optional<PostedAtValueTime> GetPostedAtValueTime(AccountId id, uint64_t value_time_ns) const;
  TrialBalance GetTrialBalance(uint32_t ledger_id) const;

  // The change feed, as Engine's: changes with sequence >= from_sequence, oldest first, at most
  // out_size_max; nothing below change_sequence_oldest().
  std::vector<Change> GetChanges(uint64_t from_sequence, size_t out_size_max = SIZE_MAX) const;
  uint64_t change_sequence_next() const { return state_.changes.size(); }
  uint64_t change_sequence_oldest() const;

  uint64_t last_timestamp_ns() const { return state_.last_timestamp_ns; }

  // The counts of EngineStats, for comparison.
  struct Counts {
    uint64_t ledger_count = 0;
    uint64_t account_count = 0;
    uint64_t transfer_count = 0;
    uint64_t pending_count = 0;
    uint64_t failed_transfer_count = 0;
    uint64_t expired_count = 0;
  };
  Counts GetCounts() const;

 private:
  // A reservation's fate. expires_at_ns == 0: no timeout.
  struct Reservation {
    PendingStatus status = PendingStatus::kPending;
    uint64_t expires_at_ns = 0;
    u128 posted_amount = 0;
    u128 resolved_by = 0;  // the post or void
  };

  // The whole logical state. Copyable on purpose: a chain snapshots it and restores it.
  struct State {
    uint64_t last_timestamp_ns = 0;
    std::map<uint32_t, Ledger> ledgers;
    std::map<u128, Account> accounts;
    std::map<u128, Transfer> transfers;
    std::vector<Transfer> transfer_log;           // the same records in creation (= booking) order
    std::map<u128, FailedTransfer> failures;      // recorded state-dependent failures
    std::map<u128, Reservation> reservations;     // by the pending transfer's id
    std::map<u128, std::vector<u128>> reversals;  // original id -> reversal ids
    std::map<u128, u128> closed_by;               // account id -> closing reservation
    std::map<u128, std::vector<AccountBalance>> history;  // history accounts' snapshots
    std::vector<Change> changes;  // every change since genesis; index = sequence
  };

  // What a transfer that passed every check will do. Filled in as the checks go.
  struct Plan {
    const Transfer* reservation = nullptr;  // post/void: the pending transfer
    u128 debit_id = 0;
    u128 credit_id = 0;
    u128 amount = 0;    // moved: clamped for balancing, posted for post, reserved for void
    u128 reserved = 0;  // post/void: the reservation's amount
    Account debit_after{};
    Account credit_after{};
  };

  // Runs a batch's events with the chain rules of the data model. apply(event, booked_ns)
  // applies one event and returns its code without recording anything; record(event,
  // booked_ns, code) keeps what a failure leaves behind, after any rollback.
  template <typename Result, typename Event, typename Apply, typename Record>
  std::vector<Result> RunChains(std::span<const Event> events, uint64_t timestamp_ns,
                                uint16_t linked_flag, Apply apply, Record record);

  void BeginBatch(uint64_t timestamp_ns);
  void ExpireReservations(uint64_t timestamp_ns);
  void Release(const Transfer& reservation);
  void Snapshot(const Account& account, uint64_t timestamp_ns);
  // Appends a change with the two accounts' balances as they are now.
  void RecordChange(ChangeKind kind, TransferId transfer_id, uint64_t timestamp_ns, u128 debit_id,
                    u128 credit_id);

  CreateLedgerResult CreateLedger(const Ledger& event, uint64_t timestamp_ns,
                                  bool import_batch = false);
  CreateAccountResult CreateAccount(const Account& event, uint64_t timestamp_ns,
                                    bool import_batch = false);
  CreateTransferResult CreateTransfer(const Transfer& event, uint64_t timestamp_ns);
  // Imports (docs/data-model.md, "Import"): batch_timestamp_ns is the batch's; the event is
  // booked at its own timestamp.
  CreateLedgerResult CreateImportedLedger(const Ledger& event, uint64_t batch_timestamp_ns);
  CreateAccountResult CreateImportedAccount(const Account& event, uint64_t batch_timestamp_ns);
  CreateTransferResult CreateImportedTransfer(const Transfer& event, uint64_t batch_timestamp_ns);
  // A new id whose fields passed validation: the reference and balance checks, then the commit.
  CreateTransferResult ApplyNew(const Transfer& event, uint64_t timestamp_ns);

  static CreateAccountResult ValidateAccount(const Account& event);
  static CreateTransferResult ValidateTransfer(const Transfer& event);
  CreateTransferResult CompareWithExisting(const Transfer& event) const;
  // The rows of the idempotency table against `stored` (a transfer, or a failed event), the
  // amount's row decided by the caller.
  CreateTransferResult CompareFields(const Transfer& event, const Transfer& stored,
                                     bool failed) const;
  bool AmountMatches(const Transfer& event, const Transfer& stored) const;
  CreateTransferResult CheckReferences(const Transfer& event, uint64_t timestamp_ns,
                                       Plan* plan) const;
  CreateTransferResult CheckReservation(const Transfer& event, Plan* plan) const;
  CreateTransferResult CheckReversal(const Transfer& event) const;
  CreateTransferResult CheckClosedAndTimeout(const Transfer& event, uint64_t timestamp_ns,
                                             const Plan& plan) const;
  CreateTransferResult CheckBalances(const Transfer& event, Plan* plan) const;
  void Commit(const Transfer& event, uint64_t timestamp_ns, const Plan& plan);
  void Close(u128 account_id, u128 reservation_id);
  void Reopen(const Transfer& reservation);
  u128 ReversedAmount(u128 id) const;

  uint64_t change_feed_capacity_;
  State state_;
};

// One-line descriptions for failure messages.
std::string U128ToString(u128 value);
std::string DebugString(const Ledger& ledger);
std::string DebugString(const Account& account);
std::string DebugString(const Transfer& transfer);
std::string DebugString(const AccountBalance& balance);
std::string DebugString(const TrialBalance& trial_balance);
std::string DebugString(const AccountFilter& filter);
std::string DebugString(const QueryFilter& filter);
std::string DebugString(const PostedAtValueTime& posted);
std::string DebugString(const Change& change);
const char* ResultName(CreateLedgerResult result);
const char* ResultName(CreateAccountResult result);
const char* ResultName(CreateTransferResult result);

}  // namespace ledger::testing
