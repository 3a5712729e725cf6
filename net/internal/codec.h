// Conversions between the RPC schema (net/ledger.capnp) and the engine's records.
//
// Decoding never fails: the schema's shape is all Cap'n Proto checks, and every field value
// goes to the engine, which validates it and answers with a result code (a missing field
// reads as zero, like an unset one). Only the asset code needs care: text that cannot be a
// valid code is decoded to one the engine rejects, so the client gets asset_code_invalid.
#pragma once

#include <span>
#include <vector>

#include "base/hash.h"
#include "engine/types.h"
#include "net/ledger.capnp.h"

namespace ledger::net::internal {

// A batch refused because a table is at its maximum fails with a message that starts with
// this (replica::kLedgerFullPrefix): the client tells "full, retrying will not help" from
// other failures by it, as Cap'n Proto exceptions carry a type and text only.
inline constexpr char kLedgerFullMarker[] = "ledger full: ";
// Starts the error of a write refused while the server's disk is full
// (replica::kStorageFullPrefix; OVERLOADED): the client's status then carries
// kStorageFullPayload. Reads go on; writes are taken again once space is freed.
inline constexpr char kStorageFullMarker[] = "storage full: ";
// In a replica group member's refusal of a call it cannot serve, before the leader's client
// address: the client reconnects there (net/client.cc).
inline constexpr char kLeaderIsAtMarker[] = "the leader is at ";
// Starts every reason a server gives a connection it turns away (net/internal/admission.h): the
// client's status is then ResourceExhausted, with the reason from here on.
inline constexpr char kRefusedMarker[] = "the server refused the connection: ";
// Starts the error of a call the login token's role or ledgers do not allow (net/tokens.h):
// the client's status is then PermissionDenied.
inline constexpr char kPermissionDeniedMarker[] = "permission denied: ";
// Starts the error of every call on a connection whose token was revoked, and the reason told
// when it is closed (the RPC Abort): the client's status is then Unauthenticated.
inline constexpr char kTokenRevokedMarker[] = "the token was revoked";

// Words per encoded record: data section, pointers, and 2 words per U128. Size hints built
// from these put a whole message in one segment: without one, a batch spreads over growing
// segments and every pointer between them costs the reader a segment lookup.
constexpr uint64_t kLedgerWords = 6;
constexpr uint64_t kAccountWords = 5 + 7 + 7 * 2;
constexpr uint64_t kTransferWords = 5 + 7 + 7 * 2;
// A FailedTransfer: 1 data word, 1 pointer, its transfer.
constexpr uint64_t kFailedTransferWords = 2 + kTransferWords;
constexpr uint64_t kBalanceWords = 2 + 4 + 4 * 2;
// A TransferStatus without its reversals: 2 data words, 5 pointers, 5 U128s.
constexpr uint64_t kTransferStatusWords = 2 + 6 + 5 * 2;
// getTransferStatuses lists at most this many reversals per transfer.
constexpr uint32_t kReversalsListedMax = 64;
constexpr uint64_t kChangeWords = 4 + 6 + kTransferWords + 2 * 2 + 2 * kBalanceWords;
constexpr uint64_t kEventResultWords = 3;
// A message of `words` of records, plus room for its root and list pointers.
inline capnp::MessageSize MessageWords(uint64_t words, unsigned capabilities = 0) {
  return capnp::MessageSize{words + 8, capabilities};
}

template <typename Tag>
Value128<Tag> DecodeU128(rpc::U128::Reader value) {
  return Value128<Tag>{value.getLo(), value.getHi()};
}
template <typename Tag>
void EncodeU128(Value128<Tag> value, rpc::U128::Builder out) {
  out.setLo(value.lo);
  out.setHi(value.hi);
}
// A chain hash as the schema's U128 (lo, hi).
inline void EncodeHash(const base::Hash128& hash, rpc::U128::Builder out) {
  out.setLo(hash.low);
  out.setHi(hash.high);
}

Ledger DecodeLedger(rpc::LedgerInfo::Reader in);
Account DecodeAccount(rpc::Account::Reader in);
Transfer DecodeTransfer(rpc::Transfer::Reader in);

void EncodeLedger(const Ledger& ledger, rpc::LedgerInfo::Builder out);
void EncodeAccount(const Account& account, rpc::Account::Builder out);
void EncodeTransfer(const Transfer& transfer, rpc::Transfer::Builder out);
void EncodeFailedTransfer(const FailedTransfer& failed, rpc::FailedTransfer::Builder out);
FailedTransfer DecodeFailedTransfer(rpc::FailedTransfer::Reader in);
// A status without its reversals' ids (the caller fills `reversals`).
void EncodeTransferStatus(TransferId id, const TransferStatus& status,
                          rpc::TransferStatus::Builder out);
void EncodeBalance(const AccountBalance& balance, rpc::AccountBalance::Builder out);
void EncodeTrialBalance(const TrialBalance& trial_balance, rpc::TrialBalance::Builder out);

// createTransfersPacked's records: the engine's Transfer layout, copied whole into `out`
// (which holds at least size / 152 records). The engine validates every field.
static_assert(sizeof(Transfer) == rpc::TRANSFER_RECORD_BYTES);
std::span<Transfer> DecodePackedTransfers(capnp::Data::Reader records, std::span<Transfer> out);

AccountFilter DecodeFilter(rpc::AccountFilter::Reader in, uint32_t results_max);

// The client side's inverses (the client library and tests).
void EncodeFilter(const AccountFilter& filter, rpc::AccountFilter::Builder out);
// A limit of 0 or above results_max becomes results_max.
QueryFilter DecodeQueryFilter(rpc::QueryFilter::Reader in, uint32_t results_max);
void EncodeQueryFilter(const QueryFilter& filter, rpc::QueryFilter::Builder out);
AccountBalance DecodeBalance(rpc::AccountBalance::Reader in);
TrialBalance DecodeTrialBalance(rpc::TrialBalance::Reader in);

}  // namespace ledger::net::internal
