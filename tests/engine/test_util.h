// Helpers for the engine's hand-written unit tests: records built from designated fields, a
// harness that applies batches at increasing timestamps and remembers what it created, an
// observation of the whole visible state (to assert that a rejected event changed nothing), and
// printers that make failures readable (result codes by name, 128-bit values in decimal).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "engine/result_names.h"
#include "engine/snapshot.h"
#include "engine/types.h"

// Printers live in namespace ledger (through an inline namespace of their own, so they cannot
// collide with printers another test file might define) because GoogleTest finds PrintTo by
// argument-dependent lookup.
namespace ledger {
inline namespace engine_test_printers {

inline std::string U128ToString(u128 value) {
  if (value == 0) return "0";
  std::string digits;
  while (value != 0) {
    digits.push_back(static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  }
  std::reverse(digits.begin(), digits.end());
  return digits;
}

inline constexpr std::string_view kPendingStatusNames[] = {"none", "pending", "posted", "voided",
                                                           "expired"};

template <typename Enum, size_t kCount>
void PrintEnum(Enum value, const std::string_view (&names)[kCount], std::ostream* os) {
  const auto index = static_cast<size_t>(value);
  *os << (index < kCount ? names[index] : std::string_view("unknown")) << " (" << index << ")";
}

inline void PrintTo(CreateLedgerResult value, std::ostream* os) {
  *os << ResultName(value) << " (" << static_cast<int>(value) << ")";
}
inline void PrintTo(CreateAccountResult value, std::ostream* os) {
  *os << ResultName(value) << " (" << static_cast<int>(value) << ")";
}
inline void PrintTo(CreateTransferResult value, std::ostream* os) {
  *os << ResultName(value) << " (" << static_cast<int>(value) << ")";
}
inline void PrintTo(PendingStatus value, std::ostream* os) {
  PrintEnum(value, kPendingStatusNames, os);
}
template <typename Tag>
void PrintTo(const Value128<Tag>& value, std::ostream* os) {
  *os << U128ToString(value.Get());
}
inline void PrintTo(const WideSum& value, std::ostream* os) {
  *os << value.carries << "*2^128+" << U128ToString(value.low.Get());
}
inline void PrintTo(ChangeKind value, std::ostream* os) {
  *os << ChangeKindName(value) << " (" << static_cast<int>(value) << ")";
}
inline void PrintTo(const AccountBalances& b, std::ostream* os) {
  *os << "{debits_pending=" << U128ToString(b.debits_pending.Get())
      << " debits_posted=" << U128ToString(b.debits_posted.Get())
      << " credits_pending=" << U128ToString(b.credits_pending.Get())
      << " credits_posted=" << U128ToString(b.credits_posted.Get()) << "}";
}

}  // namespace engine_test_printers
}  // namespace ledger

namespace ledger::engine::test {

namespace af = ::ledger::account_flags;
namespace tf = ::ledger::transfer_flags;

// ---------------------------------------------------------------------------------------------
// 128-bit values.

inline constexpr u128 kTwoTo64 = static_cast<u128>(1) << 64;
inline constexpr u128 U128(uint64_t hi, uint64_t lo) { return (static_cast<u128>(hi) << 64) | lo; }
inline AccountId Aid(u128 value) { return AccountId::From(value); }
inline TransferId Tid(u128 value) { return TransferId::From(value); }
inline Amount Amt(u128 value) { return Amount::From(value); }

inline constexpr uint64_t kNanosPerSecond = 1'000'000'000;
// Flag bits outside the documented sets.
inline constexpr uint16_t kUnknownAccountFlag = 1 << 6;
inline constexpr uint16_t kUnknownTransferFlag = 1 << 9;

// ---------------------------------------------------------------------------------------------
// Records from designated fields. Field order follows the records in engine/types.h (designated
// initializers must keep declaration order); ids and amounts are plain u128.

struct LedgerSpec {
  uint32_t id = 1;
  uint8_t scale = 2;
  uint8_t flags = 0;
  std::array<uint8_t, 2> reserved = {};
  std::string asset_code = "USD";  // copied into the 16 bytes, NUL-padded; may hold NULs
  uint64_t timestamp_ns = 0;
};

struct AccountSpec {
  u128 id = 0;
  u128 debits_pending = 0;
  u128 debits_posted = 0;
  u128 credits_pending = 0;
  u128 credits_posted = 0;
  u128 user_data_128 = 0;
  uint64_t user_data_64 = 0;
  uint32_t user_data_32 = 0;
  uint32_t reserved = 0;
  uint32_t ledger = 1;
  uint16_t code = 1;
  uint16_t flags = 0;
  uint64_t timestamp_ns = 0;
};

// Defaults: ledger 1, code 1. A post/void names its reservation's accounts, ledger and code only
// when they are set (set ledger and code to 0 to omit them).
struct TransferSpec {
  u128 id = 0;
  u128 debit = 0;
  u128 credit = 0;
  u128 amount = 0;
  u128 pending_id = 0;
  u128 reverses_id = 0;
  u128 user_data_128 = 0;
  uint64_t user_data_64 = 0;
  uint64_t value_time_ns = 0;
  uint64_t timestamp_ns = 0;
  uint32_t user_data_32 = 0;
  uint32_t timeout_s = 0;
  uint32_t ledger = 1;
  uint16_t code = 1;
  uint16_t flags = 0;
};

inline Ledger MakeLedger(const LedgerSpec& spec) {
  Ledger ledger{};
  ledger.id = spec.id;
  ledger.scale = spec.scale;
  ledger.flags = spec.flags;
  std::memcpy(ledger.reserved, spec.reserved.data(), sizeof(ledger.reserved));
  std::memcpy(ledger.asset_code, spec.asset_code.data(),
              std::min<size_t>(spec.asset_code.size(), kAssetCodeSizeBytes));
  ledger.timestamp_ns = spec.timestamp_ns;
  return ledger;
}

inline Account MakeAccount(const AccountSpec& spec) {
  Account account{};
  account.id = AccountId::From(spec.id);
  account.debits_pending = Amount::From(spec.debits_pending);
  account.debits_posted = Amount::From(spec.debits_posted);
  account.credits_pending = Amount::From(spec.credits_pending);
  account.credits_posted = Amount::From(spec.credits_posted);
  account.user_data_128 = UserData128::From(spec.user_data_128);
  account.user_data_64 = spec.user_data_64;
  account.user_data_32 = spec.user_data_32;
  account.reserved = spec.reserved;
  account.ledger = spec.ledger;
  account.code = spec.code;
  account.flags = spec.flags;
  account.timestamp_ns = spec.timestamp_ns;
  return account;
}

inline Transfer MakeTransfer(const TransferSpec& spec) {
  Transfer transfer{};
  transfer.id = TransferId::From(spec.id);
  transfer.debit_account_id = AccountId::From(spec.debit);
  transfer.credit_account_id = AccountId::From(spec.credit);
  transfer.amount = Amount::From(spec.amount);
  transfer.pending_id = TransferId::From(spec.pending_id);
  transfer.reverses_id = TransferId::From(spec.reverses_id);
  transfer.user_data_128 = UserData128::From(spec.user_data_128);
  transfer.user_data_64 = spec.user_data_64;
  transfer.value_time_ns = spec.value_time_ns;
  transfer.timestamp_ns = spec.timestamp_ns;
  transfer.user_data_32 = spec.user_data_32;
  transfer.timeout_s = spec.timeout_s;
  transfer.ledger = spec.ledger;
  transfer.code = spec.code;
  transfer.flags = spec.flags;
  return transfer;
}

// Records have no padding (types.h pins their sizes), so bytes compare them exactly.
template <typename Record>
bool SameBytes(const std::optional<Record>& a, const std::optional<Record>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a.has_value() || std::memcmp(&*a, &*b, sizeof(Record)) == 0;
}

// ---------------------------------------------------------------------------------------------
// Balances and observations.

struct Balances {
  u128 debits_pending = 0;
  u128 debits_posted = 0;
  u128 credits_pending = 0;
  u128 credits_posted = 0;
  friend bool operator==(const Balances&, const Balances&) = default;
};

inline void PrintTo(const Balances& b, std::ostream* os) {
  *os << "{debits_pending=" << U128ToString(b.debits_pending)
      << " debits_posted=" << U128ToString(b.debits_posted)
      << " credits_pending=" << U128ToString(b.credits_pending)
      << " credits_posted=" << U128ToString(b.credits_posted) << "}";
}

inline Balances BalancesOf(const Account& a) {
  return {a.debits_pending.Get(), a.debits_posted.Get(), a.credits_pending.Get(),
          a.credits_posted.Get()};
}
inline Balances BalancesOf(const AccountBalance& a) {
  return {a.debits_pending.Get(), a.debits_posted.Get(), a.credits_pending.Get(),
          a.credits_posted.Get()};
}

// What a reservation or reversed transfer looks like from the outside.
struct TransferState {
  u128 id = 0;
  PendingStatus status = PendingStatus::kNone;
  u128 posted_amount = 0;
  u128 reversed_amount = 0;
  friend bool operator==(const TransferState&, const TransferState&) = default;
};

// Everything a rejected event must leave untouched: every account the harness created (all
// fields, the closed flag included), every ledger's trial balance, the status, posted and
// reversed amounts of every transfer the harness created, and the engine's record counts.
struct Observation {
  std::vector<std::optional<Account>> accounts;
  std::vector<TrialBalance> trial_balances;
  std::vector<TransferState> transfers;
  uint64_t ledger_count = 0;
  uint64_t account_count = 0;
  uint64_t transfer_count = 0;
  uint64_t pending_count = 0;
  uint64_t expired_count = 0;
  uint64_t change_sequence_next = 0;
  uint64_t change_sequence_oldest = 0;
};

// Empty when equal, otherwise a description of the first differences.
inline std::string DiffObservations(const Observation& before, const Observation& after) {
  std::ostringstream diff;
  if (before.accounts.size() != after.accounts.size()) diff << "account list size changed; ";
  for (size_t i = 0; i < std::min(before.accounts.size(), after.accounts.size()); ++i) {
    if (SameBytes(before.accounts[i], after.accounts[i])) continue;
    const auto& a = before.accounts[i];
    const auto& b = after.accounts[i];
    diff << "account #" << i << " changed";
    if (a && b) {
      diff << " (id " << U128ToString(a->id.Get()) << ": "
           << ::testing::PrintToString(BalancesOf(*a)) << " flags " << a->flags << " -> "
           << ::testing::PrintToString(BalancesOf(*b)) << " flags " << b->flags << ")";
    }
    diff << "; ";
  }
  for (size_t i = 0; i < std::min(before.trial_balances.size(), after.trial_balances.size()); ++i) {
    const TrialBalance& a = before.trial_balances[i];
    const TrialBalance& b = after.trial_balances[i];
    if (a.account_count != b.account_count || !(a.debits_pending == b.debits_pending) ||
        !(a.debits_posted == b.debits_posted) || !(a.credits_pending == b.credits_pending) ||
        !(a.credits_posted == b.credits_posted)) {
      diff << "trial balance of ledger " << a.ledger << " changed; ";
    }
  }
  for (size_t i = 0; i < std::min(before.transfers.size(), after.transfers.size()); ++i) {
    const TransferState& a = before.transfers[i];
    const TransferState& b = after.transfers[i];
    if (a == b) continue;
    diff << "transfer " << U128ToString(a.id) << " changed: status "
         << ::testing::PrintToString(a.status) << " -> " << ::testing::PrintToString(b.status)
         << ", posted " << U128ToString(a.posted_amount) << " -> " << U128ToString(b.posted_amount)
         << ", reversed " << U128ToString(a.reversed_amount) << " -> "
         << U128ToString(b.reversed_amount) << "; ";
  }
  if (before.ledger_count != after.ledger_count) diff << "ledger_count changed; ";
  if (before.account_count != after.account_count) diff << "account_count changed; ";
  if (before.transfer_count != after.transfer_count) diff << "transfer_count changed; ";
  if (before.pending_count != after.pending_count) diff << "pending_count changed; ";
  if (before.expired_count != after.expired_count) diff << "expired_count changed; ";
  if (before.change_sequence_next != after.change_sequence_next ||
      before.change_sequence_oldest != after.change_sequence_oldest) {
    diff << "change feed moved; ";
  }
  return diff.str();
}

// ---------------------------------------------------------------------------------------------
// The harness: one engine, batches applied at the next free timestamp unless a test picks one.

class Harness {
 public:
  // Small tables (they grow by doubling): hundreds of harnesses stay fast under ASan. A small
  // change feed, so that every test runs the feed's path (and rejections show it unmoved).
  Harness()
      : engine_(EngineOptions{
            .accounts_capacity = 64, .transfers_capacity = 256, .change_feed_capacity = 16}) {}
  explicit Harness(const EngineOptions& options) : engine_(options) {}

