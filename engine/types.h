// The ledger's data model: ids, amounts, records, flags and result codes.
//
// Every record here is fixed-layout, trivially copyable and little-endian, with reserved bytes
// zeroed; the same bytes travel in WAL entries, snapshots and RPC messages. The static_asserts
// at the bottom pin sizes and every offset a reader relies on. Semantics: docs/data-model.md.
#pragma once

#include <bit>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace ledger {

static_assert(std::endian::native == std::endian::little, "records are little-endian in memory");

__extension__ typedef unsigned __int128 u128;  // NOLINT: GCC/Clang builtin, no ISO spelling.

inline constexpr u128 kU128Max = ~u128{0};

// Every timestamp the ledger stores (booking times, value times, reservation deadlines) is
// nanoseconds since the Unix epoch below 2^63 (year 2262): the range of a signed 64-bit
// integer, which is what Go, Java, JavaScript's BigInt64 and most JSON and SQL clients hold.
inline constexpr uint64_t kTimestampLimitNs = uint64_t{1} << 63;

// A 128-bit unsigned value as two little-endian 64-bit words (alignment 8, so records have no
// hidden padding). Tag makes ids of different kinds and amounts distinct types.
template <typename Tag>
struct Value128 {
  uint64_t lo = 0;
  uint64_t hi = 0;

  static constexpr Value128 From(u128 value) {
    return Value128{static_cast<uint64_t>(value), static_cast<uint64_t>(value >> 64)};
  }
  static constexpr Value128 Max() { return From(kU128Max); }
  constexpr u128 Get() const { return (static_cast<u128>(hi) << 64) | lo; }
  constexpr bool IsZero() const { return (lo | hi) == 0; }
  constexpr bool IsMax() const { return (lo & hi) == ~uint64_t{0}; }

  friend constexpr bool operator==(const Value128&, const Value128&) = default;
  friend constexpr std::strong_ordering operator<=>(const Value128& a, const Value128& b) {
    return a.Get() <=> b.Get();
  }
};

using AccountId = Value128<struct AccountIdTag>;
using TransferId = Value128<struct TransferIdTag>;
using Amount = Value128<struct AmountTag>;  // minor units of the ledger's asset
using UserData128 = Value128<struct UserData128Tag>;

// Checked arithmetic: false on overflow/underflow, never wraps.
inline bool CheckedAdd(Amount a, Amount b, Amount* sum) {
  u128 result;
  if (__builtin_add_overflow(a.Get(), b.Get(), &result)) return false;
  *sum = Amount::From(result);
  return true;
}
inline bool CheckedSub(Amount a, Amount b, Amount* difference) {
  if (b.Get() > a.Get()) return false;
  *difference = Amount::From(a.Get() - b.Get());
  return true;
}

// ---------------------------------------------------------------------------------------------
// Ledger: an asset book. Accounts and transfers name it by id; amounts are in its minor units.

inline constexpr uint32_t kAssetCodeSizeBytes = 16;
inline constexpr uint8_t kScaleMax = 38;  // 10^38 < 2^128 <= 10^39

namespace ledger_flags {
// Migrated from another system: the event carries its booking timestamp (docs/data-model.md,
// "Import"), so a migration can start with its ledgers; a batch is all imported or all native.
inline constexpr uint8_t kImported = 1 << 0;
inline constexpr uint8_t kAll = (1 << 1) - 1;
}  // namespace ledger_flags

struct Ledger {
  uint32_t id;                           // 0 is invalid
  uint8_t scale;                         // decimals: 1234 in a scale-2 ledger is 12.34
  uint8_t flags;                         // ledger_flags (was reserved: old records hold zero)
  uint8_t reserved[2];                   // zero
  char asset_code[kAssetCodeSizeBytes];  // [A-Z0-9._-], 1..16 chars, NUL-padded ("USD")
  uint64_t timestamp_ns;  // booking timestamp; zero on create, set by the engine (imported: given)
};

