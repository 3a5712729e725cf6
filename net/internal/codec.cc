#include "net/internal/codec.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "base/assert.h"

namespace ledger::net::internal {
namespace {

// The wire's status enums are the engine's codes, number for number.
static_assert(static_cast<uint16_t>(rpc::CreateLedgerStatus::EXISTS_WITH_DIFFERENT_FLAGS) ==
                  static_cast<uint16_t>(CreateLedgerResult::kExistsWithDifferentFlags) &&
              kCreateLedgerResultCount == 15);
static_assert(static_cast<uint16_t>(rpc::CreateAccountStatus::LEDGER_NOT_FOUND) ==
              static_cast<uint16_t>(CreateAccountResult::kLedgerNotFound));
static_assert(static_cast<uint16_t>(rpc::CreateTransferStatus::ID_ALREADY_FAILED) ==
              static_cast<uint16_t>(CreateTransferResult::kIdAlreadyFailed));
static_assert(static_cast<uint16_t>(rpc::CreateTransferStatus::VALUE_TIME_OUT_OF_RANGE) ==
              static_cast<uint16_t>(CreateTransferResult::kValueTimeOutOfRange));
static_assert(
    static_cast<uint16_t>(rpc::CreateTransferStatus::IMPORTED_EVENT_TIMEOUT_MUST_BE_ZERO) ==
        static_cast<uint16_t>(CreateTransferResult::kImportedEventTimeoutMustBeZero) &&
    kCreateTransferResultCount == 76);

// '?' is outside the asset code alphabet: the engine answers asset_code_invalid.
constexpr char kInvalidAssetCodeByte = '?';

}  // namespace

Ledger DecodeLedger(rpc::LedgerInfo::Reader in) {
  Ledger ledger{};
  ledger.id = in.getId();
  ledger.scale = in.getScale();
  ledger.flags = in.getFlags();
  ledger.timestamp_ns = in.getTimestampNs();
  const capnp::Text::Reader code = in.getAssetCode();
  if (code.size() > kAssetCodeSizeBytes) {
    ledger.asset_code[0] = kInvalidAssetCodeByte;
  } else {
    std::memcpy(ledger.asset_code, code.begin(), code.size());
  }
  return ledger;
}

Account DecodeAccount(rpc::Account::Reader in) {
  Account account{};
  account.id = DecodeU128<AccountIdTag>(in.getId());
  account.ledger = in.getLedger();
  account.code = in.getCode();
  account.flags = in.getFlags();
  account.user_data_128 = DecodeU128<UserData128Tag>(in.getUserData128());
  account.user_data_64 = in.getUserData64();
  account.user_data_32 = in.getUserData32();
  account.debits_pending = DecodeU128<AmountTag>(in.getDebitsPending());
  account.debits_posted = DecodeU128<AmountTag>(in.getDebitsPosted());
  account.credits_pending = DecodeU128<AmountTag>(in.getCreditsPending());
  account.credits_posted = DecodeU128<AmountTag>(in.getCreditsPosted());
  account.timestamp_ns = in.getTimestampNs();
  return account;
}

Transfer DecodeTransfer(rpc::Transfer::Reader in) {
  Transfer transfer{};
  transfer.id = DecodeU128<TransferIdTag>(in.getId());
  transfer.debit_account_id = DecodeU128<AccountIdTag>(in.getDebitAccountId());
  transfer.credit_account_id = DecodeU128<AccountIdTag>(in.getCreditAccountId());
  transfer.amount = DecodeU128<AmountTag>(in.getAmount());
  transfer.ledger = in.getLedger();
  transfer.code = in.getCode();
  transfer.flags = in.getFlags();
  transfer.pending_id = DecodeU128<TransferIdTag>(in.getPendingId());
  transfer.reverses_id = DecodeU128<TransferIdTag>(in.getReversesId());
  transfer.timeout_s = in.getTimeoutS();
  transfer.user_data_128 = DecodeU128<UserData128Tag>(in.getUserData128());
  transfer.user_data_64 = in.getUserData64();
  transfer.user_data_32 = in.getUserData32();
  transfer.value_time_ns = in.getValueTimeNs();
  transfer.timestamp_ns = in.getTimestampNs();
  return transfer;
}

std::span<Transfer> DecodePackedTransfers(capnp::Data::Reader records, std::span<Transfer> out) {
  static_assert(std::endian::native == std::endian::little, "records are little-endian");
  const size_t count = records.size() / sizeof(Transfer);
  LEDGER_ASSERT(count <= out.size(), count, out.size());
  // An absent Data reads as null, which memcpy must not see even for 0 bytes.
  if (count == 0) return out.first(0);
  std::memcpy(out.data(), records.begin(), count * sizeof(Transfer));
  return out.first(count);
}

void EncodeLedger(const Ledger& ledger, rpc::LedgerInfo::Builder out) {
  out.setId(ledger.id);
  out.setScale(ledger.scale);
  out.setFlags(ledger.flags);
  const size_t length =
      std::find(ledger.asset_code, ledger.asset_code + kAssetCodeSizeBytes, '\0') -
      ledger.asset_code;
  out.setAssetCode(capnp::Text::Reader(ledger.asset_code, length));
  out.setTimestampNs(ledger.timestamp_ns);
}

void EncodeAccount(const Account& account, rpc::Account::Builder out) {
  EncodeU128(account.id, out.initId());
  out.setLedger(account.ledger);
  out.setCode(account.code);
  out.setFlags(account.flags);
  EncodeU128(account.user_data_128, out.initUserData128());
  out.setUserData64(account.user_data_64);
  out.setUserData32(account.user_data_32);
  EncodeU128(account.debits_pending, out.initDebitsPending());
  EncodeU128(account.debits_posted, out.initDebitsPosted());
  EncodeU128(account.credits_pending, out.initCreditsPending());
  EncodeU128(account.credits_posted, out.initCreditsPosted());
  out.setTimestampNs(account.timestamp_ns);
}

void EncodeTransfer(const Transfer& transfer, rpc::Transfer::Builder out) {
  EncodeU128(transfer.id, out.initId());
  EncodeU128(transfer.debit_account_id, out.initDebitAccountId());
  EncodeU128(transfer.credit_account_id, out.initCreditAccountId());
  EncodeU128(transfer.amount, out.initAmount());
  out.setLedger(transfer.ledger);
  out.setCode(transfer.code);
  out.setFlags(transfer.flags);
  EncodeU128(transfer.pending_id, out.initPendingId());
  EncodeU128(transfer.reverses_id, out.initReversesId());
  out.setTimeoutS(transfer.timeout_s);
  EncodeU128(transfer.user_data_128, out.initUserData128());
  out.setUserData64(transfer.user_data_64);
  out.setUserData32(transfer.user_data_32);
  out.setValueTimeNs(transfer.value_time_ns);
  out.setTimestampNs(transfer.timestamp_ns);
}

void EncodeFailedTransfer(const FailedTransfer& failed, rpc::FailedTransfer::Builder out) {
  EncodeTransfer(failed.event, out.initTransfer());
  out.setStatus(static_cast<rpc::CreateTransferStatus>(failed.code));
}

FailedTransfer DecodeFailedTransfer(rpc::FailedTransfer::Reader in) {
  // A code from a newer server stays a number (ResultName calls it "unknown").
  return {DecodeTransfer(in.getTransfer()),
          static_cast<CreateTransferResult>(static_cast<uint16_t>(in.getStatus()))};
}

void EncodeTransferStatus(TransferId id, const TransferStatus& status,
                          rpc::TransferStatus::Builder out) {
  EncodeU128(id, out.initId());
  out.setPendingStatus(static_cast<rpc::PendingStatus>(status.pending_status));
  out.setExpiresAtNs(status.expires_at_ns);
  EncodeU128(status.posted_amount, out.initPostedAmount());
  EncodeU128(status.released_amount, out.initReleasedAmount());
  EncodeU128(status.resolved_by, out.initResolvedBy());
  EncodeU128(status.reversed_amount, out.initReversedAmount());
  out.setReversalCount(status.reversal_count);
}

void EncodeBalance(const AccountBalance& balance, rpc::AccountBalance::Builder out) {
  EncodeU128(balance.debits_pending, out.initDebitsPending());
  EncodeU128(balance.debits_posted, out.initDebitsPosted());
  EncodeU128(balance.credits_pending, out.initCreditsPending());
  EncodeU128(balance.credits_posted, out.initCreditsPosted());
  out.setTimestampNs(balance.timestamp_ns);
}

AccountBalance DecodeBalance(rpc::AccountBalance::Reader in) {
  AccountBalance balance{};
  balance.debits_pending = DecodeU128<AmountTag>(in.getDebitsPending());
  balance.debits_posted = DecodeU128<AmountTag>(in.getDebitsPosted());
  balance.credits_pending = DecodeU128<AmountTag>(in.getCreditsPending());
  balance.credits_posted = DecodeU128<AmountTag>(in.getCreditsPosted());
  balance.timestamp_ns = in.getTimestampNs();
  return balance;
}

namespace {

void EncodeWideSum(const WideSum& sum, rpc::WideSum::Builder out) {
  EncodeU128(sum.low, out.initLow());
  out.setCarries(sum.carries);
}

WideSum DecodeWideSum(rpc::WideSum::Reader in) {
  WideSum sum;
  sum.low = DecodeU128<AmountTag>(in.getLow());
  sum.carries = in.getCarries();
  return sum;
}

}  // namespace

void EncodeTrialBalance(const TrialBalance& trial_balance, rpc::TrialBalance::Builder out) {
  out.setLedger(trial_balance.ledger);
  out.setAccountCount(trial_balance.account_count);
  EncodeWideSum(trial_balance.debits_pending, out.initDebitsPending());
  EncodeWideSum(trial_balance.debits_posted, out.initDebitsPosted());
  EncodeWideSum(trial_balance.credits_pending, out.initCreditsPending());
  EncodeWideSum(trial_balance.credits_posted, out.initCreditsPosted());
  out.setBalanced(trial_balance.Balanced());
}

TrialBalance DecodeTrialBalance(rpc::TrialBalance::Reader in) {
  TrialBalance trial_balance;
  trial_balance.ledger = in.getLedger();
  trial_balance.account_count = in.getAccountCount();
  trial_balance.debits_pending = DecodeWideSum(in.getDebitsPending());
  trial_balance.debits_posted = DecodeWideSum(in.getDebitsPosted());
  trial_balance.credits_pending = DecodeWideSum(in.getCreditsPending());
  trial_balance.credits_posted = DecodeWideSum(in.getCreditsPosted());
  return trial_balance;
}

AccountFilter DecodeFilter(rpc::AccountFilter::Reader in, uint32_t results_max) {
  AccountFilter filter;
  filter.account_id = DecodeU128<AccountIdTag>(in.getAccountId());
  filter.timestamp_min_ns = in.getTimestampMinNs();
  filter.timestamp_max_ns = in.getTimestampMaxNs();
  filter.code = in.getCode();
  filter.flags = (in.getDebits() ? filter_flags::kDebits : 0) |
                 (in.getCredits() ? filter_flags::kCredits : 0) |
                 (in.getReversed() ? filter_flags::kReversed : 0);
  const uint32_t limit = in.getLimit();
  filter.limit = limit == 0 || limit > results_max ? results_max : limit;
  filter.value_time_min_ns = in.getValueTimeMinNs();
  filter.value_time_max_ns = in.getValueTimeMaxNs();
  return filter;
}

void EncodeFilter(const AccountFilter& filter, rpc::AccountFilter::Builder out) {
  EncodeU128(filter.account_id, out.initAccountId());
  out.setTimestampMinNs(filter.timestamp_min_ns);
  out.setTimestampMaxNs(filter.timestamp_max_ns);
  out.setCode(filter.code);
  out.setDebits((filter.flags & filter_flags::kDebits) != 0);
  out.setCredits((filter.flags & filter_flags::kCredits) != 0);
  out.setReversed((filter.flags & filter_flags::kReversed) != 0);
  out.setLimit(filter.limit);
  out.setValueTimeMinNs(filter.value_time_min_ns);
  out.setValueTimeMaxNs(filter.value_time_max_ns);
}

QueryFilter DecodeQueryFilter(rpc::QueryFilter::Reader in, uint32_t results_max) {
  QueryFilter filter;
  filter.ledger = in.getLedger();
  filter.code = in.getCode();
  filter.user_data_128 = DecodeU128<UserData128Tag>(in.getUserData128());
  filter.user_data_64 = in.getUserData64();
  filter.user_data_32 = in.getUserData32();
  filter.timestamp_min_ns = in.getTimestampMinNs();
  filter.timestamp_max_ns = in.getTimestampMaxNs();
  filter.reversed = in.getReversed();
  const uint32_t limit = in.getLimit();
  filter.limit = limit == 0 || limit > results_max ? results_max : limit;
  return filter;
}

void EncodeQueryFilter(const QueryFilter& filter, rpc::QueryFilter::Builder out) {
  out.setLedger(filter.ledger);
  out.setCode(filter.code);
  EncodeU128(filter.user_data_128, out.initUserData128());
  out.setUserData64(filter.user_data_64);
  out.setUserData32(filter.user_data_32);
  out.setTimestampMinNs(filter.timestamp_min_ns);
  out.setTimestampMaxNs(filter.timestamp_max_ns);
  out.setReversed(filter.reversed);
  out.setLimit(filter.limit);
}

}  // namespace ledger::net::internal
