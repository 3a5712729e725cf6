// Precedence: when two codes apply to one event, the one earlier in the documented order wins
// (chains, then validation, then idempotency, then references, then balances). Each test first
// shows that each condition alone yields its own code, then combines them.
#include <vector>

#include "tests/engine/test_util.h"

namespace ledger::engine::test {
namespace {

using L = CreateLedgerResult;
using A = CreateAccountResult;
using R = CreateTransferResult;

constexpr uint16_t kPost = tf::kPostPending;
constexpr uint16_t kVoid = tf::kVoidPending;

// ---------------------------------------------------------------------------------------------
// Ledgers.

TEST(LedgerPrecedence, TimestampMustBeZeroBeatsReservedField) {
  Harness h;
  EXPECT_EQ(h.CreateLedger({.id = 1, .reserved = {1, 0}}), L::kReservedField);
  EXPECT_EQ(h.CreateLedger({.id = 1, .timestamp_ns = 1}), L::kTimestampMustBeZero);
  EXPECT_EQ(h.CreateLedger({.id = 1, .reserved = {1, 0}, .timestamp_ns = 1}),
            L::kTimestampMustBeZero);
}

TEST(LedgerPrecedence, ReservedFieldBeatsIdMustNotBeZero) {
  Harness h;
  EXPECT_EQ(h.CreateLedger({.id = 0, .reserved = {0, 1}}), L::kReservedField);
}

TEST(LedgerPrecedence, IdMustNotBeZeroBeatsScaleTooLarge) {
  Harness h;
  EXPECT_EQ(h.CreateLedger({.id = 1, .scale = 39}), L::kScaleTooLarge);
  EXPECT_EQ(h.CreateLedger({.id = 0, .scale = 39}), L::kIdMustNotBeZero);
}

TEST(LedgerPrecedence, ScaleTooLargeBeatsAssetCodeInvalid) {
  Harness h;
  EXPECT_EQ(h.CreateLedger({.id = 1, .asset_code = "usd"}), L::kAssetCodeInvalid);
  EXPECT_EQ(h.CreateLedger({.id = 1, .scale = 39, .asset_code = "usd"}), L::kScaleTooLarge);
}

TEST(LedgerPrecedence, ValidationBeatsExistsWithDifferentScaleOrAssetCode) {
  Harness h;
  h.AddLedger(1, "USD");
  EXPECT_EQ(h.CreateLedger({.id = 1, .scale = 39}), L::kScaleTooLarge);
  EXPECT_EQ(h.CreateLedger({.id = 1, .asset_code = "usd"}), L::kAssetCodeInvalid);
}

TEST(LedgerPrecedence, ExistsWithDifferentScaleBeatsExistsWithDifferentAssetCode) {
  Harness h;
  h.AddLedger(1, "USD");
  EXPECT_EQ(h.CreateLedger({.id = 1, .scale = 2, .asset_code = "EUR"}),
            L::kExistsWithDifferentAssetCode);
  EXPECT_EQ(h.CreateLedger({.id = 1, .scale = 3, .asset_code = "EUR"}),
            L::kExistsWithDifferentScale);
}

// ---------------------------------------------------------------------------------------------
// Accounts.

TEST(AccountPrecedence, LinkedEventChainOpenBeatsTheEventsOwnValidationCode) {
  Harness h;
  h.AddLedger(1);
  EXPECT_EQ(h.CreateAccount({.id = 10, .flags = af::kLinked, .timestamp_ns = 1}),
            A::kLinkedEventChainOpen);
}

TEST(AccountPrecedence, LinkedEventFailedBeatsALaterEventsOwnCode) {
  Harness h;
  h.AddLedger(1);
  EXPECT_EQ(h.CreateAccounts({{.id = 10, .ledger = 9, .flags = af::kLinked},
                              {.id = 0, .flags = af::kLinked},
                              {.id = 12, .code = 0}}),
            (std::vector<A>{A::kLedgerNotFound, A::kLinkedEventFailed, A::kLinkedEventFailed}));
}

TEST(AccountPrecedence, TimestampMustBeZeroBeatsReservedField) {
  Harness h;
  h.AddLedger(1);
  EXPECT_EQ(h.CreateAccount({.id = 10, .reserved = 1, .timestamp_ns = 1}), A::kTimestampMustBeZero);
}

TEST(AccountPrecedence, ReservedFieldBeatsReservedFlag) {
  Harness h;
  h.AddLedger(1);
  EXPECT_EQ(h.CreateAccount({.id = 10, .reserved = 1, .flags = kUnknownAccountFlag}),
            A::kReservedField);
}

TEST(AccountPrecedence, ReservedFlagBeatsIdMustNotBeZero) {
  Harness h;
  h.AddLedger(1);
  EXPECT_EQ(h.CreateAccount({.id = 0, .flags = kUnknownAccountFlag}), A::kReservedFlag);
}

TEST(AccountPrecedence, IdMustNotBeIntMaxBeatsFlagsAreMutuallyExclusive) {
  Harness h;
  h.AddLedger(1);
  EXPECT_EQ(
      h.CreateAccount({.id = kU128Max,
                       .flags = af::kDebitsMustNotExceedCredits | af::kCreditsMustNotExceedDebits}),
      A::kIdMustNotBeIntMax);
}

TEST(AccountPrecedence, FlagsAreMutuallyExclusiveBeatsClosedFlagMustNotBeSet) {
  Harness h;
  h.AddLedger(1);
  EXPECT_EQ(h.CreateAccount({.id = 10,
                             .flags = af::kDebitsMustNotExceedCredits |
                                      af::kCreditsMustNotExceedDebits | af::kClosed}),
            A::kFlagsAreMutuallyExclusive);
}

TEST(AccountPrecedence, ClosedFlagMustNotBeSetBeatsNonZeroBalances) {
  Harness h;
  h.AddLedger(1);
  EXPECT_EQ(h.CreateAccount({.id = 10, .debits_pending = 1, .flags = af::kClosed}),
            A::kClosedFlagMustNotBeSet);
}

TEST(AccountPrecedence, BalancesAreCheckedInDocumentedOrder) {
  Harness h;
  h.AddLedger(1);
  EXPECT_EQ(h.CreateAccount({.id = 10, .debits_pending = 1, .credits_posted = 1}),
            A::kDebitsPendingMustBeZero);
  EXPECT_EQ(h.CreateAccount({.id = 10, .debits_posted = 1, .credits_pending = 1}),
            A::kDebitsPostedMustBeZero);
  EXPECT_EQ(h.CreateAccount({.id = 10, .credits_pending = 1, .credits_posted = 1}),
            A::kCreditsPendingMustBeZero);
  EXPECT_EQ(h.CreateAccount({.id = 10, .credits_posted = 1, .ledger = 0}),
            A::kCreditsPostedMustBeZero);
}

TEST(AccountPrecedence, LedgerMustNotBeZeroBeatsCodeMustNotBeZero) {
  Harness h;
  h.AddLedger(1);
  EXPECT_EQ(h.CreateAccount({.id = 10, .ledger = 0, .code = 0}), A::kLedgerMustNotBeZero);
}

TEST(AccountPrecedence, CodeMustNotBeZeroBeatsExistsWithDifferentCode) {
  Harness h;
  h.AddLedger(1);
  h.AddAccount({.id = 10, .code = 5});
  EXPECT_EQ(h.CreateAccount({.id = 10, .code = 6}), A::kExistsWithDifferentCode);
  EXPECT_EQ(h.CreateAccount({.id = 10, .code = 0}), A::kCodeMustNotBeZero);
}

TEST(AccountPrecedence, ExistsWithDifferentFieldsAreComparedInDocumentedOrder) {
  Harness h;
  h.AddLedger(1);
  h.AddLedger(2, "EUR");
  h.AddAccount({.id = 10, .user_data_128 = 1, .user_data_64 = 1, .user_data_32 = 1, .code = 1});
  EXPECT_EQ(h.CreateAccount({.id = 10,
                             .user_data_128 = 2,
                             .user_data_64 = 2,
                             .user_data_32 = 2,
                             .ledger = 2,
                             .code = 2,
                             .flags = af::kHistory}),
            A::kExistsWithDifferentFlags);
  EXPECT_EQ(h.CreateAccount({.id = 10,
                             .user_data_128 = 2,
                             .user_data_64 = 2,
                             .user_data_32 = 2,
                             .ledger = 2,
                             .code = 2}),
            A::kExistsWithDifferentUserData128);
  EXPECT_EQ(h.CreateAccount({.id = 10,
                             .user_data_128 = 1,
                             .user_data_64 = 2,
                             .user_data_32 = 2,
                             .ledger = 2,
                             .code = 2}),
            A::kExistsWithDifferentUserData64);
  EXPECT_EQ(h.CreateAccount({.id = 10,
                             .user_data_128 = 1,
                             .user_data_64 = 1,
                             .user_data_32 = 2,
                             .ledger = 2,
                             .code = 2}),
            A::kExistsWithDifferentUserData32);
  EXPECT_EQ(h.CreateAccount({.id = 10,
                             .user_data_128 = 1,
                             .user_data_64 = 1,
                             .user_data_32 = 1,
                             .ledger = 2,
                             .code = 2}),
            A::kExistsWithDifferentLedger);
}

TEST(AccountPrecedence, ExistsWithDifferentLedgerBeatsLedgerNotFound) {
  Harness h;
  h.AddLedger(1);
  h.AddAccount({.id = 10});
  EXPECT_EQ(h.CreateAccount({.id = 11, .ledger = 9}), A::kLedgerNotFound);
  EXPECT_EQ(h.CreateAccount({.id = 10, .ledger = 9}), A::kExistsWithDifferentLedger);
}

// ---------------------------------------------------------------------------------------------
// Transfers: chains and validation.

TEST(TransferPrecedence, LinkedEventChainOpenBeatsTheEventsOwnValidationCode) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(
      h.CreateTransfer({.id = 0, .debit = kA, .credit = kB, .amount = 5, .flags = tf::kLinked}),
      R::kLinkedEventChainOpen);
}

TEST(TransferPrecedence, LinkedEventFailedBeatsALaterEventsOwnCode) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfers({
                {.id = 10, .debit = kA, .credit = kB, .amount = 5, .flags = tf::kLinked},
                {.id = 11, .debit = kDebitLimited, .credit = kB, .amount = 5, .flags = tf::kLinked},
                {.id = 12, .debit = kA, .credit = kB, .amount = 0},
            }),
            (std::vector<R>{R::kLinkedEventFailed, R::kExceedsCredits, R::kLinkedEventFailed}));
  // Not recorded as amount_must_not_be_zero; fixed, it succeeds.
  EXPECT_EQ(h.CreateTransfer({.id = 12, .debit = kA, .credit = kB, .amount = 1}), R::kOk);
}

