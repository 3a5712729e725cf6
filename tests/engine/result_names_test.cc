// Every result code and change kind has a distinct snake_case name; past the end is "unknown".
// (tests/net/metrics_test.cc checks the names against the RPC schema's enumerants.)
#include "engine/result_names.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace ledger {
namespace {

template <typename Code>
void ExpectDistinctSnakeCaseNames(size_t count) {
  std::set<std::string> names;
  for (size_t i = 0; i < count; ++i) {
    const std::string name = ResultName(static_cast<Code>(i));
    SCOPED_TRACE(::testing::Message() << "code " << i << " " << name);
    EXPECT_FALSE(name.empty());
    EXPECT_NE(name, "unknown");
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_"), std::string::npos);
    EXPECT_TRUE(names.insert(name).second) << "duplicate";
  }
  EXPECT_STREQ(ResultName(static_cast<Code>(count)), "unknown");
  EXPECT_STREQ(ResultName(static_cast<Code>(255)), "unknown");
}

TEST(ResultNames, EveryCodeHasADistinctSnakeCaseName) {
  ExpectDistinctSnakeCaseNames<CreateLedgerResult>(kCreateLedgerResultCount);
  ExpectDistinctSnakeCaseNames<CreateAccountResult>(kCreateAccountResultCount);
  ExpectDistinctSnakeCaseNames<CreateTransferResult>(kCreateTransferResultCount);
}

TEST(ResultNames, NamesMatchTheEnumerators) {
  EXPECT_STREQ(ResultName(CreateLedgerResult::kOk), "ok");
  EXPECT_STREQ(ResultName(CreateLedgerResult::kExistsWithDifferentAssetCode),
               "exists_with_different_asset_code");
  EXPECT_STREQ(ResultName(CreateLedgerResult::kExists), "exists");
  EXPECT_STREQ(ResultName(CreateAccountResult::kExistsWithDifferentUserData128),
               "exists_with_different_user_data_128");
  EXPECT_STREQ(ResultName(CreateAccountResult::kLedgerNotFound), "ledger_not_found");
  EXPECT_STREQ(ResultName(CreateTransferResult::kLinkedEventFailed), "linked_event_failed");
  EXPECT_STREQ(ResultName(CreateTransferResult::kExists), "exists");
  EXPECT_STREQ(ResultName(CreateTransferResult::kTransferMustHaveTheSameLedgerAsAccounts),
               "transfer_must_have_the_same_ledger_as_accounts");
  EXPECT_STREQ(ResultName(CreateTransferResult::kOverflowsTimeout), "overflows_timeout");
  EXPECT_STREQ(ResultName(CreateTransferResult::kExceedsCredits), "exceeds_credits");
  EXPECT_STREQ(ResultName(CreateTransferResult::kExceedsDebits), "exceeds_debits");
  EXPECT_STREQ(ResultName(CreateTransferResult::kIdAlreadyFailed), "id_already_failed");
}

TEST(ResultNames, ChangeKindsHaveNames) {
  std::set<std::string> names;
  for (uint8_t i = 0; i < kChangeKindCount; ++i) {
    EXPECT_TRUE(names.insert(ChangeKindName(static_cast<ChangeKind>(i))).second);
  }
  EXPECT_STREQ(ChangeKindName(ChangeKind::kSinglePhase), "single_phase");
  EXPECT_STREQ(ChangeKindName(ChangeKind::kExpired), "expired");
  EXPECT_STREQ(ChangeKindName(static_cast<ChangeKind>(kChangeKindCount)), "unknown");
}

TEST(ResultNames, PendingStatusesHaveTheSchemasNames) {
  EXPECT_STREQ(PendingStatusName(PendingStatus::kNone), "none");
  EXPECT_STREQ(PendingStatusName(PendingStatus::kPending), "pending");
  EXPECT_STREQ(PendingStatusName(PendingStatus::kPosted), "posted");
  EXPECT_STREQ(PendingStatusName(PendingStatus::kVoided), "voided");
  EXPECT_STREQ(PendingStatusName(PendingStatus::kExpired), "expired");
  EXPECT_STREQ(PendingStatusName(static_cast<PendingStatus>(5)), "unknown");
}

}  // namespace
}  // namespace ledger