  Engine& engine() { return engine_; }
  const Engine& engine() const { return engine_; }

  // The batch timestamp T of the latest batch: its event i was booked at T + 1 + i.
  uint64_t last_batch_timestamp_ns() const { return last_batch_timestamp_ns_; }
  // The smallest timestamp the next batch may use.
  uint64_t next_timestamp_ns() const { return engine_.last_timestamp_ns() + 1; }

  // Each Create* applies one batch at `timestamp_ns` (0: next_timestamp_ns()).
  std::vector<CreateLedgerResult> CreateLedgers(const std::vector<LedgerSpec>& specs,
                                                uint64_t timestamp_ns = 0) {
    std::vector<Ledger> events;
    for (const LedgerSpec& spec : specs) events.push_back(MakeLedger(spec));
    std::vector<CreateLedgerResult> results(events.size(), static_cast<CreateLedgerResult>(255));
    engine_.CreateLedgers(events, Pick(timestamp_ns), results);
    for (size_t i = 0; i < specs.size(); ++i) {
      if (results[i] == CreateLedgerResult::kOk) ledger_ids_.push_back(specs[i].id);
    }
    return results;
  }
  CreateLedgerResult CreateLedger(const LedgerSpec& spec, uint64_t timestamp_ns = 0) {
    return CreateLedgers({spec}, timestamp_ns)[0];
  }