// Codes are listed in precedence order: an event gets the first that applies.
enum class CreateLedgerResult : uint8_t {
  kOk = 0,
  kImportedEventExpected = 10,     // the batch is imported (its first event is) but this is not
  kImportedEventNotExpected = 11,  // the batch is native but this event is imported
  kTimestampMustBeZero = 1,
  kImportedEventTimestampOutOfRange = 12,  // imported: 0, or not below the batch's, or >= 2^63
  kReservedField = 2,
  kReservedFlag = 9,
  kIdMustNotBeZero = 3,
  kScaleTooLarge = 4,
  kAssetCodeInvalid = 5,
  kExistsWithDifferentFlags = 14,
  kExistsWithDifferentScale = 6,
  kExistsWithDifferentAssetCode = 7,
  kExists = 8,
  kImportedEventTimestampMustNotRegress = 13,  // at or before the last timestamp booked
};
inline constexpr uint8_t kCreateLedgerResultCount = 15;

// ---------------------------------------------------------------------------------------------
// Account: balances are derived only from transfers; there is no "set balance" operation.

namespace account_flags {
inline constexpr uint16_t kLinked = 1 << 0;  // this event and the next succeed or fail together
inline constexpr uint16_t kDebitsMustNotExceedCredits = 1 << 1;
inline constexpr uint16_t kCreditsMustNotExceedDebits = 1 << 2;
inline constexpr uint16_t kHistory = 1 << 3;  // keep a balance snapshot per change (as-of queries)
inline constexpr uint16_t kClosed = 1 << 4;   // state: set by a pending closing transfer
// Migrated from another system: the event carries its booking timestamp (docs/data-model.md,
// "Import"); a batch is all imported or all native.
inline constexpr uint16_t kImported = 1 << 5;
inline constexpr uint16_t kAll = (1 << 6) - 1;
}  // namespace account_flags

struct Account {
  AccountId id;               // client-chosen, never reused; not 0, not 2^128-1
  Amount debits_pending;      // zero on create
  Amount debits_posted;       // zero on create
  Amount credits_pending;     // zero on create
  Amount credits_posted;      // zero on create
  UserData128 user_data_128;  // the orchestrator's own references, opaque to the ledger
  uint64_t user_data_64;
  uint32_t user_data_32;
  uint32_t reserved;      // zero
  uint32_t ledger;        // must name a created ledger
  uint16_t code;          // chart-of-accounts type chosen by the user; not 0
  uint16_t flags;         // account_flags
  uint64_t timestamp_ns;  // booking timestamp; zero on create, set by the engine (imported: given)
};

// Codes are listed in precedence order: an event gets the first that applies.
enum class CreateAccountResult : uint8_t {
  kOk = 0,
  kLinkedEventFailed = 1,
  kLinkedEventChainOpen = 2,
  kImportedEventExpected = 24,     // the batch is imported (its first event is) but this is not
  kImportedEventNotExpected = 25,  // the batch is native but this event is imported
  kTimestampMustBeZero = 3,
  kImportedEventTimestampOutOfRange = 26,  // imported: 0, or not below the batch's, or >= 2^63
  kReservedField = 4,
  kReservedFlag = 5,
  kIdMustNotBeZero = 6,
  kIdMustNotBeIntMax = 7,
  kFlagsAreMutuallyExclusive = 8,
  kClosedFlagMustNotBeSet = 9,
  kDebitsPendingMustBeZero = 10,
  kDebitsPostedMustBeZero = 11,
  kCreditsPendingMustBeZero = 12,
  kCreditsPostedMustBeZero = 13,
  kLedgerMustNotBeZero = 14,
  kCodeMustNotBeZero = 15,
  kExistsWithDifferentFlags = 16,
  kExistsWithDifferentUserData128 = 17,
  kExistsWithDifferentUserData64 = 18,
  kExistsWithDifferentUserData32 = 19,
  kExistsWithDifferentLedger = 20,
  kExistsWithDifferentCode = 21,
  kExists = 22,
  kImportedEventTimestampMustNotRegress = 27,  // at or before the last timestamp booked
  kLedgerNotFound = 23,
};
inline constexpr uint8_t kCreateAccountResultCount = 28;

// ---------------------------------------------------------------------------------------------
// Transfer: moves `amount` from the debit account to the credit account of one ledger.