TEST(TransferPrecedence, TimestampMustBeZeroBeatsReservedFlag) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer(
                {.id = 10, .debit = kA, .credit = kB, .amount = 5, .flags = kUnknownTransferFlag}),
            R::kReservedFlag);
  EXPECT_EQ(h.CreateTransfer({.id = 10,
                              .debit = kA,
                              .credit = kB,
                              .amount = 5,
                              .timestamp_ns = 1,
                              .flags = kUnknownTransferFlag}),
            R::kTimestampMustBeZero);
}

TEST(TransferPrecedence, ReservedFlagBeatsIdMustNotBeZero) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer({.id = 0, .debit = kA, .credit = kB, .amount = 5}),
            R::kIdMustNotBeZero);
  EXPECT_EQ(h.CreateTransfer(
                {.id = 0, .debit = kA, .credit = kB, .amount = 5, .flags = kUnknownTransferFlag}),
            R::kReservedFlag);
}

TEST(TransferPrecedence, IdMustNotBeIntMaxBeatsFlagsAreMutuallyExclusive) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(
      h.CreateTransfer({.id = kU128Max, .amount = 5, .pending_id = 200, .flags = kPost | kVoid}),
      R::kIdMustNotBeIntMax);
}

TEST(TransferPrecedence, FlagsAreMutuallyExclusiveBeatsPendingIdMustNotBeZero) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .amount = 5, .flags = kPost}), R::kPendingIdMustNotBeZero);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .amount = 5, .flags = kPost | tf::kPending}),
            R::kFlagsAreMutuallyExclusive);
}