  std::vector<CreateAccountResult> CreateAccounts(const std::vector<AccountSpec>& specs,
                                                  uint64_t timestamp_ns = 0) {
    std::vector<Account> events;
    for (const AccountSpec& spec : specs) events.push_back(MakeAccount(spec));
    std::vector<CreateAccountResult> results(events.size(), static_cast<CreateAccountResult>(255));
    engine_.CreateAccounts(events, Pick(timestamp_ns), results);
    for (size_t i = 0; i < specs.size(); ++i) {
      if (results[i] == CreateAccountResult::kOk) account_ids_.push_back(specs[i].id);
    }
    return results;
  }
  CreateAccountResult CreateAccount(const AccountSpec& spec, uint64_t timestamp_ns = 0) {
    return CreateAccounts({spec}, timestamp_ns)[0];
  }

  std::vector<CreateTransferResult> CreateTransfers(const std::vector<TransferSpec>& specs,
                                                    uint64_t timestamp_ns = 0) {
    std::vector<Transfer> events;
    for (const TransferSpec& spec : specs) events.push_back(MakeTransfer(spec));
    std::vector<CreateTransferResult> results(events.size(),
                                              static_cast<CreateTransferResult>(255));
    engine_.CreateTransfers(events, Pick(timestamp_ns), results);
    for (size_t i = 0; i < specs.size(); ++i) {
      if (results[i] == CreateTransferResult::kOk) transfer_ids_.push_back(specs[i].id);
    }
    return results;
  }
  CreateTransferResult CreateTransfer(const TransferSpec& spec, uint64_t timestamp_ns = 0) {
    return CreateTransfers({spec}, timestamp_ns)[0];
  }