namespace transfer_flags {
inline constexpr uint16_t kLinked = 1 << 0;
inline constexpr uint16_t kPending = 1 << 1;          // reserve: moves into the pending balances
inline constexpr uint16_t kPostPending = 1 << 2;      // post the reservation `pending_id`
inline constexpr uint16_t kVoidPending = 1 << 3;      // release the reservation `pending_id`
inline constexpr uint16_t kBalancingDebit = 1 << 4;   // move at most what the debit side allows
inline constexpr uint16_t kBalancingCredit = 1 << 5;  // move at most what the credit side allows
inline constexpr uint16_t kClosingDebit = 1 << 6;     // (pending only) closes the debit account
inline constexpr uint16_t kClosingCredit = 1 << 7;    // (pending only) closes the credit account
// Migrated from another system: the event carries its booking timestamp (docs/data-model.md,
// "Import"); a batch is all imported or all native.
inline constexpr uint16_t kImported = 1 << 8;
inline constexpr uint16_t kAll = (1 << 9) - 1;
}  // namespace transfer_flags

struct Transfer {
  TransferId id;  // client-chosen idempotency key; not 0, not 2^128-1
  AccountId debit_account_id;
  AccountId credit_account_id;
  Amount amount;           // post_pending: the amount to post (Amount::Max() = all of it)
  TransferId pending_id;   // post_pending/void_pending: the reservation; otherwise 0
  TransferId reverses_id;  // non-zero: this transfer reverses that posted transfer
  UserData128 user_data_128;
  uint64_t user_data_64;
  // When it happened economically (client's clock), stored as given: 0 (= the booking time) or
  // below kTimestampLimitNs, else value_time_out_of_range.
  uint64_t value_time_ns;
  uint64_t timestamp_ns;  // booking timestamp; zero on create, set by the engine (imported: given)
  uint32_t user_data_32;
  // Pending only: expires this many seconds after booking; 0 = never. Any uint32, but the
  // deadline (booking timestamp + timeout_s * 10^9) must be below kTimestampLimitNs, else
  // overflows_timeout.
  uint32_t timeout_s;
  uint32_t ledger;
  uint16_t code;   // not 0
  uint16_t flags;  // transfer_flags
};

// Codes are listed in precedence order: an event gets the first that applies. Groups:
// validation of the event's own fields, idempotency, references, balances. The codes from
// kDebitAccountNotFound to kExceedsDebits are state-dependent: the event is recorded with its
// code (IsRecordedFailure), and a later event with that id never succeeds: compared with the
// failed event field by field as with a stored transfer, it gets kExistsWithDifferent* or,
// identical, kIdAlreadyFailed (Engine::LookupFailedTransfer tells the recorded code).
// Numbers are appended as codes are added, so they are not in precedence order.
enum class CreateTransferResult : uint8_t {
  kOk = 0,
  kLinkedEventFailed = 1,
  kLinkedEventChainOpen = 2,
  // Validation of the event's own fields (and of its import mode against the batch's).
  kImportedEventExpected = 71,     // the batch is imported (its first event is) but this is not
  kImportedEventNotExpected = 72,  // the batch is native but this event is imported
  kTimestampMustBeZero = 3,
  kImportedEventTimestampOutOfRange = 73,  // imported: 0, or not below the batch's, or >= 2^63
  kReservedFlag = 4,
  kIdMustNotBeZero = 5,
  kIdMustNotBeIntMax = 6,
  kFlagsAreMutuallyExclusive = 7,
  kPendingIdMustBeZero = 8,
  kPendingIdMustNotBeZero = 9,
  kPendingIdMustNotBeIntMax = 10,
  kPendingIdMustBeDifferent = 11,
  kReversesIdMustNotBeIntMax = 12,
  kReversesIdMustBeDifferent = 13,
  kReversalMustBePlain = 14,
  kTimeoutReservedForPendingTransfer = 15,
  kImportedEventTimeoutMustBeZero = 75,  // an imported reservation never expires by the clock
  kClosingTransferMustBePending = 16,
  kDebitAccountIdMustNotBeZero = 17,
  kDebitAccountIdMustNotBeIntMax = 18,
  kCreditAccountIdMustNotBeZero = 19,
  kCreditAccountIdMustNotBeIntMax = 20,
  kAccountsMustBeDifferent = 21,
  kLedgerMustNotBeZero = 22,
  kCodeMustNotBeZero = 23,
  kAmountMustNotBeZero = 24,
  kValueTimeOutOfRange = 70,  // value_time_ns neither 0 nor below kTimestampLimitNs
  // Idempotency.
  kExistsWithDifferentFlags = 25,
  kExistsWithDifferentPendingId = 26,
  kExistsWithDifferentReversesId = 27,
  kExistsWithDifferentTimeout = 28,
  kExistsWithDifferentDebitAccountId = 29,
  kExistsWithDifferentCreditAccountId = 30,
  kExistsWithDifferentAmount = 31,
  kExistsWithDifferentUserData128 = 32,
  kExistsWithDifferentUserData64 = 33,
  kExistsWithDifferentUserData32 = 34,
  kExistsWithDifferentLedger = 35,
  kExistsWithDifferentCode = 36,
  kExistsWithDifferentValueTime = 37,
  kExists = 38,
  kIdAlreadyFailed = 69,  // a retry of a failed id; its first attempt's code is recorded
  // Imported: at or before the last timestamp booked (not recorded: a retry may fix it).
  kImportedEventTimestampMustNotRegress = 74,
  // References (state-dependent from here on: recorded).
  kDebitAccountNotFound = 39,
  kCreditAccountNotFound = 40,
  kAccountsMustHaveTheSameLedger = 41,
  kTransferMustHaveTheSameLedgerAsAccounts = 42,
  kPendingTransferNotFound = 43,
  kPendingTransferNotPending = 44,
  kPendingTransferHasDifferentDebitAccountId = 45,
  kPendingTransferHasDifferentCreditAccountId = 46,
  kPendingTransferHasDifferentLedger = 47,
  kPendingTransferHasDifferentCode = 48,
  kExceedsPendingTransferAmount = 49,
  kPendingTransferHasDifferentAmount = 50,
  kPendingTransferAlreadyPosted = 51,
  kPendingTransferAlreadyVoided = 52,
  kPendingTransferExpired = 53,
  kReversedTransferNotFound = 54,
  kReversedTransferNotPosted = 55,
  kReversalMustSwapAccounts = 56,
  kExceedsReversibleAmount = 57,
  kDebitAccountAlreadyClosed = 58,
  kCreditAccountAlreadyClosed = 59,
  kOverflowsTimeout = 60,  // the deadline is not below kTimestampLimitNs
  // Balances.
  kOverflowsDebitsPending = 61,
  kOverflowsCreditsPending = 62,
  kOverflowsDebitsPosted = 63,
  kOverflowsCreditsPosted = 64,
  kOverflowsDebits = 65,
  kOverflowsCredits = 66,
  kExceedsCredits = 67,
  kExceedsDebits = 68,
};
inline constexpr uint8_t kCreateTransferResultCount = 76;