TEST(TransferPrecedence, PendingIdMustBeZeroBeatsReversalMustBePlain) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer({.id = 10,
                              .debit = kB,
                              .credit = kA,
                              .amount = 5,
                              .pending_id = 200,
                              .reverses_id = 100,
                              .flags = tf::kPending}),
            R::kPendingIdMustBeZero);
}

TEST(TransferPrecedence, PendingIdMustBeDifferentBeatsReversesIdMustNotBeIntMax) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer(
                {.id = 10, .amount = 5, .pending_id = 10, .reverses_id = kU128Max, .flags = kPost}),
            R::kPendingIdMustBeDifferent);
}

TEST(TransferPrecedence, ReversalMustBePlainBeatsTimeoutReservedForPendingTransfer) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kB, .credit = kA, .amount = 5, .timeout_s = 5}),
            R::kTimeoutReservedForPendingTransfer);
  EXPECT_EQ(h.CreateTransfer({.id = 10,
                              .debit = kB,
                              .credit = kA,
                              .amount = 5,
                              .reverses_id = 100,
                              .timeout_s = 5,
                              .flags = tf::kBalancingDebit}),
            R::kReversalMustBePlain);
}

TEST(TransferPrecedence, TimeoutReservedForPendingTransferBeatsClosingTransferMustBePending) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer({.id = 10,
                              .debit = kA,
                              .credit = kB,
                              .amount = 5,
                              .timeout_s = 5,
                              .flags = tf::kClosingDebit}),
            R::kTimeoutReservedForPendingTransfer);
}