  // An empty batch at `timestamp_ns`: advances time and expires due reservations.
  void AdvanceTo(uint64_t timestamp_ns) { CreateTransfers({}, timestamp_ns); }

  // Setup steps that must succeed.
  void AddLedger(uint32_t id, const std::string& asset_code = "USD") {
    EXPECT_EQ(CreateLedger({.id = id, .asset_code = asset_code}), CreateLedgerResult::kOk)
        << "setup: ledger " << id;
  }
  void AddAccount(const AccountSpec& spec) {
    EXPECT_EQ(CreateAccount(spec), CreateAccountResult::kOk)
        << "setup: account " << U128ToString(spec.id);
  }
  void AddTransfer(const TransferSpec& spec) {
    EXPECT_EQ(CreateTransfer(spec), CreateTransferResult::kOk)
        << "setup: transfer " << U128ToString(spec.id);
  }

  // Balances of an existing account (zeros, and a test failure, if it does not exist).
  Balances BalancesOf(u128 account_id) const {
    std::optional<Account> account = engine_.LookupAccount(AccountId::From(account_id));
    EXPECT_TRUE(account.has_value()) << "account " << U128ToString(account_id);
    return account ? ::ledger::engine::test::BalancesOf(*account) : Balances{};
  }
  bool IsClosed(u128 account_id) const {
    std::optional<Account> account = engine_.LookupAccount(AccountId::From(account_id));
    EXPECT_TRUE(account.has_value()) << "account " << U128ToString(account_id);
    return account && (account->flags & af::kClosed) != 0;
  }
  std::optional<Transfer> LookupTransfer(u128 id) const {
    return engine_.LookupTransfer(TransferId::From(id));
  }
  PendingStatus StatusOf(u128 id) const { return engine_.GetPendingStatus(TransferId::From(id)); }
  Amount ReversedAmountOf(u128 id) const { return engine_.GetReversedAmount(TransferId::From(id)); }

