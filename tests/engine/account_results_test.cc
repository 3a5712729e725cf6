// One test per CreateAccountResult code: the code, and that a rejected account changes nothing.
// Account failures are never recorded: the same id succeeds once the cause is fixed.
#include <optional>
#include <vector>

#include "tests/engine/test_util.h"

namespace ledger::engine::test {
namespace {

using R = CreateAccountResult;

// Ledger 1 (USD) and ledger 2 (EUR), no accounts.
void CreateLedgers(Harness& h) {
  h.AddLedger(1, "USD");
  h.AddLedger(2, "EUR");
}

// An account with every user field set, for the exists_with_different_* tests.
AccountSpec Original() {
  return {.id = 10,
          .user_data_128 = U128(1, 2),
          .user_data_64 = 3,
          .user_data_32 = 4,
          .ledger = 1,
          .code = 5,
          .flags = af::kHistory};
}

TEST(CreateAccount, OkStoresAccountAsGivenWithZeroBalancesAndBookingTimestamp) {
  Harness h;
  CreateLedgers(h);
  AccountSpec spec = Original();
  spec.flags = af::kHistory | af::kDebitsMustNotExceedCredits;
  EXPECT_EQ(h.CreateAccount(spec), R::kOk);
  std::optional<Account> account = h.engine().LookupAccount(Aid(10));
  ASSERT_TRUE(account.has_value());
  Account expected = MakeAccount(spec);
  expected.timestamp_ns = h.last_batch_timestamp_ns() + 1;
  EXPECT_TRUE(SameBytes(account, std::optional<Account>(expected)));
  EXPECT_EQ(BalancesOf(*account), Balances{});
  EXPECT_EQ(h.engine().GetTrialBalance(1).account_count, 1u);
  EXPECT_EQ(h.engine().GetTrialBalance(2).account_count, 0u);
  EXPECT_EQ(h.engine().GetStats().account_count, 1u);
}

TEST(CreateAccount, OkForEachEventOfABatchBookedAtBatchTimestampPlusOnePlusIndex) {
  Harness h;
  CreateLedgers(h);
  EXPECT_EQ(h.CreateAccounts({{.id = 10}, {.id = 11, .code = 0}, {.id = 12, .ledger = 2}}),
            (std::vector<R>{R::kOk, R::kCodeMustNotBeZero, R::kOk}));
  const uint64_t t = h.last_batch_timestamp_ns();
  EXPECT_EQ(h.engine().LookupAccount(Aid(10)).value().timestamp_ns, t + 1);
  EXPECT_EQ(h.engine().LookupAccount(Aid(12)).value().timestamp_ns, t + 3);
  EXPECT_EQ(h.engine().last_timestamp_ns(), t + 3);
}

TEST(CreateAccount, LinkedEventFailedWhenALaterEventOfTheChainFails) {
  Harness h;
  CreateLedgers(h);
  const Observation before = h.Observe();
  EXPECT_EQ(
      h.CreateAccounts({{.id = 10, .flags = af::kLinked},
                        {.id = 11, .flags = af::kLinked},
                        {.id = 12, .ledger = 9},
                        {.id = 13}}),
      (std::vector<R>{R::kLinkedEventFailed, R::kLinkedEventFailed, R::kLedgerNotFound, R::kOk}));
  EXPECT_FALSE(h.engine().LookupAccount(Aid(10)).has_value());
  EXPECT_FALSE(h.engine().LookupAccount(Aid(11)).has_value());
  EXPECT_FALSE(h.engine().LookupAccount(Aid(12)).has_value());
  EXPECT_TRUE(h.engine().LookupAccount(Aid(13)).has_value());
  EXPECT_EQ(h.engine().GetStats().account_count, before.account_count + 1);
  // Not recorded: the same events succeed on their own.
  EXPECT_EQ(h.CreateAccounts({{.id = 10}, {.id = 11}}), (std::vector<R>{R::kOk, R::kOk}));
}

TEST(CreateAccount, LinkedEventFailedForEventsAfterTheFailingEventOfTheChain) {
  Harness h;
  CreateLedgers(h);
  EXPECT_EQ(h.CreateAccounts({{.id = 10, .flags = af::kLinked},
                              {.id = 11, .code = 0, .flags = af::kLinked},
                              {.id = 12, .flags = af::kLinked},
                              {.id = 13}}),
            (std::vector<R>{R::kLinkedEventFailed, R::kCodeMustNotBeZero, R::kLinkedEventFailed,
                            R::kLinkedEventFailed}));
  for (u128 id : {u128{10}, u128{11}, u128{12}, u128{13}}) {
    EXPECT_FALSE(h.engine().LookupAccount(Aid(id)).has_value()) << U128ToString(id);
  }
}

TEST(CreateAccount, LinkedEventChainOpenWhenTheLastEventOfTheBatchIsLinked) {
  Harness h;
  CreateLedgers(h);
  EXPECT_TRUE(AccountRejected(h, {.id = 10, .flags = af::kLinked}, R::kLinkedEventChainOpen));
  EXPECT_EQ(h.CreateAccounts(
                {{.id = 11}, {.id = 12, .flags = af::kLinked}, {.id = 13, .flags = af::kLinked}}),
            (std::vector<R>{R::kOk, R::kLinkedEventFailed, R::kLinkedEventChainOpen}));
  EXPECT_TRUE(h.engine().LookupAccount(Aid(11)).has_value());
  EXPECT_FALSE(h.engine().LookupAccount(Aid(12)).has_value());
  EXPECT_FALSE(h.engine().LookupAccount(Aid(13)).has_value());
  // Closed properly, the chain succeeds, and the linked flag is not stored.
  EXPECT_EQ(h.CreateAccounts({{.id = 12, .flags = af::kLinked}, {.id = 13}}),
            (std::vector<R>{R::kOk, R::kOk}));
  EXPECT_EQ(h.engine().LookupAccount(Aid(12)).value().flags, 0u);
}

TEST(CreateAccount, TimestampMustBeZeroWhenTimestampIsSet) {
  Harness h;
  CreateLedgers(h);
  EXPECT_TRUE(AccountRejected(h, {.id = 10, .timestamp_ns = 1}, R::kTimestampMustBeZero));
  EXPECT_EQ(h.CreateAccount({.id = 10}), R::kOk);
}

TEST(CreateAccount, ReservedFieldWhenReservedIsNonZero) {
  Harness h;
  CreateLedgers(h);
  EXPECT_TRUE(AccountRejected(h, {.id = 10, .reserved = 1}, R::kReservedField));
  EXPECT_TRUE(AccountRejected(h, {.id = 10, .reserved = 0x80000000u}, R::kReservedField));
  EXPECT_EQ(h.CreateAccount({.id = 10}), R::kOk);
}

TEST(CreateAccount, ReservedFlagWhenAFlagBitOutsideKAllIsSet) {
  Harness h;
  CreateLedgers(h);
  EXPECT_TRUE(AccountRejected(h, {.id = 10, .flags = kUnknownAccountFlag}, R::kReservedFlag));
  EXPECT_TRUE(AccountRejected(h, {.id = 10, .flags = 1 << 15}, R::kReservedFlag));
  EXPECT_EQ(h.CreateAccount({.id = 10, .flags = af::kHistory}), R::kOk);
}

TEST(CreateAccount, IdMustNotBeZeroWhenIdIsZero) {
  Harness h;
  CreateLedgers(h);
  EXPECT_TRUE(AccountRejected(h, {.id = 0}, R::kIdMustNotBeZero));
}

TEST(CreateAccount, IdMustNotBeIntMaxWhenIdIsAllOnes) {
  Harness h;
  CreateLedgers(h);
  EXPECT_TRUE(AccountRejected(h, {.id = kU128Max}, R::kIdMustNotBeIntMax));
  EXPECT_EQ(h.CreateAccount({.id = kU128Max - 1}), R::kOk);
}

TEST(CreateAccount, FlagsAreMutuallyExclusiveWhenBothLimitFlagsAreSet) {
  Harness h;
  CreateLedgers(h);
  EXPECT_TRUE(AccountRejected(
      h, {.id = 10, .flags = af::kDebitsMustNotExceedCredits | af::kCreditsMustNotExceedDebits},
      R::kFlagsAreMutuallyExclusive));
  EXPECT_EQ(h.CreateAccount({.id = 10, .flags = af::kCreditsMustNotExceedDebits}), R::kOk);
}

TEST(CreateAccount, ClosedFlagMustNotBeSetWhenCreatedClosed) {
  Harness h;
  CreateLedgers(h);
  EXPECT_TRUE(AccountRejected(h, {.id = 10, .flags = af::kClosed}, R::kClosedFlagMustNotBeSet));
  EXPECT_EQ(h.CreateAccount({.id = 10}), R::kOk);
}

TEST(CreateAccount, DebitsPendingMustBeZeroWhenGivenABalance) {
  Harness h;
  CreateLedgers(h);
  EXPECT_TRUE(AccountRejected(h, {.id = 10, .debits_pending = 1}, R::kDebitsPendingMustBeZero));
  EXPECT_EQ(h.CreateAccount({.id = 10}), R::kOk);
}

TEST(CreateAccount, DebitsPostedMustBeZeroWhenGivenABalance) {
  Harness h;
  CreateLedgers(h);
  EXPECT_TRUE(
      AccountRejected(h, {.id = 10, .debits_posted = kTwoTo64}, R::kDebitsPostedMustBeZero));
  EXPECT_EQ(h.CreateAccount({.id = 10}), R::kOk);
}

TEST(CreateAccount, CreditsPendingMustBeZeroWhenGivenABalance) {
  Harness h;
  CreateLedgers(h);
  EXPECT_TRUE(AccountRejected(h, {.id = 10, .credits_pending = 7}, R::kCreditsPendingMustBeZero));
  EXPECT_EQ(h.CreateAccount({.id = 10}), R::kOk);
}

TEST(CreateAccount, CreditsPostedMustBeZeroWhenGivenABalance) {
  Harness h;
  CreateLedgers(h);
  EXPECT_TRUE(
      AccountRejected(h, {.id = 10, .credits_posted = kU128Max}, R::kCreditsPostedMustBeZero));
  EXPECT_EQ(h.CreateAccount({.id = 10}), R::kOk);
}

TEST(CreateAccount, LedgerMustNotBeZeroWhenLedgerIsZero) {
  Harness h;
  CreateLedgers(h);
  EXPECT_TRUE(AccountRejected(h, {.id = 10, .ledger = 0}, R::kLedgerMustNotBeZero));
  EXPECT_EQ(h.CreateAccount({.id = 10, .ledger = 1}), R::kOk);
}

TEST(CreateAccount, CodeMustNotBeZeroWhenCodeIsZero) {
  Harness h;
  CreateLedgers(h);
  EXPECT_TRUE(AccountRejected(h, {.id = 10, .code = 0}, R::kCodeMustNotBeZero));
  EXPECT_EQ(h.CreateAccount({.id = 10, .code = 1}), R::kOk);
}

TEST(CreateAccount, ExistsWithDifferentFlagsWhenIdExistsWithOtherFlags) {
  Harness h;
  CreateLedgers(h);
  h.AddAccount(Original());
  AccountSpec retry = Original();
  retry.flags = af::kHistory | af::kDebitsMustNotExceedCredits;
  EXPECT_TRUE(AccountRejected(h, retry, R::kExistsWithDifferentFlags));
  retry.flags = 0;
  EXPECT_TRUE(AccountRejected(h, retry, R::kExistsWithDifferentFlags));
}

TEST(CreateAccount, ExistsWithDifferentUserData128WhenIdExistsWithOtherUserData128) {
  Harness h;
  CreateLedgers(h);
  h.AddAccount(Original());
  AccountSpec retry = Original();
  retry.user_data_128 = U128(2, 2);  // differs in the high word only
  EXPECT_TRUE(AccountRejected(h, retry, R::kExistsWithDifferentUserData128));
}

TEST(CreateAccount, ExistsWithDifferentUserData64WhenIdExistsWithOtherUserData64) {
  Harness h;
  CreateLedgers(h);
  h.AddAccount(Original());
  AccountSpec retry = Original();
  retry.user_data_64 = 0;
  EXPECT_TRUE(AccountRejected(h, retry, R::kExistsWithDifferentUserData64));
}

TEST(CreateAccount, ExistsWithDifferentUserData32WhenIdExistsWithOtherUserData32) {
  Harness h;
  CreateLedgers(h);
  h.AddAccount(Original());
  AccountSpec retry = Original();
  retry.user_data_32 = 5;
  EXPECT_TRUE(AccountRejected(h, retry, R::kExistsWithDifferentUserData32));
}

TEST(CreateAccount, ExistsWithDifferentLedgerWhenIdExistsInOtherLedger) {
  Harness h;
  CreateLedgers(h);
  h.AddAccount(Original());
  AccountSpec retry = Original();
  retry.ledger = 2;
  EXPECT_TRUE(AccountRejected(h, retry, R::kExistsWithDifferentLedger));
  EXPECT_EQ(h.engine().GetTrialBalance(2).account_count, 0u);
}

TEST(CreateAccount, ExistsWithDifferentCodeWhenIdExistsWithOtherCode) {
  Harness h;
  CreateLedgers(h);
  h.AddAccount(Original());
  AccountSpec retry = Original();
  retry.code = 6;
  EXPECT_TRUE(AccountRejected(h, retry, R::kExistsWithDifferentCode));
}

TEST(CreateAccount, ExistsWhenIdExistsWithSameValuesAndKeepsOriginalRecord) {
  Harness h;
  CreateLedgers(h);
  h.AddAccount(Original());
  const uint64_t booked_ns = h.engine().LookupAccount(Aid(10)).value().timestamp_ns;
  EXPECT_TRUE(AccountRejected(h, Original(), R::kExists));
  EXPECT_EQ(h.engine().LookupAccount(Aid(10)).value().timestamp_ns, booked_ns);
  EXPECT_EQ(h.engine().GetStats().account_count, 1u);
}

TEST(CreateAccount, ExistsIgnoresLinkedFlagAndDoesNotFailTheChain) {
  Harness h;
  CreateLedgers(h);
  h.AddAccount(Original());
  AccountSpec linked = Original();
  linked.flags = af::kHistory | af::kLinked;
  EXPECT_EQ(h.CreateAccounts({linked, {.id = 11}}), (std::vector<R>{R::kExists, R::kOk}));
  EXPECT_TRUE(h.engine().LookupAccount(Aid(11)).has_value());
}

TEST(CreateAccount, ExistsIgnoresClosedStateOfStoredAccount) {
  Harness h;
  CreateLedgers(h);
  h.AddAccount({.id = 10});
  h.AddAccount({.id = 11});
  h.AddTransfer({.id = 100,
                 .debit = 10,
                 .credit = 11,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingDebit});
  ASSERT_TRUE(h.IsClosed(10));
  EXPECT_TRUE(AccountRejected(h, {.id = 10}, R::kExists));
  EXPECT_TRUE(h.IsClosed(10));
}

TEST(CreateAccount, LedgerNotFoundWhenLedgerWasNotCreatedAndNotRecorded) {
  Harness h;
  CreateLedgers(h);
  EXPECT_TRUE(AccountRejected(h, {.id = 10, .ledger = 9}, R::kLedgerNotFound));
  EXPECT_FALSE(h.engine().LookupAccount(Aid(10)).has_value());
  h.AddLedger(9, "GBP");
  EXPECT_EQ(h.CreateAccount({.id = 10, .ledger = 9}), R::kOk);
  EXPECT_EQ(h.engine().GetTrialBalance(9).account_count, 1u);
}

TEST(CreateAccount, ExistsForSecondOccurrenceOfAnIdInTheSameBatch) {
  Harness h;
  CreateLedgers(h);
  EXPECT_EQ(h.CreateAccounts({{.id = 10}, {.id = 10}, {.id = 10, .code = 2}}),
            (std::vector<R>{R::kOk, R::kExists, R::kExistsWithDifferentCode}));
}

}  // namespace
}  // namespace ledger::engine::test