TEST(TransferPrecedence, ClosingTransferMustBePendingBeatsDebitAccountIdMustNotBeZero) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = 0, .credit = kB, .amount = 5}),
            R::kDebitAccountIdMustNotBeZero);
  EXPECT_EQ(h.CreateTransfer(
                {.id = 10, .debit = 0, .credit = kB, .amount = 5, .flags = tf::kClosingCredit}),
            R::kClosingTransferMustBePending);
}

TEST(TransferPrecedence, DebitAccountIdChecksBeatCreditAccountIdChecks) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = 0, .credit = 0, .amount = 5}),
            R::kDebitAccountIdMustNotBeZero);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kU128Max, .credit = 0, .amount = 5}),
            R::kDebitAccountIdMustNotBeIntMax);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kA, .credit = 0, .amount = 5}),
            R::kCreditAccountIdMustNotBeZero);
}

TEST(TransferPrecedence, AccountsMustBeDifferentBeatsLedgerMustNotBeZero) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kA, .credit = kA, .amount = 5, .ledger = 0}),
            R::kAccountsMustBeDifferent);
}

TEST(TransferPrecedence, LedgerMustNotBeZeroBeatsCodeMustNotBeZeroBeatsAmountMustNotBeZero) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kA, .credit = kB, .ledger = 0, .code = 0}),
            R::kLedgerMustNotBeZero);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kA, .credit = kB, .code = 0}),
            R::kCodeMustNotBeZero);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kA, .credit = kB}), R::kAmountMustNotBeZero);
}

// ---------------------------------------------------------------------------------------------
// Transfers: validation before idempotency before references before balances.

TEST(TransferPrecedence, AmountMustNotBeZeroBeatsExistsWithDifferentAmount) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 10, .debit = kA, .credit = kB, .amount = 5});
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kA, .credit = kB, .amount = 6}),
            R::kExistsWithDifferentAmount);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kA, .credit = kB, .amount = 0}),
            R::kAmountMustNotBeZero);
}

TEST(TransferPrecedence, AmountMustNotBeZeroBeatsValueTimeOutOfRange) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(
      h.CreateTransfer(
          {.id = 10, .debit = kA, .credit = kB, .amount = 0, .value_time_ns = kTimestampLimitNs}),
      R::kAmountMustNotBeZero);
  EXPECT_EQ(
      h.CreateTransfer(
          {.id = 10, .debit = kA, .credit = kB, .amount = 1, .value_time_ns = kTimestampLimitNs}),
      R::kValueTimeOutOfRange);
}

TEST(TransferPrecedence, ValueTimeOutOfRangeBeatsExistsWithDifferentValueTime) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 10, .debit = kA, .credit = kB, .amount = 5, .value_time_ns = 7});
  EXPECT_EQ(
      h.CreateTransfer(
          {.id = 10, .debit = kA, .credit = kB, .amount = 5, .value_time_ns = kTimestampLimitNs}),
      R::kValueTimeOutOfRange);
  EXPECT_EQ(
      h.CreateTransfer({.id = 10, .debit = kA, .credit = kB, .amount = 5, .value_time_ns = 8}),
      R::kExistsWithDifferentValueTime);
}

TEST(TransferPrecedence, ValueTimeOutOfRangeBeatsDebitAccountNotFoundAndIsNotRecorded) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer({.id = 10,
                              .debit = kMissingAccount,
                              .credit = kB,
                              .amount = 5,
                              .value_time_ns = ~uint64_t{0}}),
            R::kValueTimeOutOfRange);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kA, .credit = kB, .amount = 5}), R::kOk);
}

TEST(TransferPrecedence, ValidationBeatsTheRecordedCodeOfAFailedId) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kMissingAccount, .credit = kB, .amount = 5}),
            R::kDebitAccountNotFound);
  EXPECT_EQ(h.CreateTransfer(
                {.id = 10, .debit = kMissingAccount, .credit = kB, .amount = 5, .timestamp_ns = 1}),
            R::kTimestampMustBeZero);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kMissingAccount, .credit = kB, .amount = 5}),
            R::kIdAlreadyFailed);
}

