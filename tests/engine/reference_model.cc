// The reference model's batches, chains and expiry, ledgers and accounts, and the descriptions
// for failure messages. Transfers are in reference_model_transfers.cc, queries in
// reference_model_queries.cc.
#include "tests/engine/reference_model.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "base/assert.h"
#include "tests/engine/reference_model_internal.h"

namespace ledger::testing {
namespace {

using model_internal::Has;
using model_internal::SubtractExpected;

using LedgerResult = CreateLedgerResult;
using AccountResult = CreateAccountResult;
using TransferResult = CreateTransferResult;

bool AssetCodeValid(const char (&code)[kAssetCodeSizeBytes]) {
  size_t length = 0;
  while (length < kAssetCodeSizeBytes && code[length] != '\0') ++length;
  if (length == 0) return false;
  for (size_t i = 0; i < length; ++i) {
    const char c = code[i];
    const bool valid =
        (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!valid) return false;
  }
  for (size_t i = length; i < kAssetCodeSizeBytes; ++i) {
    if (code[i] != '\0') return false;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Batches, chains and expiry.

template <typename Result, typename Event, typename Apply, typename Record>
std::vector<Result> ReferenceModel::RunChains(std::span<const Event> events, uint64_t timestamp_ns,
                                              uint16_t linked_flag, Apply apply, Record record) {
  const size_t count = events.size();
  std::vector<Result> results(count, Result::kOk);
  size_t start = 0;
  while (start < count) {
    size_t end = start;  // the chain is [start, end]: linked events, then an unlinked one
    while (end < count && Has(events[end].flags, linked_flag)) ++end;
    if (end == count) {  // the batch ends inside the chain: it is open, nothing runs
      for (size_t i = start; i < count; ++i) results[i] = Result::kLinkedEventFailed;
      results[count - 1] = Result::kLinkedEventChainOpen;
      break;
    }
    // A lone event needs no copy: every check runs before anything changes, so a failing
    // event has changed nothing.
    std::optional<State> before_chain;
    if (end > start) before_chain = state_;
    for (size_t i = start; i <= end; ++i) {
      const Result result = apply(events[i], timestamp_ns + 1 + i);
      results[i] = result;
      if (result == Result::kOk || result == Result::kExists) continue;
      if (before_chain.has_value()) state_ = *std::move(before_chain);
      for (size_t j = start; j <= end; ++j) {
        if (j != i) results[j] = Result::kLinkedEventFailed;
      }
      record(events[i], timestamp_ns + 1 + i, result);
      break;
    }
    start = end + 1;
  }
  return results;
}

void ReferenceModel::BeginBatch(uint64_t timestamp_ns) {
  LEDGER_ASSERT(timestamp_ns > state_.last_timestamp_ns, timestamp_ns, state_.last_timestamp_ns);
  ExpireReservations(timestamp_ns);
  state_.last_timestamp_ns = timestamp_ns;
}

void ReferenceModel::ExpireReservations(uint64_t timestamp_ns) {
  std::vector<std::tuple<uint64_t, uint64_t, u128>> due;  // expiry, booking, id
  for (const auto& [id, reservation] : state_.reservations) {
    if (reservation.status != PendingStatus::kPending) continue;
    if (reservation.expires_at_ns == 0 || reservation.expires_at_ns > timestamp_ns) continue;
    due.emplace_back(reservation.expires_at_ns, state_.transfers.at(id).timestamp_ns, id);
  }
  std::sort(due.begin(), due.end());
  std::set<u128> touched;  // accounts whose balances the expiries changed
  for (const auto& [expires_at_ns, booked_ns, id] : due) {
    const Transfer& reservation = state_.transfers.at(id);
    Release(reservation);
    state_.reservations.at(id).status = PendingStatus::kExpired;
    RecordChange(ChangeKind::kExpired, reservation.id, timestamp_ns,
                 reservation.debit_account_id.Get(), reservation.credit_account_id.Get());
    touched.insert(reservation.debit_account_id.Get());
    touched.insert(reservation.credit_account_id.Get());
  }
  // One history entry per account for all of the batch's expiries, so that entry timestamps
  // stay unique per account.
  for (u128 account_id : touched) Snapshot(state_.accounts.at(account_id), timestamp_ns);
}

void ReferenceModel::Release(const Transfer& reservation) {
  Account& debit = state_.accounts.at(reservation.debit_account_id.Get());
  Account& credit = state_.accounts.at(reservation.credit_account_id.Get());
  SubtractExpected(&debit.debits_pending, reservation.amount.Get());
  SubtractExpected(&credit.credits_pending, reservation.amount.Get());
  Reopen(reservation);
}

void ReferenceModel::Snapshot(const Account& account, uint64_t timestamp_ns) {
  if (!Has(account.flags, account_flags::kHistory)) return;
  state_.history[account.id.Get()].push_back(
      AccountBalance{account.debits_pending, account.debits_posted, account.credits_pending,
                     account.credits_posted, timestamp_ns, 0});
}

void ReferenceModel::RecordChange(ChangeKind kind, TransferId transfer_id, uint64_t timestamp_ns,
                                  u128 debit_id, u128 credit_id) {
  auto balances = [this](u128 account_id) {
    const Account& account = state_.accounts.at(account_id);
    return AccountBalances{account.debits_pending, account.debits_posted, account.credits_pending,
                           account.credits_posted};
  };
  Change change{};
  change.sequence = state_.changes.size();
  change.timestamp_ns = timestamp_ns;
  change.transfer_id = transfer_id;
  change.kind = kind;
  change.debit_balance = balances(debit_id);
  change.credit_balance = balances(credit_id);
  state_.changes.push_back(change);
}

void ReferenceModel::Close(u128 account_id, u128 reservation_id) {
  state_.accounts.at(account_id).flags |= account_flags::kClosed;
  state_.closed_by[account_id] = reservation_id;
}

void ReferenceModel::Reopen(const Transfer& reservation) {
  const u128 id = reservation.id.Get();
  for (const auto& [flag, account_id] :
       {std::pair{transfer_flags::kClosingDebit, reservation.debit_account_id.Get()},
        std::pair{transfer_flags::kClosingCredit, reservation.credit_account_id.Get()}}) {
    if (!Has(reservation.flags, flag)) continue;
    auto closer = state_.closed_by.find(account_id);
    if (closer == state_.closed_by.end() || closer->second != id) continue;
    state_.closed_by.erase(closer);
    state_.accounts.at(account_id).flags &= static_cast<uint16_t>(~account_flags::kClosed);
  }
}

std::vector<CreateLedgerResult> ReferenceModel::CreateLedgers(std::span<const Ledger> events,
                                                              uint64_t timestamp_ns) {
  std::vector<CreateLedgerResult> results;
  if (!events.empty() && Has(events[0].flags, ledger_flags::kImported)) {
    // An import: no expiry; each event is booked at its own timestamp, below the batch's.
    LEDGER_ASSERT(timestamp_ns > state_.last_timestamp_ns, timestamp_ns, state_.last_timestamp_ns);
    for (const Ledger& event : events) {
      results.push_back(CreateImportedLedger(event, timestamp_ns));
    }
    return results;
  }
  BeginBatch(timestamp_ns);
  for (size_t i = 0; i < events.size(); ++i) {
    results.push_back(CreateLedger(events[i], timestamp_ns + 1 + i));
  }
  state_.last_timestamp_ns = timestamp_ns + events.size();
  return results;
}

std::vector<CreateAccountResult> ReferenceModel::CreateAccounts(std::span<const Account> events,
                                                                uint64_t timestamp_ns) {
  if (!events.empty() && Has(events[0].flags, account_flags::kImported)) {
    // An import: no expiry; each event is booked at its own timestamp, below the batch's.
    LEDGER_ASSERT(timestamp_ns > state_.last_timestamp_ns, timestamp_ns, state_.last_timestamp_ns);
    return RunChains<AccountResult>(
        events, timestamp_ns, account_flags::kLinked,
        [this, timestamp_ns](const Account& event, uint64_t) {
          return CreateImportedAccount(event, timestamp_ns);
        },
        [](const Account&, uint64_t, AccountResult) {});
  }
  BeginBatch(timestamp_ns);
  auto results = RunChains<AccountResult>(
      events, timestamp_ns, account_flags::kLinked,
      [this](const Account& event, uint64_t booked_ns) { return CreateAccount(event, booked_ns); },
      [](const Account&, uint64_t, AccountResult) {});
  state_.last_timestamp_ns = timestamp_ns + events.size();
  return results;
}

std::vector<CreateTransferResult> ReferenceModel::CreateTransfers(std::span<const Transfer> events,
                                                                  uint64_t timestamp_ns) {
  // A failure with a recorded code keeps the event as it would have been booked (an imported
  // one at its own timestamp).
  const auto record = [this](const Transfer& event, uint64_t booked_ns, TransferResult result) {
    if (!IsRecordedFailure(result)) return;
    FailedTransfer failed{event, result};
    if (!Has(event.flags, transfer_flags::kImported)) failed.event.timestamp_ns = booked_ns;
    failed.event.flags &= static_cast<uint16_t>(~transfer_flags::kLinked);
    state_.failures[event.id.Get()] = failed;
  };
  if (!events.empty() && Has(events[0].flags, transfer_flags::kImported)) {
    // An import: no expiry; each event is booked at its own timestamp, below the batch's.
    LEDGER_ASSERT(timestamp_ns > state_.last_timestamp_ns, timestamp_ns, state_.last_timestamp_ns);
    return RunChains<TransferResult>(
        events, timestamp_ns, transfer_flags::kLinked,
        [this, timestamp_ns](const Transfer& event, uint64_t) {
          return CreateImportedTransfer(event, timestamp_ns);
        },
        record);
  }
  BeginBatch(timestamp_ns);
  auto results = RunChains<TransferResult>(
      events, timestamp_ns, transfer_flags::kLinked,
      [this](const Transfer& event, uint64_t booked_ns) {
        return CreateTransfer(event, booked_ns);
      },
      record);
  state_.last_timestamp_ns = timestamp_ns + events.size();
  return results;
}

// ---------------------------------------------------------------------------------------------
// Ledgers and accounts.

CreateLedgerResult ReferenceModel::CreateImportedLedger(const Ledger& event,
                                                        uint64_t batch_timestamp_ns) {
  if (!Has(event.flags, ledger_flags::kImported)) return LedgerResult::kImportedEventExpected;
  if (event.timestamp_ns == 0 || event.timestamp_ns >= batch_timestamp_ns ||
      event.timestamp_ns >= (uint64_t{1} << 63)) {
    return LedgerResult::kImportedEventTimestampOutOfRange;
  }
  return CreateLedger(event, event.timestamp_ns, /*import_batch=*/true);
}

CreateLedgerResult ReferenceModel::CreateLedger(const Ledger& event, uint64_t timestamp_ns,
                                                bool import_batch) {
  const bool imported = Has(event.flags, ledger_flags::kImported);
  if (imported && !import_batch) return LedgerResult::kImportedEventNotExpected;
  // An imported event's timestamp was checked by CreateImportedLedger.
  if (!imported && event.timestamp_ns != 0) return LedgerResult::kTimestampMustBeZero;
  if (event.reserved[0] != 0 || event.reserved[1] != 0) return LedgerResult::kReservedField;
  if ((event.flags & ~ledger_flags::kAll) != 0) return LedgerResult::kReservedFlag;
  if (event.id == 0) return LedgerResult::kIdMustNotBeZero;
  if (event.scale > kScaleMax) return LedgerResult::kScaleTooLarge;
  if (!AssetCodeValid(event.asset_code)) return LedgerResult::kAssetCodeInvalid;
  auto existing = state_.ledgers.find(event.id);
  if (existing != state_.ledgers.end()) {
    const Ledger& stored = existing->second;
    if (stored.flags != event.flags) return LedgerResult::kExistsWithDifferentFlags;
    if (stored.scale != event.scale) return LedgerResult::kExistsWithDifferentScale;
    if (std::memcmp(stored.asset_code, event.asset_code, kAssetCodeSizeBytes) != 0) {
      return LedgerResult::kExistsWithDifferentAssetCode;
    }
    return LedgerResult::kExists;
  }
  if (imported && timestamp_ns <= state_.last_timestamp_ns) {
    return LedgerResult::kImportedEventTimestampMustNotRegress;
  }
  Ledger stored = event;
  stored.timestamp_ns = timestamp_ns;
  state_.ledgers[event.id] = stored;
  if (imported) state_.last_timestamp_ns = timestamp_ns;
  return LedgerResult::kOk;
}

CreateAccountResult ReferenceModel::ValidateAccount(const Account& event) {
  using namespace account_flags;  // NOLINT: a table of flags reads better unqualified.
  // An imported event's timestamp was checked by CreateImportedAccount.
  if (!Has(event.flags, kImported) && event.timestamp_ns != 0) {
    return AccountResult::kTimestampMustBeZero;
  }
  if (event.reserved != 0) return AccountResult::kReservedField;
  if ((event.flags & ~kAll) != 0) return AccountResult::kReservedFlag;
  if (event.id.IsZero()) return AccountResult::kIdMustNotBeZero;
  if (event.id.IsMax()) return AccountResult::kIdMustNotBeIntMax;
  if (Has(event.flags, kDebitsMustNotExceedCredits) &&
      Has(event.flags, kCreditsMustNotExceedDebits)) {
    return AccountResult::kFlagsAreMutuallyExclusive;
  }
  if (Has(event.flags, kClosed)) return AccountResult::kClosedFlagMustNotBeSet;
  if (!event.debits_pending.IsZero()) return AccountResult::kDebitsPendingMustBeZero;
  if (!event.debits_posted.IsZero()) return AccountResult::kDebitsPostedMustBeZero;
  if (!event.credits_pending.IsZero()) return AccountResult::kCreditsPendingMustBeZero;
  if (!event.credits_posted.IsZero()) return AccountResult::kCreditsPostedMustBeZero;
  if (event.ledger == 0) return AccountResult::kLedgerMustNotBeZero;
  if (event.code == 0) return AccountResult::kCodeMustNotBeZero;
  return AccountResult::kOk;
}

CreateAccountResult ReferenceModel::CreateImportedAccount(const Account& event,
                                                          uint64_t batch_timestamp_ns) {
  if (!Has(event.flags, account_flags::kImported)) return AccountResult::kImportedEventExpected;
  if (event.timestamp_ns == 0 || event.timestamp_ns >= batch_timestamp_ns ||
      event.timestamp_ns >= (uint64_t{1} << 63)) {
    return AccountResult::kImportedEventTimestampOutOfRange;
  }
  return CreateAccount(event, event.timestamp_ns, /*import_batch=*/true);
}

CreateAccountResult ReferenceModel::CreateAccount(const Account& event, uint64_t timestamp_ns,
                                                  bool import_batch) {
  const bool imported = Has(event.flags, account_flags::kImported);
  if (imported && !import_batch) return AccountResult::kImportedEventNotExpected;
  const AccountResult invalid = ValidateAccount(event);
  if (invalid != AccountResult::kOk) return invalid;
  auto existing = state_.accounts.find(event.id.Get());
  if (existing != state_.accounts.end()) {
    const Account& stored = existing->second;
    constexpr uint16_t kState = account_flags::kLinked | account_flags::kClosed;
    if ((stored.flags & ~kState) != (event.flags & ~kState)) {
      return AccountResult::kExistsWithDifferentFlags;
    }
    if (stored.user_data_128 != event.user_data_128) {
      return AccountResult::kExistsWithDifferentUserData128;
    }
    if (stored.user_data_64 != event.user_data_64) {
      return AccountResult::kExistsWithDifferentUserData64;
    }
    if (stored.user_data_32 != event.user_data_32) {
      return AccountResult::kExistsWithDifferentUserData32;
    }
    if (stored.ledger != event.ledger) return AccountResult::kExistsWithDifferentLedger;
    if (stored.code != event.code) return AccountResult::kExistsWithDifferentCode;
    return AccountResult::kExists;
  }
  if (imported && timestamp_ns <= state_.last_timestamp_ns) {
    return AccountResult::kImportedEventTimestampMustNotRegress;
  }
  if (!state_.ledgers.contains(event.ledger)) return AccountResult::kLedgerNotFound;
  Account stored = event;
  stored.flags &= static_cast<uint16_t>(~account_flags::kLinked);
  stored.timestamp_ns = timestamp_ns;
  state_.accounts[event.id.Get()] = stored;
  if (imported) state_.last_timestamp_ns = timestamp_ns;
  return AccountResult::kOk;
}

// ---------------------------------------------------------------------------------------------
// Descriptions for failure messages.

std::string U128ToString(u128 value) {
  if (value == kU128Max) return "MAX";
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  } while (value != 0);
  return digits;
}

namespace {

template <typename Tag>
std::string Str(Value128<Tag> value) {
  return U128ToString(value.Get());
}

std::string Hex(uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof(text), "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

}  // namespace

std::string DebugString(const Ledger& ledger) {
  return "Ledger{id=" + std::to_string(ledger.id) + " scale=" + std::to_string(ledger.scale) +
         " flags=" + Hex(ledger.flags) + " reserved=" + std::to_string(ledger.reserved[0]) + "," +
         std::to_string(ledger.reserved[1]) + " asset_code=\"" +
         std::string(ledger.asset_code, kAssetCodeSizeBytes) +
         "\" ts=" + std::to_string(ledger.timestamp_ns) + "}";
}

std::string DebugString(const Account& account) {
  return "Account{id=" + Str(account.id) + " dp=" + Str(account.debits_pending) +
         " dpo=" + Str(account.debits_posted) + " cp=" + Str(account.credits_pending) +
         " cpo=" + Str(account.credits_posted) + " ud128=" + Str(account.user_data_128) +
         " ud64=" + std::to_string(account.user_data_64) +
         " ud32=" + std::to_string(account.user_data_32) +
         " reserved=" + std::to_string(account.reserved) +
         " ledger=" + std::to_string(account.ledger) + " code=" + std::to_string(account.code) +
         " flags=" + Hex(account.flags) + " ts=" + std::to_string(account.timestamp_ns) + "}";
}

std::string DebugString(const Transfer& transfer) {
  return "Transfer{id=" + Str(transfer.id) + " dr=" + Str(transfer.debit_account_id) +
         " cr=" + Str(transfer.credit_account_id) + " amount=" + Str(transfer.amount) +
         " pending_id=" + Str(transfer.pending_id) + " reverses_id=" + Str(transfer.reverses_id) +
         " ud128=" + Str(transfer.user_data_128) +
         " ud64=" + std::to_string(transfer.user_data_64) +
         " value_time=" + std::to_string(transfer.value_time_ns) +
         " ts=" + std::to_string(transfer.timestamp_ns) +
         " ud32=" + std::to_string(transfer.user_data_32) +
         " timeout_s=" + std::to_string(transfer.timeout_s) +
         " ledger=" + std::to_string(transfer.ledger) + " code=" + std::to_string(transfer.code) +
         " flags=" + Hex(transfer.flags) + "}";
}

std::string DebugString(const AccountBalance& balance) {
  return "AccountBalance{dp=" + Str(balance.debits_pending) + " dpo=" + Str(balance.debits_posted) +
         " cp=" + Str(balance.credits_pending) + " cpo=" + Str(balance.credits_posted) +
         " ts=" + std::to_string(balance.timestamp_ns) +
         " reserved=" + std::to_string(balance.reserved) + "}";
}

std::string DebugString(const TrialBalance& trial_balance) {
  auto wide = [](const WideSum& sum) {
    return std::to_string(sum.carries) + ":" + U128ToString(sum.low.Get());
  };
  return "TrialBalance{ledger=" + std::to_string(trial_balance.ledger) +
         " accounts=" + std::to_string(trial_balance.account_count) +
         " dp=" + wide(trial_balance.debits_pending) + " dpo=" + wide(trial_balance.debits_posted) +
         " cp=" + wide(trial_balance.credits_pending) +
         " cpo=" + wide(trial_balance.credits_posted) + "}";
}

std::string DebugString(const Change& change) {
  auto balances = [](const AccountBalances& b) {
    return Str(b.debits_pending) + "/" + Str(b.debits_posted) + "/" + Str(b.credits_pending) + "/" +
           Str(b.credits_posted);
  };
  std::string reserved;
  for (uint8_t byte : change.reserved) reserved += std::to_string(byte);
  return "Change{seq=" + std::to_string(change.sequence) +
         " ts=" + std::to_string(change.timestamp_ns) + " transfer=" + Str(change.transfer_id) +
         " kind=" + std::to_string(static_cast<int>(change.kind)) + " reserved=" + reserved +
         " debit(dp/dpo/cp/cpo)=" + balances(change.debit_balance) +
         " credit=" + balances(change.credit_balance) + "}";
}

std::string DebugString(const PostedAtValueTime& posted) {
  return "PostedAtValueTime{debits=" + Str(posted.debits_posted) +
         " credits=" + Str(posted.credits_posted) +
         " transfers=" + std::to_string(posted.transfer_count) + "}";
}

std::string DebugString(const AccountFilter& filter) {
  return "AccountFilter{account=" + Str(filter.account_id) +
         " min=" + std::to_string(filter.timestamp_min_ns) +
         " max=" + std::to_string(filter.timestamp_max_ns) +
         " code=" + std::to_string(filter.code) + " flags=" + Hex(filter.flags) +
         " limit=" + std::to_string(filter.limit) +
         " value_min=" + std::to_string(filter.value_time_min_ns) +
         " value_max=" + std::to_string(filter.value_time_max_ns) + "}";
}

std::string DebugString(const QueryFilter& filter) {
  return "QueryFilter{user_data_128=" + U128ToString(filter.user_data_128.Get()) +
         " user_data_64=" + std::to_string(filter.user_data_64) +
         " user_data_32=" + std::to_string(filter.user_data_32) +
         " ledger=" + std::to_string(filter.ledger) + " code=" + std::to_string(filter.code) +
         " min=" + std::to_string(filter.timestamp_min_ns) +
         " max=" + std::to_string(filter.timestamp_max_ns) +
         " reversed=" + std::to_string(filter.reversed) + " limit=" + std::to_string(filter.limit) +
         "}";
}

namespace {

template <size_t kCount, typename Result>
const char* NameOf(const char* const (&names)[kCount], Result result) {
  const size_t index = static_cast<size_t>(result);
  return index < kCount ? names[index] : "(out of range)";
}

}  // namespace

const char* ResultName(CreateLedgerResult result) {
  // clang-format off
  static constexpr const char* kNames[] = {
      "ok", "timestamp_must_be_zero", "reserved_field", "id_must_not_be_zero", "scale_too_large",
      "asset_code_invalid", "exists_with_different_scale", "exists_with_different_asset_code",
      "exists", "reserved_flag", "imported_event_expected", "imported_event_not_expected",
      "imported_event_timestamp_out_of_range", "imported_event_timestamp_must_not_regress",
      "exists_with_different_flags",
  };
  // clang-format on
  return NameOf(kNames, result);
}

const char* ResultName(CreateAccountResult result) {
  // clang-format off
  static constexpr const char* kNames[] = {
      "ok", "linked_event_failed", "linked_event_chain_open", "timestamp_must_be_zero",
      "reserved_field", "reserved_flag", "id_must_not_be_zero", "id_must_not_be_int_max",
      "flags_are_mutually_exclusive", "closed_flag_must_not_be_set", "debits_pending_must_be_zero",
      "debits_posted_must_be_zero", "credits_pending_must_be_zero", "credits_posted_must_be_zero",
      "ledger_must_not_be_zero", "code_must_not_be_zero", "exists_with_different_flags",
      "exists_with_different_user_data_128", "exists_with_different_user_data_64",
      "exists_with_different_user_data_32", "exists_with_different_ledger",
      "exists_with_different_code", "exists", "ledger_not_found", "imported_event_expected",
      "imported_event_not_expected", "imported_event_timestamp_out_of_range",
      "imported_event_timestamp_must_not_regress",
  };
  static_assert(std::size(kNames) == kCreateAccountResultCount);
  // clang-format on
  return NameOf(kNames, result);
}

const char* ResultName(CreateTransferResult result) {
  // clang-format off
  static constexpr const char* kNames[] = {
      "ok", "linked_event_failed", "linked_event_chain_open", "timestamp_must_be_zero",
      "reserved_flag", "id_must_not_be_zero", "id_must_not_be_int_max",
      "flags_are_mutually_exclusive", "pending_id_must_be_zero", "pending_id_must_not_be_zero",
      "pending_id_must_not_be_int_max", "pending_id_must_be_different",
      "reverses_id_must_not_be_int_max", "reverses_id_must_be_different", "reversal_must_be_plain",
      "timeout_reserved_for_pending_transfer", "closing_transfer_must_be_pending",
      "debit_account_id_must_not_be_zero", "debit_account_id_must_not_be_int_max",
      "credit_account_id_must_not_be_zero", "credit_account_id_must_not_be_int_max",
      "accounts_must_be_different", "ledger_must_not_be_zero", "code_must_not_be_zero",
      "amount_must_not_be_zero", "exists_with_different_flags", "exists_with_different_pending_id",
      "exists_with_different_reverses_id", "exists_with_different_timeout",
      "exists_with_different_debit_account_id", "exists_with_different_credit_account_id",
      "exists_with_different_amount", "exists_with_different_user_data_128",
      "exists_with_different_user_data_64", "exists_with_different_user_data_32",
      "exists_with_different_ledger", "exists_with_different_code",
      "exists_with_different_value_time", "exists", "debit_account_not_found",
      "credit_account_not_found", "accounts_must_have_the_same_ledger",
      "transfer_must_have_the_same_ledger_as_accounts", "pending_transfer_not_found",
      "pending_transfer_not_pending", "pending_transfer_has_different_debit_account_id",
      "pending_transfer_has_different_credit_account_id", "pending_transfer_has_different_ledger",
      "pending_transfer_has_different_code", "exceeds_pending_transfer_amount",
      "pending_transfer_has_different_amount", "pending_transfer_already_posted",
      "pending_transfer_already_voided", "pending_transfer_expired", "reversed_transfer_not_found",
      "reversed_transfer_not_posted", "reversal_must_swap_accounts", "exceeds_reversible_amount",
      "debit_account_already_closed", "credit_account_already_closed", "overflows_timeout",
      "overflows_debits_pending", "overflows_credits_pending", "overflows_debits_posted",
      "overflows_credits_posted", "overflows_debits", "overflows_credits", "exceeds_credits",
      "exceeds_debits", "id_already_failed", "value_time_out_of_range", "imported_event_expected",
      "imported_event_not_expected", "imported_event_timestamp_out_of_range",
      "imported_event_timestamp_must_not_regress", "imported_event_timeout_must_be_zero",
  };
  // clang-format on
  static_assert(std::size(kNames) == kCreateTransferResultCount);
  return NameOf(kNames, result);
}

}  // namespace ledger::testing