  Observation Observe() const {
    Observation observation;
    for (u128 id : account_ids_) {
      observation.accounts.push_back(engine_.LookupAccount(AccountId::From(id)));
    }
    for (uint32_t id : ledger_ids_) {
      observation.trial_balances.push_back(engine_.GetTrialBalance(id));
    }
    for (u128 id : transfer_ids_) {
      const TransferId transfer_id = TransferId::From(id);
      observation.transfers.push_back({id, engine_.GetPendingStatus(transfer_id),
                                       engine_.GetPostedAmount(transfer_id).Get(),
                                       engine_.GetReversedAmount(transfer_id).Get()});
    }
    const EngineStats stats = engine_.GetStats();
    observation.ledger_count = stats.ledger_count;
    observation.account_count = stats.account_count;
    observation.transfer_count = stats.transfer_count;
    observation.pending_count = stats.pending_count;
    observation.expired_count = stats.expired_count;
    observation.change_sequence_next = engine_.change_sequence_next();
    observation.change_sequence_oldest = engine_.change_sequence_oldest();
    return observation;
  }

 private:
  uint64_t Pick(uint64_t timestamp_ns) {
    last_batch_timestamp_ns_ = timestamp_ns != 0 ? timestamp_ns : next_timestamp_ns();
    return last_batch_timestamp_ns_;
  }