TEST(TransferPrecedence, ExistsWithDifferentFlagsBeatsExistsWithDifferentAmount) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 10, .debit = kA, .credit = kB, .amount = 5});
  EXPECT_EQ(
      h.CreateTransfer({.id = 10, .debit = kA, .credit = kB, .amount = 6, .flags = tf::kPending}),
      R::kExistsWithDifferentFlags);
}

TEST(TransferPrecedence, ExistsWithDifferentFieldsAreComparedInEnumOrder) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 10,
                 .debit = kA,
                 .credit = kB,
                 .amount = 5,
                 .user_data_128 = 1,
                 .user_data_64 = 1,
                 .value_time_ns = 1,
                 .user_data_32 = 1,
                 .code = 1});
  // Every field differs; fixing the one each code names exposes the next.
  TransferSpec retry = {.id = 10,
                        .debit = kC,
                        .credit = kDebitLimited,
                        .amount = 6,
                        .user_data_128 = 2,
                        .user_data_64 = 2,
                        .value_time_ns = 2,
                        .user_data_32 = 2,
                        .ledger = kEur,
                        .code = 2};
  EXPECT_EQ(h.CreateTransfer(retry), R::kExistsWithDifferentDebitAccountId);
  retry.debit = kA;
  EXPECT_EQ(h.CreateTransfer(retry), R::kExistsWithDifferentCreditAccountId);
  retry.credit = kB;
  EXPECT_EQ(h.CreateTransfer(retry), R::kExistsWithDifferentAmount);
  retry.amount = 5;
  EXPECT_EQ(h.CreateTransfer(retry), R::kExistsWithDifferentUserData128);
  retry.user_data_128 = 1;
  EXPECT_EQ(h.CreateTransfer(retry), R::kExistsWithDifferentUserData64);
  retry.user_data_64 = 1;
  EXPECT_EQ(h.CreateTransfer(retry), R::kExistsWithDifferentUserData32);
  retry.user_data_32 = 1;
  EXPECT_EQ(h.CreateTransfer(retry), R::kExistsWithDifferentLedger);
  retry.ledger = kUsd;
  EXPECT_EQ(h.CreateTransfer(retry), R::kExistsWithDifferentCode);
  retry.code = 1;
  EXPECT_EQ(h.CreateTransfer(retry), R::kExistsWithDifferentValueTime);
  retry.value_time_ns = 1;
  EXPECT_EQ(h.CreateTransfer(retry), R::kExists);
}

TEST(TransferPrecedence, ExistsWithDifferentPendingIdBeatsExistsWithDifferentAmount) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 200, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  h.AddTransfer({.id = 10, .amount = 50, .pending_id = 200, .flags = kPost});
  EXPECT_EQ(h.CreateTransfer({.id = 10, .amount = 40, .pending_id = 200, .flags = kPost}),
            R::kExistsWithDifferentAmount);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .amount = 40, .pending_id = 201, .flags = kPost}),
            R::kExistsWithDifferentPendingId);
}

TEST(TransferPrecedence, ExistsWithDifferentTimeoutBeatsExistsWithDifferentDebitAccountId) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 11, .debit = kA, .credit = kB, .amount = 5, .flags = tf::kPending});
  EXPECT_EQ(
      h.CreateTransfer({.id = 11, .debit = kC, .credit = kB, .amount = 5, .flags = tf::kPending}),
      R::kExistsWithDifferentDebitAccountId);
  EXPECT_EQ(h.CreateTransfer({.id = 11,
                              .debit = kC,
                              .credit = kB,
                              .amount = 5,
                              .timeout_s = 5,
                              .flags = tf::kPending}),
            R::kExistsWithDifferentTimeout);
}

TEST(TransferPrecedence, ValidationBeatsExistsWithDifferentReversesId) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kA, .credit = kB, .amount = 5});
  h.AddTransfer({.id = 11, .debit = kB, .credit = kA, .amount = 5, .flags = tf::kPending});
  EXPECT_EQ(h.CreateTransfer({.id = 11,
                              .debit = kB,
                              .credit = kA,
                              .amount = 5,
                              .reverses_id = 100,
                              .flags = tf::kPending}),
            R::kReversalMustBePlain);
}

TEST(TransferPrecedence, ExistsWithDifferentDebitAccountIdBeatsDebitAccountNotFound) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 10, .debit = kA, .credit = kB, .amount = 5});
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kMissingAccount, .credit = kB, .amount = 5}),
            R::kExistsWithDifferentDebitAccountId);
  EXPECT_EQ(h.engine().GetStats().failed_transfer_count, 0u);
}

