// Retries of a failed transfer id (docs/data-model.md, "Retries of a failed id"): the failed
// event is recorded as submitted; a later event with its id is compared with it field by field
// (exists_with_different_*, in the idempotency precedence) and, identical, gets
// id_already_failed. It is never booked, never recorded again, and the id keeps its first code
// (LookupFailedTransfer), across a snapshot too.
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/engine/test_util.h"

namespace ledger::engine::test {
namespace {

using R = CreateTransferResult;

// A transfer that fails with exceeds_credits (kDebitLimited has nothing) with every field set.
TransferSpec FailedEvent() {
  return {.id = 10,
          .debit = kDebitLimited,
          .credit = kB,
          .amount = 100,
          .user_data_128 = U128(1, 2),
          .user_data_64 = 3,
          .value_time_ns = 42,
          .user_data_32 = 4,
          .code = 9};
}

std::optional<FailedTransfer> FailedOf(const Harness& h, u128 id) {
  return h.engine().LookupFailedTransfer(TransferId::From(id));
}

// Records FailedEvent(), then retries it with `change` applied; the retry must get `code`,
// change nothing, record nothing, and leave the first failure as it was.
template <typename Change>
::testing::AssertionResult RetryOfFailedGets(Change change, R code) {
  Harness h;
  CreateStandardBook(h);
  if (h.CreateTransfer(FailedEvent()) != R::kExceedsCredits) {
    return ::testing::AssertionFailure() << "the first attempt did not fail as planned";
  }
  const std::optional<FailedTransfer> recorded = FailedOf(h, 10);
  TransferSpec retry = FailedEvent();
  change(retry);
  ::testing::AssertionResult rejected = TransferRejected(h, retry, code);
  if (!rejected) return rejected;
  if (h.engine().GetStats().failed_transfer_count != 1 || FailedOf(h, 10) != recorded) {
    return ::testing::AssertionFailure() << "the retry changed the recorded failure";
  }
  return ::testing::AssertionSuccess();
}

TEST(FailedRetry, IdAlreadyFailedWhenRetriedIdentically) {
  EXPECT_TRUE(RetryOfFailedGets([](TransferSpec&) {}, R::kIdAlreadyFailed));
}

TEST(FailedRetry, IdAlreadyFailedEvenOnceTheCauseIsGoneAndBalancesStayUnchanged) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer(FailedEvent()), R::kExceedsCredits);
  // Now kDebitLimited has 500 to spend: the same event would succeed as a new one.
  h.AddTransfer({.id = 300, .debit = kA, .credit = kDebitLimited, .amount = 500});
  EXPECT_TRUE(TransferRejected(h, FailedEvent(), R::kIdAlreadyFailed));
  EXPECT_EQ(h.BalancesOf(kDebitLimited), (Balances{.credits_posted = 500}));
  EXPECT_EQ(h.BalancesOf(kB), Balances{});
  EXPECT_FALSE(h.LookupTransfer(10).has_value());
  ASSERT_TRUE(FailedOf(h, 10).has_value());
  EXPECT_EQ(FailedOf(h, 10)->code, R::kExceedsCredits);
}

TEST(FailedRetry, ExistsWithDifferentFieldWhenRetriedWithAFieldChanged) {
  // clang-format off
  EXPECT_TRUE(RetryOfFailedGets([](TransferSpec& t) { t.flags = tf::kPending; },
                                R::kExistsWithDifferentFlags));
  EXPECT_TRUE(RetryOfFailedGets([](TransferSpec& t) { t.reverses_id = 77; },
                                R::kExistsWithDifferentReversesId));
  EXPECT_TRUE(RetryOfFailedGets([](TransferSpec& t) { t.debit = kC; },
                                R::kExistsWithDifferentDebitAccountId));
  EXPECT_TRUE(RetryOfFailedGets([](TransferSpec& t) { t.credit = kC; },
                                R::kExistsWithDifferentCreditAccountId));
  EXPECT_TRUE(RetryOfFailedGets([](TransferSpec& t) { t.amount = 99; },
                                R::kExistsWithDifferentAmount));
  EXPECT_TRUE(RetryOfFailedGets([](TransferSpec& t) { t.amount = 101; },
                                R::kExistsWithDifferentAmount));
  EXPECT_TRUE(RetryOfFailedGets([](TransferSpec& t) { t.user_data_128 = U128(1, 3); },
                                R::kExistsWithDifferentUserData128));
  EXPECT_TRUE(RetryOfFailedGets([](TransferSpec& t) { t.user_data_64 = 4; },
                                R::kExistsWithDifferentUserData64));
  EXPECT_TRUE(RetryOfFailedGets([](TransferSpec& t) { t.user_data_32 = 5; },
                                R::kExistsWithDifferentUserData32));
  EXPECT_TRUE(RetryOfFailedGets([](TransferSpec& t) { t.ledger = kEur; },
                                R::kExistsWithDifferentLedger));
  EXPECT_TRUE(RetryOfFailedGets([](TransferSpec& t) { t.code = 8; },
                                R::kExistsWithDifferentCode));
  EXPECT_TRUE(RetryOfFailedGets([](TransferSpec& t) { t.value_time_ns = 43; },
                                R::kExistsWithDifferentValueTime));
  // clang-format on
}