  Engine engine_;
  uint64_t last_batch_timestamp_ns_ = 0;
  std::vector<uint32_t> ledger_ids_;
  std::vector<u128> account_ids_;
  std::vector<u128> transfer_ids_;
};

// ---------------------------------------------------------------------------------------------
// Rejections: submit one event alone, expect `code`, and expect that nothing visible changed
// (the record under the event's id included: absent stays absent, stored stays byte-identical).

inline ::testing::AssertionResult LedgerRejected(Harness& h, const LedgerSpec& event,
                                                 CreateLedgerResult code) {
  const Observation before = h.Observe();
  const std::optional<Ledger> record_before = h.engine().LookupLedger(event.id);
  const CreateLedgerResult result = h.CreateLedger(event);
  if (result != code) {
    return ::testing::AssertionFailure() << "got " << ::testing::PrintToString(result) << ", want "
                                         << ::testing::PrintToString(code);
  }
  if (!SameBytes(record_before, h.engine().LookupLedger(event.id))) {
    return ::testing::AssertionFailure() << "the ledger record under id " << event.id << " changed";
  }
  const std::string diff = DiffObservations(before, h.Observe());
  if (!diff.empty()) return ::testing::AssertionFailure() << "state changed: " << diff;
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult AccountRejected(Harness& h, const AccountSpec& event,
                                                  CreateAccountResult code) {
  const Observation before = h.Observe();
  const AccountId id = AccountId::From(event.id);
  const std::optional<Account> record_before = h.engine().LookupAccount(id);
  const CreateAccountResult result = h.CreateAccount(event);
  if (result != code) {
    return ::testing::AssertionFailure() << "got " << ::testing::PrintToString(result) << ", want "
                                         << ::testing::PrintToString(code);
  }
  if (!SameBytes(record_before, h.engine().LookupAccount(id))) {
    return ::testing::AssertionFailure()
           << "the account record under id " << U128ToString(event.id) << " changed";
  }
  const std::string diff = DiffObservations(before, h.Observe());
  if (!diff.empty()) return ::testing::AssertionFailure() << "state changed: " << diff;
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult TransferRejected(Harness& h, const TransferSpec& event,
                                                   CreateTransferResult code) {
  const Observation before = h.Observe();
  const std::optional<Transfer> record_before = h.LookupTransfer(event.id);
  const CreateTransferResult result = h.CreateTransfer(event);
  if (result != code) {
    return ::testing::AssertionFailure() << "got " << ::testing::PrintToString(result) << ", want "
                                         << ::testing::PrintToString(code);
  }
  if (!SameBytes(record_before, h.LookupTransfer(event.id))) {
    return ::testing::AssertionFailure()
           << "the transfer record under id " << U128ToString(event.id) << " changed";
  }
  const std::string diff = DiffObservations(before, h.Observe());
  if (!diff.empty()) return ::testing::AssertionFailure() << "state changed: " << diff;
  return ::testing::AssertionSuccess();
}

// ---------------------------------------------------------------------------------------------
// Snapshot images a test can alter.

// Copies an image's sections. After changing a section's size, call Refresh().
struct OwnedSections {
  std::vector<std::vector<std::byte>> bytes;
  std::vector<SnapshotSection> sections;

  explicit OwnedSections(const EngineSnapshot& image) {
    for (const SnapshotSection& section : image.sections()) {
      bytes.emplace_back(section.bytes.begin(), section.bytes.end());
      sections.push_back(section);
    }
    Refresh();
  }
  void Refresh() {
    for (size_t i = 0; i < bytes.size(); ++i) sections[i].bytes = bytes[i];
  }
  std::vector<std::byte>& Of(SnapshotSectionKind kind) {
    for (size_t i = 0; i < sections.size(); ++i) {
      if (sections[i].kind == kind) return bytes[i];
    }
    ADD_FAILURE() << "no section of kind " << static_cast<uint32_t>(kind);
    std::abort();
  }
  void Drop(SnapshotSectionKind kind) {
    for (size_t i = 0; i < sections.size(); ++i) {
      if (sections[i].kind != kind) continue;
      sections.erase(sections.begin() + static_cast<std::ptrdiff_t>(i));
      bytes.erase(bytes.begin() + static_cast<std::ptrdiff_t>(i));
      Refresh();
      return;
    }
  }
  // The change feed's section as records, and back.
  std::vector<Change> Changes() {
    const std::vector<std::byte>& raw = Of(SnapshotSectionKind::kChanges);
    std::vector<Change> changes(raw.size() / sizeof(Change));
    if (!changes.empty()) std::memcpy(changes.data(), raw.data(), changes.size() * sizeof(Change));
    return changes;
  }
  void SetChanges(const std::vector<Change>& changes) {
    std::vector<std::byte>& raw = Of(SnapshotSectionKind::kChanges);
    raw.resize(changes.size() * sizeof(Change));
    if (!raw.empty()) std::memcpy(raw.data(), changes.data(), raw.size());
    Refresh();
  }
  SnapshotMeta Meta() {
    SnapshotMeta meta;
    std::memcpy(&meta, Of(SnapshotSectionKind::kMeta).data(), sizeof(meta));
    return meta;
  }
  void SetMeta(const SnapshotMeta& meta) {
    std::memcpy(Of(SnapshotSectionKind::kMeta).data(), &meta, sizeof(meta));
  }
  // Written as format 3 would have been (kSnapshotFormatVersionWholeFeed): every change
  // `engine` (the one the image is of) retains held in the section, none derived at restore.
  void HoldWholeFeed(const Engine& engine) {
    std::vector<Change> feed(engine.change_sequence_next() - engine.change_sequence_oldest());
    engine.GetChanges(engine.change_sequence_oldest(), feed);
    SetChanges(feed);
    SnapshotMeta meta = Meta();
    meta.format_version = kSnapshotFormatVersionWholeFeed;
    meta.retained_change_count = 0;  // reserved in format 3
    SetMeta(meta);
  }
};

// ---------------------------------------------------------------------------------------------
// A standard book used by most transfer tests.

inline constexpr uint32_t kUsd = 1;          // ledger 1, "USD", scale 2
inline constexpr uint32_t kEur = 2;          // ledger 2, "EUR", scale 2
inline constexpr u128 kA = 1;                // ledger 1, no flags
inline constexpr u128 kB = 2;                // ledger 1, no flags
inline constexpr u128 kEurAccount = 3;       // ledger 2, no flags
inline constexpr u128 kC = 4;                // ledger 1, no flags
inline constexpr u128 kDebitLimited = 5;     // ledger 1, debits_must_not_exceed_credits
inline constexpr u128 kCreditLimited = 6;    // ledger 1, credits_must_not_exceed_debits
inline constexpr u128 kWithHistory = 7;      // ledger 1, history
inline constexpr u128 kMissingAccount = 99;  // never created

inline void CreateStandardBook(Harness& h) {
  h.AddLedger(kUsd, "USD");
  h.AddLedger(kEur, "EUR");
  EXPECT_EQ(h.CreateAccounts({
                {.id = kA},
                {.id = kB},
                {.id = kEurAccount, .ledger = kEur},
                {.id = kC},
                {.id = kDebitLimited, .flags = af::kDebitsMustNotExceedCredits},
                {.id = kCreditLimited, .flags = af::kCreditsMustNotExceedDebits},
                {.id = kWithHistory, .flags = af::kHistory},
            }),
            std::vector<CreateAccountResult>(7, CreateAccountResult::kOk))
      << "setup: standard book";
}

// ---------------------------------------------------------------------------------------------
// Scenario helpers shared by the transfer tests.

// A posted transfer 100 (A -> B, 30) and a reservation 200 (A -> B, 50), both code 1.
inline void AddOriginals(Harness& h) {
  h.AddTransfer({.id = 100, .debit = kA, .credit = kB, .amount = 30});
  h.AddTransfer({.id = 200, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
}

// A transfer that always fails with exceeds_credits in the standard book (kDebitLimited has no
// credits), used to break chains.
inline TransferSpec Failing(u128 id) {
  return {.id = id, .debit = kDebitLimited, .credit = kB, .amount = 1};
}

// The ids of the reversals of transfer `id` (up to 8).
inline std::vector<u128> ReversalsOf(const Harness& h, u128 id) {
  std::vector<TransferId> out(8);
  out.resize(h.engine().GetReversals(Tid(id), out));
  std::vector<u128> ids;
  for (TransferId reversal : out) ids.push_back(reversal.Get());
  return ids;
}

// The booking timestamp of the stored transfer `id`.
inline uint64_t BookedAt(const Harness& h, u128 id) {
  return h.LookupTransfer(id).value().timestamp_ns;
}

}  // namespace ledger::engine::test