// True for codes whose event is recorded (see CreateTransferResult): the state-dependent range.
// Not kIdAlreadyFailed, numbered after it: a retry records nothing.
constexpr bool IsRecordedFailure(CreateTransferResult result) {
  return result >= CreateTransferResult::kDebitAccountNotFound &&
         result <= CreateTransferResult::kExceedsDebits;
}
static_assert(!IsRecordedFailure(CreateTransferResult::kIdAlreadyFailed));

// A transfer whose first attempt failed with a state-dependent code (Engine::LookupFailedTransfer).
struct FailedTransfer {
  // The event as submitted, except: timestamp_ns is the booking timestamp it would have had,
  // and flags lack kLinked (as a stored transfer's: being linked is the chain's, not the event's).
  Transfer event;
  CreateTransferResult code;  // IsRecordedFailure
  friend bool operator==(const FailedTransfer& a, const FailedTransfer& b) {
    return a.code == b.code && std::memcmp(&a.event, &b.event, sizeof(Transfer)) == 0;
  }
};

// Where a reservation stands. Expiry happens at the first batch whose timestamp reaches
// booking timestamp + timeout.
enum class PendingStatus : uint8_t {
  kNone = 0,  // not a pending transfer (or unknown id)
  kPending = 1,
  kPosted = 2,
  kVoided = 3,
  kExpired = 4,
};

// What became of a transfer (Engine::GetTransferStatus): for a reservation, whether it is still
// held and how it was resolved; for any transfer, how much of it has been reversed.
struct TransferStatus {
  PendingStatus pending_status = PendingStatus::kNone;  // kNone: not a reservation
  uint64_t expires_at_ns = 0;                           // a reservation's deadline; 0 = none
  Amount posted_amount;                                 // kPosted: what its post moved
  // Resolved: what went back to the accounts (the rest of a partial post; all of a void or
  // an expiry). A reservation still pending holds all of its amount.
  Amount released_amount;
  TransferId resolved_by;       // kPosted, kVoided: the post or void; otherwise zero
  Amount reversed_amount;       // reversed so far (never more than the amount)
  uint32_t reversal_count = 0;  // its reversals, oldest first from GetReversals
  friend bool operator==(const TransferStatus&, const TransferStatus&) = default;
};