TEST(FailedRetry, ExistsWithDifferentPendingIdAndTimeoutForAFailedReservationOrPost) {
  Harness h;
  CreateStandardBook(h);
  const TransferSpec reservation = {.id = 10,
                                    .debit = kDebitLimited,
                                    .credit = kB,
                                    .amount = 5,
                                    .timeout_s = 60,
                                    .flags = tf::kPending};
  EXPECT_EQ(h.CreateTransfer(reservation), R::kExceedsCredits);
  TransferSpec other_timeout = reservation;
  other_timeout.timeout_s = 61;
  EXPECT_TRUE(TransferRejected(h, other_timeout, R::kExistsWithDifferentTimeout));
  EXPECT_TRUE(TransferRejected(h, reservation, R::kIdAlreadyFailed));

  const TransferSpec post = {.id = 11,
                             .amount = kU128Max,
                             .pending_id = 500,
                             .ledger = 0,
                             .code = 0,
                             .flags = tf::kPostPending};
  EXPECT_EQ(h.CreateTransfer(post), R::kPendingTransferNotFound);
  TransferSpec other_reservation = post;
  other_reservation.pending_id = 501;
  EXPECT_TRUE(TransferRejected(h, other_reservation, R::kExistsWithDifferentPendingId));
  // "Post all of it" (2^128-1) is compared as given: no reservation to resolve it against.
  EXPECT_TRUE(TransferRejected(h, post, R::kIdAlreadyFailed));
  TransferSpec some = post;
  some.amount = 5;
  EXPECT_TRUE(TransferRejected(h, some, R::kExistsWithDifferentAmount));
}

TEST(FailedRetry, FlagsBeatAmountAsForAStoredTransfer) {
  EXPECT_TRUE(RetryOfFailedGets(
      [](TransferSpec& t) {
        t.flags = tf::kPending;
        t.amount = 1;
        t.code = 2;
      },
      R::kExistsWithDifferentFlags));
  EXPECT_TRUE(RetryOfFailedGets(
      [](TransferSpec& t) {
        t.amount = 1;
        t.code = 2;
      },
      R::kExistsWithDifferentAmount));
}

TEST(FailedRetry, ValidationOfTheRetryComesFirst) {
  EXPECT_TRUE(RetryOfFailedGets([](TransferSpec& t) { t.amount = 0; }, R::kAmountMustNotBeZero));
  EXPECT_TRUE(
      RetryOfFailedGets([](TransferSpec& t) { t.timestamp_ns = 1; }, R::kTimestampMustBeZero));
}

TEST(FailedRetry, LookupGivesTheEventAsSubmittedBookedAndUnlinked) {
  Harness h;
  CreateStandardBook(h);
  TransferSpec linked = FailedEvent();
  linked.flags = tf::kLinked;
  EXPECT_EQ(h.CreateTransfers({linked}),
            (std::vector<R>{R::kLinkedEventChainOpen}));  // open chain: nothing runs
  EXPECT_FALSE(FailedOf(h, 10).has_value());
  EXPECT_EQ(h.CreateTransfers({{.id = 20, .debit = kA, .credit = kB, .amount = 1},
                               linked,
                               {.id = 21, .debit = kA, .credit = kC, .amount = 1}}),
            (std::vector<R>{R::kOk, R::kExceedsCredits, R::kLinkedEventFailed}));
  const std::optional<FailedTransfer> failed = FailedOf(h, 10);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->code, R::kExceedsCredits);
  Transfer expected = MakeTransfer(FailedEvent());
  expected.timestamp_ns = h.last_batch_timestamp_ns() + 2;  // event 1 of the batch
  EXPECT_EQ(std::memcmp(&failed->event, &expected, sizeof(Transfer)), 0)
      << "timestamp " << failed->event.timestamp_ns << " flags " << failed->event.flags;
  // Not for stored transfers, unknown ids, or ids that only got linked_event_failed.
  EXPECT_FALSE(FailedOf(h, 20).has_value());
  EXPECT_FALSE(FailedOf(h, 21).has_value());
  EXPECT_FALSE(FailedOf(h, 99).has_value());
}