TEST(TransferPrecedence, ExistsBeatsExceedsCreditsWhenRetryingASpentTransfer) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300, .debit = kA, .credit = kDebitLimited, .amount = 100});
  h.AddTransfer({.id = 10, .debit = kDebitLimited, .credit = kB, .amount = 100});
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kDebitLimited, .credit = kB, .amount = 100}),
            R::kExceedsCredits);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kDebitLimited, .credit = kB, .amount = 100}),
            R::kExists);
  EXPECT_EQ(h.BalancesOf(kDebitLimited), (Balances{.debits_posted = 100, .credits_posted = 100}));
}

TEST(TransferPrecedence, ExistsBeatsPendingTransferAlreadyPostedOrVoided) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 200, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  h.AddTransfer({.id = 201, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  h.AddTransfer({.id = 10, .amount = 50, .pending_id = 200, .flags = kPost});
  h.AddTransfer({.id = 11, .pending_id = 201, .flags = kVoid});
  EXPECT_EQ(h.CreateTransfer({.id = 12, .amount = 50, .pending_id = 200, .flags = kPost}),
            R::kPendingTransferAlreadyPosted);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .amount = 50, .pending_id = 200, .flags = kPost}),
            R::kExists);
  EXPECT_EQ(h.CreateTransfer({.id = 11, .pending_id = 201, .flags = kVoid}), R::kExists);
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 50}));
}

TEST(TransferPrecedence, ExistsBeatsPendingTransferExpiredForAPostMadeBeforeExpiry) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer(
      {.id = 200, .debit = kA, .credit = kB, .amount = 50, .timeout_s = 1, .flags = tf::kPending});
  h.AddTransfer({.id = 10, .amount = 20, .pending_id = 200, .flags = kPost});
  h.AdvanceTo(h.LookupTransfer(200).value().timestamp_ns + kNanosPerSecond);
  EXPECT_EQ(h.StatusOf(200), PendingStatus::kPosted);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .amount = 20, .pending_id = 200, .flags = kPost}),
            R::kExists);
}

TEST(TransferPrecedence, ExistsBeatsExceedsReversibleAmountForAStoredReversal) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kA, .credit = kB, .amount = 30});
  h.AddTransfer({.id = 10, .debit = kB, .credit = kA, .amount = 30, .reverses_id = 100});
  EXPECT_EQ(
      h.CreateTransfer({.id = 11, .debit = kB, .credit = kA, .amount = 30, .reverses_id = 100}),
      R::kExceedsReversibleAmount);
  EXPECT_EQ(
      h.CreateTransfer({.id = 10, .debit = kB, .credit = kA, .amount = 30, .reverses_id = 100}),
      R::kExists);
  EXPECT_EQ(h.ReversedAmountOf(100), Amt(30));
}

TEST(TransferPrecedence, ExistsBeatsDebitAccountAlreadyClosedForTheClosingReservation) {
  Harness h;
  CreateStandardBook(h);
  const TransferSpec closing = {
      .id = 300, .debit = kA, .credit = kB, .amount = 1, .flags = tf::kPending | tf::kClosingDebit};
  h.AddTransfer(closing);
  h.AddTransfer({.id = 10, .debit = kC, .credit = kB, .amount = 1});
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kA, .credit = kB, .amount = 1}),
            R::kDebitAccountAlreadyClosed);
  EXPECT_EQ(h.CreateTransfer(closing), R::kExists);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kC, .credit = kB, .amount = 1}), R::kExists);
  EXPECT_TRUE(h.IsClosed(kA));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_pending = 1}));
}

TEST(TransferPrecedence, DebitAccountNotFoundBeatsCreditAccountNotFound) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kA, .credit = 98, .amount = 5}),
            R::kCreditAccountNotFound);
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = 97, .credit = 98, .amount = 5}),
            R::kDebitAccountNotFound);
}

TEST(TransferPrecedence, AccountsMustHaveTheSameLedgerBeatsTransferLedgerMismatch) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(
      h.CreateTransfer({.id = 10, .debit = kA, .credit = kEurAccount, .amount = 5, .ledger = kEur}),
      R::kAccountsMustHaveTheSameLedger);
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kA, .credit = kB, .amount = 5, .ledger = kEur}),
            R::kTransferMustHaveTheSameLedgerAsAccounts);
}

