#include "engine/result_names.h"

#include <cstddef>
#include <iterator>

namespace ledger {
namespace {

// In enum order: index i names the code with value i. The static_asserts pin each table to its
// enum's count and last code, so a new code cannot come without its name.
constexpr const char* kLedgerResultNames[] = {"ok",
                                              "timestamp_must_be_zero",
                                              "reserved_field",
                                              "id_must_not_be_zero",
                                              "scale_too_large",
                                              "asset_code_invalid",
                                              "exists_with_different_scale",
                                              "exists_with_different_asset_code",
                                              "exists",
                                              "reserved_flag",
                                              "imported_event_expected",
                                              "imported_event_not_expected",
                                              "imported_event_timestamp_out_of_range",
                                              "imported_event_timestamp_must_not_regress",
                                              "exists_with_different_flags"};
static_assert(std::size(kLedgerResultNames) == kCreateLedgerResultCount &&
              static_cast<size_t>(CreateLedgerResult::kExistsWithDifferentFlags) + 1 ==
                  kCreateLedgerResultCount);

constexpr const char* kAccountResultNames[] = {"ok",
                                               "linked_event_failed",
                                               "linked_event_chain_open",
                                               "timestamp_must_be_zero",
                                               "reserved_field",
                                               "reserved_flag",
                                               "id_must_not_be_zero",
                                               "id_must_not_be_int_max",
                                               "flags_are_mutually_exclusive",
                                               "closed_flag_must_not_be_set",
                                               "debits_pending_must_be_zero",
                                               "debits_posted_must_be_zero",
                                               "credits_pending_must_be_zero",
                                               "credits_posted_must_be_zero",
                                               "ledger_must_not_be_zero",
                                               "code_must_not_be_zero",
                                               "exists_with_different_flags",
                                               "exists_with_different_user_data_128",
                                               "exists_with_different_user_data_64",
                                               "exists_with_different_user_data_32",
                                               "exists_with_different_ledger",
                                               "exists_with_different_code",
                                               "exists",
                                               "ledger_not_found",
                                               "imported_event_expected",
                                               "imported_event_not_expected",
                                               "imported_event_timestamp_out_of_range",
                                               "imported_event_timestamp_must_not_regress"};
static_assert(std::size(kAccountResultNames) == kCreateAccountResultCount &&
              static_cast<size_t>(CreateAccountResult::kImportedEventTimestampMustNotRegress) + 1 ==
                  kCreateAccountResultCount);

constexpr const char* kTransferResultNames[] = {"ok",
                                                "linked_event_failed",
                                                "linked_event_chain_open",
                                                "timestamp_must_be_zero",
                                                "reserved_flag",
                                                "id_must_not_be_zero",
                                                "id_must_not_be_int_max",
                                                "flags_are_mutually_exclusive",
                                                "pending_id_must_be_zero",
                                                "pending_id_must_not_be_zero",
                                                "pending_id_must_not_be_int_max",
                                                "pending_id_must_be_different",
                                                "reverses_id_must_not_be_int_max",
                                                "reverses_id_must_be_different",
                                                "reversal_must_be_plain",
                                                "timeout_reserved_for_pending_transfer",
                                                "closing_transfer_must_be_pending",
                                                "debit_account_id_must_not_be_zero",
                                                "debit_account_id_must_not_be_int_max",
                                                "credit_account_id_must_not_be_zero",
                                                "credit_account_id_must_not_be_int_max",
                                                "accounts_must_be_different",
                                                "ledger_must_not_be_zero",
                                                "code_must_not_be_zero",
                                                "amount_must_not_be_zero",
                                                "exists_with_different_flags",
                                                "exists_with_different_pending_id",
                                                "exists_with_different_reverses_id",
                                                "exists_with_different_timeout",
                                                "exists_with_different_debit_account_id",
                                                "exists_with_different_credit_account_id",
                                                "exists_with_different_amount",
                                                "exists_with_different_user_data_128",
                                                "exists_with_different_user_data_64",
                                                "exists_with_different_user_data_32",
                                                "exists_with_different_ledger",
                                                "exists_with_different_code",
                                                "exists_with_different_value_time",
                                                "exists",
                                                "debit_account_not_found",
                                                "credit_account_not_found",
                                                "accounts_must_have_the_same_ledger",
                                                "transfer_must_have_the_same_ledger_as_accounts",
                                                "pending_transfer_not_found",
                                                "pending_transfer_not_pending",
                                                "pending_transfer_has_different_debit_account_id",
                                                "pending_transfer_has_different_credit_account_id",
                                                "pending_transfer_has_different_ledger",
                                                "pending_transfer_has_different_code",
                                                "exceeds_pending_transfer_amount",
                                                "pending_transfer_has_different_amount",
                                                "pending_transfer_already_posted",
                                                "pending_transfer_already_voided",
                                                "pending_transfer_expired",
                                                "reversed_transfer_not_found",
                                                "reversed_transfer_not_posted",
                                                "reversal_must_swap_accounts",
                                                "exceeds_reversible_amount",
                                                "debit_account_already_closed",
                                                "credit_account_already_closed",
                                                "overflows_timeout",
                                                "overflows_debits_pending",
                                                "overflows_credits_pending",
                                                "overflows_debits_posted",
                                                "overflows_credits_posted",
                                                "overflows_debits",
                                                "overflows_credits",
                                                "exceeds_credits",
                                                "exceeds_debits",
                                                "id_already_failed",
                                                "value_time_out_of_range",
                                                "imported_event_expected",
                                                "imported_event_not_expected",
                                                "imported_event_timestamp_out_of_range",
                                                "imported_event_timestamp_must_not_regress",
                                                "imported_event_timeout_must_be_zero"};
static_assert(std::size(kTransferResultNames) == kCreateTransferResultCount);
static_assert(static_cast<size_t>(CreateTransferResult::kImportedEventTimeoutMustBeZero) + 1 ==
              kCreateTransferResultCount);

constexpr const char* kChangeKindNames[] = {"single_phase", "pending", "posted", "voided",
                                            "expired"};
static_assert(std::size(kChangeKindNames) == kChangeKindCount);

constexpr const char* kPendingStatusNames[] = {"none", "pending", "posted", "voided", "expired"};
static_assert(std::size(kPendingStatusNames) == static_cast<size_t>(PendingStatus::kExpired) + 1);

template <size_t kCount>
const char* NameAt(const char* const (&names)[kCount], size_t index) {
  return index < kCount ? names[index] : "unknown";
}

}  // namespace

const char* ResultName(CreateLedgerResult result) {
  return NameAt(kLedgerResultNames, static_cast<size_t>(result));
}

const char* ResultName(CreateAccountResult result) {
  return NameAt(kAccountResultNames, static_cast<size_t>(result));
}

const char* ResultName(CreateTransferResult result) {
  return NameAt(kTransferResultNames, static_cast<size_t>(result));
}

const char* ChangeKindName(ChangeKind kind) {
  return NameAt(kChangeKindNames, static_cast<size_t>(kind));
}

const char* PendingStatusName(PendingStatus status) {
  return NameAt(kPendingStatusNames, static_cast<size_t>(status));
}

}  // namespace ledger