TEST(FailedRetry, RetryInALinkedChainFailsTheChain) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer(FailedEvent()), R::kExceedsCredits);
  const Observation before = h.Observe();
  TransferSpec retry = FailedEvent();
  retry.flags = tf::kLinked;
  EXPECT_EQ(
      h.CreateTransfers({{.id = 30, .debit = kA, .credit = kB, .amount = 7, .flags = tf::kLinked},
                         retry,
                         {.id = 31, .debit = kA, .credit = kC, .amount = 8}}),
      (std::vector<R>{R::kLinkedEventFailed, R::kIdAlreadyFailed, R::kLinkedEventFailed}));
  EXPECT_EQ(DiffObservations(before, h.Observe()), "");
  EXPECT_FALSE(h.LookupTransfer(30).has_value());
  EXPECT_EQ(h.engine().GetStats().failed_transfer_count, 1u);
  // Neither the retry nor linked_event_failed recorded anything: 30 and 31 are still new.
  EXPECT_EQ(h.CreateTransfer({.id = 30, .debit = kA, .credit = kB, .amount = 7}), R::kOk);
}

TEST(FailedRetry, SnapshotKeepsFailuresAndARestoredEngineGivesTheSameCodes) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer(FailedEvent()), R::kExceedsCredits);
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kMissingAccount, .credit = kB, .amount = 5}),
            R::kDebitAccountNotFound);
  const std::unique_ptr<EngineSnapshot> image = h.engine().CaptureSnapshot();
  absl::StatusOr<std::unique_ptr<Engine>> restored =
      Engine::Restore(EngineOptions{}, image->sections());
  ASSERT_TRUE(restored.ok()) << restored.status();
  Engine& copy = **restored;
  EXPECT_EQ(copy.ComputeStateHash(), h.engine().ComputeStateHash());
  EXPECT_EQ(copy.GetStats().failed_transfer_count, 2u);
  for (u128 id : {u128{10}, u128{11}}) {
    EXPECT_EQ(copy.LookupFailedTransfer(TransferId::From(id)), FailedOf(h, id));
  }
  TransferSpec changed = FailedEvent();
  changed.user_data_64 = 99;
  const std::vector<Transfer> retries = {
      MakeTransfer(FailedEvent()), MakeTransfer(changed),
      MakeTransfer({.id = 11, .debit = kMissingAccount, .credit = kB, .amount = 5})};
  std::vector<R> original_results(retries.size());
  std::vector<R> restored_results(retries.size());
  const uint64_t timestamp_ns = h.next_timestamp_ns();
  h.engine().CreateTransfers(retries, timestamp_ns, original_results);
  copy.CreateTransfers(retries, timestamp_ns, restored_results);
  EXPECT_EQ(restored_results,
            (std::vector<R>{R::kIdAlreadyFailed, R::kExistsWithDifferentUserData64,
                            R::kIdAlreadyFailed}));
  EXPECT_EQ(original_results, restored_results);
  EXPECT_EQ(copy.ComputeStateHash(), h.engine().ComputeStateHash());
}

absl::Status RestoreStatus(const OwnedSections& sections) {
  return Engine::Restore(EngineOptions{}, sections.sections).status();
}