TEST(TransferPrecedence, AccountsMustHaveTheSameLedgerBeatsExceedsCredits) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kDebitLimited, .credit = kB, .amount = 5}),
            R::kExceedsCredits);
  EXPECT_EQ(
      h.CreateTransfer({.id = 11, .debit = kDebitLimited, .credit = kEurAccount, .amount = 5}),
      R::kAccountsMustHaveTheSameLedger);
}

TEST(TransferPrecedence, PendingTransferHasDifferentDebitBeatsDifferentCreditLedgerAndCode) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 200, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  EXPECT_EQ(
      h.CreateTransfer(
          {.id = 10, .debit = kC, .credit = kC, .amount = 5, .pending_id = 200, .flags = kPost}),
      R::kAccountsMustBeDifferent);  // validation first
  EXPECT_EQ(h.CreateTransfer({.id = 11,
                              .debit = kB,
                              .credit = kA,
                              .amount = 5,
                              .pending_id = 200,
                              .ledger = kEur,
                              .code = 2,
                              .flags = kPost}),
            R::kPendingTransferHasDifferentDebitAccountId);
  EXPECT_EQ(h.CreateTransfer({.id = 12,
                              .credit = kA,
                              .amount = 5,
                              .pending_id = 200,
                              .ledger = kEur,
                              .code = 2,
                              .flags = kPost}),
            R::kPendingTransferHasDifferentCreditAccountId);
  EXPECT_EQ(
      h.CreateTransfer(
          {.id = 13, .amount = 5, .pending_id = 200, .ledger = kEur, .code = 2, .flags = kPost}),
      R::kPendingTransferHasDifferentLedger);
}

TEST(TransferPrecedence, PendingTransferHasDifferentCodeBeatsExceedsPendingTransferAmount) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 200, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  EXPECT_EQ(h.CreateTransfer({.id = 10, .amount = 51, .pending_id = 200, .flags = kPost}),
            R::kExceedsPendingTransferAmount);
  EXPECT_EQ(
      h.CreateTransfer({.id = 11, .amount = 51, .pending_id = 200, .code = 2, .flags = kPost}),
      R::kPendingTransferHasDifferentCode);
}

TEST(TransferPrecedence, ExceedsPendingTransferAmountBeatsPendingTransferAlreadyPosted) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 200, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  h.AddTransfer({.id = 10, .amount = 50, .pending_id = 200, .flags = kPost});
  EXPECT_EQ(h.CreateTransfer({.id = 11, .amount = 50, .pending_id = 200, .flags = kPost}),
            R::kPendingTransferAlreadyPosted);
  EXPECT_EQ(h.CreateTransfer({.id = 12, .amount = 51, .pending_id = 200, .flags = kPost}),
            R::kExceedsPendingTransferAmount);
}

TEST(TransferPrecedence, PendingTransferHasDifferentAmountBeatsPendingTransferAlreadyVoided) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 200, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  h.AddTransfer({.id = 10, .pending_id = 200, .flags = kVoid});
  EXPECT_EQ(h.CreateTransfer({.id = 11, .pending_id = 200, .flags = kVoid}),
            R::kPendingTransferAlreadyVoided);
  EXPECT_EQ(h.CreateTransfer({.id = 12, .amount = 7, .pending_id = 200, .flags = kVoid}),
            R::kPendingTransferHasDifferentAmount);
}

TEST(TransferPrecedence, PendingTransferExpiredBeatsDebitAccountAlreadyClosed) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer(
      {.id = 200, .debit = kA, .credit = kB, .amount = 50, .timeout_s = 1, .flags = tf::kPending});
  h.AdvanceTo(h.LookupTransfer(200).value().timestamp_ns + kNanosPerSecond);
  h.AddTransfer({.id = 300,
                 .debit = kA,
                 .credit = kC,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingDebit});
  EXPECT_EQ(h.CreateTransfer({.id = 10, .amount = 50, .pending_id = 200, .flags = kPost}),
            R::kPendingTransferExpired);
}

TEST(TransferPrecedence, ReversedTransferNotPostedBeatsReversalMustSwapAccounts) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 200, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  EXPECT_EQ(
      h.CreateTransfer({.id = 10, .debit = kA, .credit = kB, .amount = 5, .reverses_id = 200}),
      R::kReversedTransferNotPosted);
}

TEST(TransferPrecedence, ReversalMustSwapAccountsBeatsExceedsReversibleAmount) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kA, .credit = kB, .amount = 30});
  EXPECT_EQ(
      h.CreateTransfer({.id = 10, .debit = kB, .credit = kA, .amount = 31, .reverses_id = 100}),
      R::kExceedsReversibleAmount);
  EXPECT_EQ(
      h.CreateTransfer({.id = 11, .debit = kA, .credit = kB, .amount = 31, .reverses_id = 100}),
      R::kReversalMustSwapAccounts);
}