// ---------------------------------------------------------------------------------------------
// Queries.

namespace filter_flags {
inline constexpr uint32_t kDebits = 1 << 0;    // transfers where the account is debited
inline constexpr uint32_t kCredits = 1 << 1;   // transfers where the account is credited
inline constexpr uint32_t kReversed = 1 << 2;  // newest first
}  // namespace filter_flags

// Selects an account's transfers or balance snapshots. Pagination: pass the last returned
// timestamp + 1 as timestamp_min_ns (or - 1 as timestamp_max_ns when reversed).
struct AccountFilter {
  AccountId account_id;
  uint64_t timestamp_min_ns = 0;  // inclusive; 0 = from the start
  uint64_t timestamp_max_ns = 0;  // inclusive; 0 = to the end
  uint16_t code = 0;              // 0 = any code
  uint32_t flags = filter_flags::kDebits | filter_flags::kCredits;
  uint32_t limit = 0;  // at most this many results (and at most the output span's size)
  // Transfers whose value time (ValueTimeOf) is in this range, inclusive; 0 = open. Results
  // stay in booking order, and pages still continue from the last booking timestamp: the
  // booking-time range bounds the scan, this one filters it.
  uint64_t value_time_min_ns = 0;
  uint64_t value_time_max_ns = 0;
};

// Selects accounts or transfers across the whole ledger (Engine::QueryAccounts,
// QueryTransfers): every field that is not zero must match (so zero cannot be asked for), and
// an empty filter selects everything. Results in booking order (newest first when reversed);
// pagination as AccountFilter: pass the last returned timestamp + 1 as timestamp_min_ns (or - 1
// as timestamp_max_ns when reversed). Timestamps are unique across accounts and transfers, so
// pages neither skip nor repeat a record.
struct QueryFilter {
  UserData128 user_data_128{};
  uint64_t user_data_64 = 0;
  uint32_t user_data_32 = 0;
  uint32_t ledger = 0;
  uint16_t code = 0;
  bool reversed = false;
  uint64_t timestamp_min_ns = 0;  // inclusive; 0 = from the start
  uint64_t timestamp_max_ns = 0;  // inclusive; 0 = to the end
  uint32_t limit = 0;             // at most this many (and at most the output span's size)
};

// When a transfer happened economically: its value_time_ns, or its booking timestamp when the
// client gave none (0).
inline uint64_t ValueTimeOf(const Transfer& transfer) {
  return transfer.value_time_ns != 0 ? transfer.value_time_ns : transfer.timestamp_ns;
}

// An account's posted balances at a value time (Engine::GetPostedAtValueTime).
struct PostedAtValueTime {
  Amount debits_posted;
  Amount credits_posted;
  uint64_t transfer_count = 0;  // the postings counted
  friend bool operator==(const PostedAtValueTime&, const PostedAtValueTime&) = default;
};

// An account's balances right after a change (a transfer or an expiry) at timestamp_ns.
struct AccountBalance {
  Amount debits_pending;
  Amount debits_posted;
  Amount credits_pending;
  Amount credits_posted;
  uint64_t timestamp_ns;
  uint64_t reserved;
};

// An account's four balances (the balance part of Account, and of AccountBalance).
struct AccountBalances {
  Amount debits_pending;
  Amount debits_posted;
  Amount credits_pending;
  Amount credits_posted;
  friend bool operator==(const AccountBalances&, const AccountBalances&) = default;
};

// ---------------------------------------------------------------------------------------------
// Change feed: every balance change in log order (docs/data-model.md, "Change feed").

enum class ChangeKind : uint8_t {
  kSinglePhase = 0,  // a posting: plain, balancing (without pending) or a reversal
  kPending = 1,      // a reservation (pending, with or without balancing or closing flags)
  kPosted = 2,       // a post_pending transfer; its pending_id names the reservation
  kVoided = 3,       // a void_pending transfer; its pending_id names the reservation
  kExpired = 4,      // a reservation expired (no transfer of its own)
};
inline constexpr uint8_t kChangeKindCount = 5;