TEST(FailedRetry, RestoreRefusesInvalidFailuresAndTheOldFormat) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer(FailedEvent()), R::kExceedsCredits);
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kMissingAccount, .credit = kB, .amount = 5}),
            R::kDebitAccountNotFound);
  const std::unique_ptr<EngineSnapshot> image = h.engine().CaptureSnapshot();
  ASSERT_TRUE(RestoreStatus(OwnedSections(*image)).ok());
  struct Tamper {
    const char* what;
    const char* why;
    void (*apply)(std::vector<std::byte>& failures);
  };
  const Tamper tampers[] = {
      {"a code that is not recorded (id_already_failed)", "invalid fields",
       [](std::vector<std::byte>& f) { f[offsetof(FailureRecord, code)] = std::byte{69}; }},
      {"a validation code", "invalid fields",
       [](std::vector<std::byte>& f) { f[offsetof(FailureRecord, code)] = std::byte{24}; }},
      {"an event that fails validation (amount 0)", "invalid fields",
       [](std::vector<std::byte>& f) {
         std::memset(f.data() + offsetof(Transfer, amount), 0, sizeof(Amount));
       }},
      {"a linked event", "invalid fields",
       [](std::vector<std::byte>& f) {
         f[offsetof(Transfer, flags)] |= std::byte{transfer_flags::kLinked};
       }},
      {"reserved bytes", "invalid fields",
       [](std::vector<std::byte>& f) { f[offsetof(FailureRecord, reserved) + 3] = std::byte{1}; }},
      {"failures out of log order", "timestamp out of order",
       [](std::vector<std::byte>& f) {
         std::swap_ranges(f.begin(), f.begin() + sizeof(FailureRecord),
                          f.begin() + sizeof(FailureRecord));
       }},
      {"a timestamp past the snapshot's", "timestamp out of order",
       [](std::vector<std::byte>& f) {
         const uint64_t far_ns = ~uint64_t{0};
         std::memcpy(f.data() + sizeof(FailureRecord) + offsetof(Transfer, timestamp_ns), &far_ns,
                     sizeof(far_ns));
       }},
      {"a duplicate id", "duplicate id",
       [](std::vector<std::byte>& f) {
         std::memcpy(f.data() + sizeof(FailureRecord), f.data(), sizeof(TransferId));
       }},
  };
  for (const Tamper& tamper : tampers) {
    OwnedSections sections(*image);
    tamper.apply(sections.Of(SnapshotSectionKind::kFailures));
    const absl::Status status = RestoreStatus(sections);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << tamper.what << ": " << status;
    EXPECT_NE(status.message().find(tamper.why), std::string::npos)
        << tamper.what << ": " << status;
  }
  // A version-1 image (failures as {id, code}) is refused by its version, before its sections.
  OwnedSections old(*image);
  SnapshotMeta meta = old.Meta();
  meta.format_version = 1;
  old.SetMeta(meta);
  const absl::Status status = RestoreStatus(old);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find("format version 1, this engine reads 3"), std::string::npos)
      << status;
}

TEST(FailedRetry, StateHashCoversTheFailedEvent) {
  // Two logs whose failures differ only in a field the old record did not keep.
  Harness a;
  Harness b;
  CreateStandardBook(a);
  CreateStandardBook(b);
  TransferSpec other = FailedEvent();
  other.user_data_32 = 77;
  EXPECT_EQ(a.CreateTransfer(FailedEvent()), R::kExceedsCredits);
  EXPECT_EQ(b.CreateTransfer(other), R::kExceedsCredits);
  EXPECT_NE(a.engine().ComputeStateHash(), b.engine().ComputeStateHash());
}

TEST(FailedRetry, ShardedEngineRecordsTheSameEventsAndGivesTheSameCodes) {
  for (uint32_t shards : {1u, 3u, 8u}) {
    Harness h(EngineOptions{.shard_count = shards, .in_order_cross_percent = 101});
    CreateStandardBook(h);
    TransferSpec changed = FailedEvent();
    changed.amount = 7;
    EXPECT_EQ(h.CreateTransfers({FailedEvent(),
                                 {.id = 12, .debit = kMissingAccount, .credit = kB, .amount = 1},
                                 FailedEvent(),
                                 changed}),
              (std::vector<R>{R::kExceedsCredits, R::kDebitAccountNotFound, R::kIdAlreadyFailed,
                              R::kExistsWithDifferentAmount}))
        << shards << " shards";
    EXPECT_EQ(h.CreateTransfers(
                  {{.id = 12, .debit = kMissingAccount, .credit = kB, .amount = 1}, FailedEvent()}),
              (std::vector<R>{R::kIdAlreadyFailed, R::kIdAlreadyFailed}))
        << shards << " shards";
    ASSERT_TRUE(FailedOf(h, 12).has_value());
    EXPECT_EQ(FailedOf(h, 12)->code, R::kDebitAccountNotFound);
    EXPECT_EQ(h.engine().GetStats().failed_transfer_count, 2u);
  }
}

}  // namespace
}  // namespace ledger::engine::test