TEST(TransferPrecedence, ExceedsReversibleAmountBeatsDebitAccountAlreadyClosed) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kA, .credit = kB, .amount = 30});
  h.AddTransfer({.id = 300,
                 .debit = kB,
                 .credit = kC,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingDebit});
  EXPECT_EQ(
      h.CreateTransfer({.id = 10, .debit = kB, .credit = kA, .amount = 30, .reverses_id = 100}),
      R::kDebitAccountAlreadyClosed);
  EXPECT_EQ(
      h.CreateTransfer({.id = 11, .debit = kB, .credit = kA, .amount = 31, .reverses_id = 100}),
      R::kExceedsReversibleAmount);
}

TEST(TransferPrecedence, DebitAccountAlreadyClosedBeatsCreditAccountAlreadyClosed) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300,
                 .debit = kA,
                 .credit = kB,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingDebit | tf::kClosingCredit});
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kC, .credit = kB, .amount = 5}),
            R::kCreditAccountAlreadyClosed);
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kA, .credit = kB, .amount = 5}),
            R::kDebitAccountAlreadyClosed);
}

TEST(TransferPrecedence, DebitAccountAlreadyClosedBeatsExceedsCredits) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300,
                 .debit = kA,
                 .credit = kDebitLimited,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingCredit});
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kDebitLimited, .credit = kB, .amount = 5}),
            R::kDebitAccountAlreadyClosed);
}

TEST(TransferPrecedence, CreditAccountAlreadyClosedBeatsOverflowsDebitsPosted) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300, .debit = kA, .credit = kB, .amount = kU128Max});
  h.AddTransfer({.id = 301,
                 .debit = kB,
                 .credit = kC,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingCredit});
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kA, .credit = kWithHistory, .amount = 1}),
            R::kOverflowsDebitsPosted);
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kA, .credit = kC, .amount = 1}),
            R::kCreditAccountAlreadyClosed);
}

TEST(TransferPrecedence, OverflowsDebitsPendingBeatsOverflowsCreditsPending) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300, .debit = kA, .credit = kB, .amount = kU128Max, .flags = tf::kPending});
  EXPECT_EQ(
      h.CreateTransfer({.id = 10, .debit = kA, .credit = kB, .amount = 1, .flags = tf::kPending}),
      R::kOverflowsDebitsPending);
}

TEST(TransferPrecedence, OverflowsDebitsPostedBeatsOverflowsCreditsPostedAndExceedsCredits) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300, .debit = kA, .credit = kDebitLimited, .amount = kU128Max});
  h.AddTransfer({.id = 301, .debit = kDebitLimited, .credit = kB, .amount = kU128Max});
  // Debit posted, credit posted and the debit limit would all be broken.
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kDebitLimited, .credit = kB, .amount = 1}),
            R::kOverflowsDebitsPosted);
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kC, .credit = kB, .amount = 1}),
            R::kOverflowsCreditsPosted);
}

TEST(TransferPrecedence, OverflowsCreditsPostedBeatsOverflowsDebits) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300, .debit = kA, .credit = kB, .amount = kU128Max});
  h.AddTransfer({.id = 301, .debit = kC, .credit = kA, .amount = kU128Max, .flags = tf::kPending});
  // kC: debits_pending is full, so any posted debit overflows its debit total; kB's credits
  // posted is full too.
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kC, .credit = kWithHistory, .amount = 1}),
            R::kOverflowsDebits);
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kC, .credit = kB, .amount = 1}),
            R::kOverflowsCreditsPosted);
}

TEST(TransferPrecedence, OverflowsDebitsBeatsExceedsDebits) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300, .debit = kA, .credit = kB, .amount = kU128Max});
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kC, .credit = kCreditLimited, .amount = 1}),
            R::kExceedsDebits);
  EXPECT_EQ(
      h.CreateTransfer(
          {.id = 11, .debit = kA, .credit = kCreditLimited, .amount = 1, .flags = tf::kPending}),
      R::kOverflowsDebits);
}

TEST(TransferPrecedence, ExceedsCreditsBeatsExceedsDebits) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(
      h.CreateTransfer({.id = 10, .debit = kDebitLimited, .credit = kCreditLimited, .amount = 1}),
      R::kExceedsCredits);
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kA, .credit = kCreditLimited, .amount = 1}),
            R::kExceedsDebits);
}

}  // namespace
}  // namespace ledger::engine::test