// One balance change: a successful transfer, or the expiry of a reservation. Fixed layout.
struct Change {
  uint64_t sequence;       // dense, from 0 since genesis: the feed's cursor
  uint64_t timestamp_ns;   // booking timestamp of the transfer; for kExpired the batch timestamp
  TransferId transfer_id;  // the transfer; for kExpired the reservation that expired
  ChangeKind kind;
  uint8_t reserved[7];             // zero
  AccountBalances debit_balance;   // the debit account's four balances right after the change
  AccountBalances credit_balance;  // the credit account's
};

// A sum that cannot overflow: value = carries * 2^128 + low.
struct WideSum {
  Amount low;
  uint64_t carries = 0;
  void Add(Amount amount) {
    u128 before = low.Get();
    low = Amount::From(before + amount.Get());
    carries += low.Get() < before ? 1 : 0;
  }
  friend bool operator==(const WideSum&, const WideSum&) = default;
};

// Per-ledger sums over every account. Double entry means debits equal credits, always.
struct TrialBalance {
  uint32_t ledger = 0;
  uint64_t account_count = 0;
  WideSum debits_pending, debits_posted, credits_pending, credits_posted;
  bool Balanced() const {
    return debits_pending == credits_pending && debits_posted == credits_posted;
  }
};

// ---------------------------------------------------------------------------------------------
// Layout pins: readers of WAL entries, snapshots and RPC messages rely on these.

static_assert(sizeof(AccountId) == 16 && alignof(AccountId) == 8);
static_assert(std::is_trivially_copyable_v<Ledger> && sizeof(Ledger) == 32);
static_assert(offsetof(Ledger, scale) == 4 && offsetof(Ledger, flags) == 5 &&
              offsetof(Ledger, reserved) == 6 && offsetof(Ledger, asset_code) == 8 &&
              offsetof(Ledger, timestamp_ns) == 24);
static_assert(std::is_trivially_copyable_v<Account> && sizeof(Account) == 128);
static_assert(offsetof(Account, debits_pending) == 16 && offsetof(Account, debits_posted) == 32 &&
              offsetof(Account, credits_pending) == 48 && offsetof(Account, credits_posted) == 64 &&
              offsetof(Account, user_data_128) == 80 && offsetof(Account, user_data_64) == 96 &&
              offsetof(Account, user_data_32) == 104 && offsetof(Account, reserved) == 108 &&
              offsetof(Account, ledger) == 112 && offsetof(Account, code) == 116 &&
              offsetof(Account, flags) == 118 && offsetof(Account, timestamp_ns) == 120);
static_assert(std::is_trivially_copyable_v<Transfer> && sizeof(Transfer) == 152);
static_assert(offsetof(Transfer, debit_account_id) == 16 &&
              offsetof(Transfer, credit_account_id) == 32 && offsetof(Transfer, amount) == 48 &&
              offsetof(Transfer, pending_id) == 64 && offsetof(Transfer, reverses_id) == 80 &&
              offsetof(Transfer, user_data_128) == 96 && offsetof(Transfer, user_data_64) == 112 &&
              offsetof(Transfer, value_time_ns) == 120 && offsetof(Transfer, timestamp_ns) == 128 &&
              offsetof(Transfer, user_data_32) == 136 && offsetof(Transfer, timeout_s) == 140 &&
              offsetof(Transfer, ledger) == 144 && offsetof(Transfer, code) == 148 &&
              offsetof(Transfer, flags) == 150);
static_assert(sizeof(AccountBalance) == 80);
static_assert(std::is_trivially_copyable_v<AccountBalances> && sizeof(AccountBalances) == 64);
static_assert(offsetof(AccountBalances, debits_posted) == 16 &&
              offsetof(AccountBalances, credits_pending) == 32 &&
              offsetof(AccountBalances, credits_posted) == 48);
static_assert(std::is_trivially_copyable_v<Change> && sizeof(Change) == 168 &&
              alignof(Change) == 8);
static_assert(offsetof(Change, timestamp_ns) == 8 && offsetof(Change, transfer_id) == 16 &&
              offsetof(Change, kind) == 32 && offsetof(Change, reserved) == 33 &&
              offsetof(Change, debit_balance) == 40 && offsetof(Change, credit_balance) == 104);

}  // namespace ledger
