// The seeded random generator of the property tests (tests/engine/property_test.cc).
//
// It writes batches of ledgers, accounts and transfers over small id spaces, so ids collide,
// reservations get posted, voided and expired, chains fail half-way and amounts reach 2^128.
// It reads the reference model (never the engine) to aim at records that exist.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "engine/types.h"
#include "tests/engine/reference_model.h"

namespace ledger::testing {

// The id spaces the generator draws from.
inline constexpr uint32_t kLedgerIds[] = {1, 2, 3};
inline constexpr uint32_t kUnknownLedger = 9;           // never created
inline constexpr u128 kUnknownAccountBase = 1'000'000;  // ids from here on are never created
inline constexpr size_t kAccountIdCountMax = 48;        // the account id pool stops growing here
inline constexpr u128 kTwoTo127 = u128{1} << 127;

// ---------------------------------------------------------------------------------------------
// Workloads.

enum class Kind { kPlain, kPending, kPost, kVoid, kBalancing, kClosing, kReversal, kRetry };

struct Mix {
  int empty_batch_percent = 4;
  int ledger_batch_percent = 4;
  int account_batch_percent = 10;
  uint64_t batch_events_max = 12;
  // Weights of the transfer kinds, in the order of Kind.
  std::array<int, 8> kind_weights = {30, 15, 12, 8, 8, 3, 12, 12};
  int invalid_percent = 4;       // an event gets one broken field
  int chain_batch_percent = 25;  // a batch is cut into linked chains of 1..6 events
  int open_chain_percent = 15;   // ... and its last chain left open
  int huge_amount_percent = 1;   // an amount near 2^128
  int timeout_percent = 50;      // a reservation gets a timeout of 1..timeout_s_max
  uint32_t timeout_s_max = 4;
  int huge_timeout_percent = 0;  // a timeout near 2^32 s
  // Time between batches is 1 ns to gap_ns_max: with 4 s timeouts, reservations expire within
  // a few batches.
  uint64_t gap_ns_max = 2'000'000'000;
  uint64_t start_timestamp_ns = 1'000'000'000;
  // A ledger, account or transfer batch is an import (docs/data-model.md, "Import"): its events
  // carry timestamps between the last booked and the batch's, a few of them wrong.
  int import_batch_percent = 8;
};

inline Mix MixedWorkload() { return Mix{}; }

inline Mix ReservationHeavyWorkload() {
  Mix mix;
  mix.kind_weights = {10, 30, 25, 12, 8, 6, 4, 5};
  mix.timeout_percent = 70;
  mix.gap_ns_max = 1'500'000'000;
  return mix;
}

inline Mix ChainHeavyWorkload() {
  Mix mix;
  mix.chain_batch_percent = 90;
  mix.open_chain_percent = 20;
  mix.invalid_percent = 6;
  return mix;
}

// Amounts near 2^128 and batch timestamps near 2^63, the limit of stored timestamps (so a long
// timeout overflows).
inline Mix OverflowWorkload() {
  Mix mix;
  mix.huge_amount_percent = 35;
  mix.huge_timeout_percent = 10;
  mix.start_timestamp_ns = kTimestampLimitNs - (uint64_t{1} << 61);
  return mix;
}

// ---------------------------------------------------------------------------------------------
// Batches.

struct Batch {
  enum class Type { kLedgers, kAccounts, kTransfers };
  Type type = Type::kTransfers;
  uint64_t timestamp_ns = 0;
  std::vector<Ledger> ledgers;
  std::vector<Account> accounts;
  std::vector<Transfer> transfers;
  size_t size() const { return ledgers.size() + accounts.size() + transfers.size(); }
};

// ---------------------------------------------------------------------------------------------
// The generator. It reads the model (never the engine) to aim at records that exist.

class Generator {
 public:
  // `model` is borrowed for the generator's lifetime.
  Generator(uint64_t seed, const Mix& mix, const ReferenceModel& model)
      : rng_(seed), mix_(mix), model_(model) {}

  // The ledgers and a first set of accounts, so transfers have something to move.
  std::vector<Batch> Setup() {
    Batch ledgers;
    ledgers.type = Batch::Type::kLedgers;
    for (uint32_t id : kLedgerIds) ledgers.ledgers.push_back(CanonicalLedger(id));
    Batch accounts;
    accounts.type = Batch::Type::kAccounts;
    for (int i = 0; i < 16; ++i) accounts.accounts.push_back(account_defs_[NewAccountId()]);
    ledgers.timestamp_ns = mix_.start_timestamp_ns + 1;
    accounts.timestamp_ns = ledgers.timestamp_ns + ledgers.size() + 1;
    return {ledgers, accounts};
  }

  Batch Next(uint64_t last_timestamp_ns) {
    Batch batch;
    batch.timestamp_ns = NextTimestamp(last_timestamp_ns);
    const uint64_t roll = Uniform(0, 99);
    const uint64_t empty = static_cast<uint64_t>(mix_.empty_batch_percent);
    const uint64_t ledgers = empty + static_cast<uint64_t>(mix_.ledger_batch_percent);
    const uint64_t accounts = ledgers + static_cast<uint64_t>(mix_.account_batch_percent);
    if (roll < empty) {
      batch.type = static_cast<Batch::Type>(Uniform(0, 2));
    } else if (roll < ledgers) {
      batch.type = Batch::Type::kLedgers;
      for (uint64_t i = Uniform(1, 3); i > 0; --i) batch.ledgers.push_back(MakeLedger());
      if (Percent(mix_.import_batch_percent)) {
        Import(batch.ledgers, ledger_flags::kImported, last_timestamp_ns, batch.timestamp_ns);
      }
    } else if (roll < accounts) {
      batch.type = Batch::Type::kAccounts;
      for (uint64_t i = Uniform(1, 6); i > 0; --i) batch.accounts.push_back(MakeAccount());
      Chain(batch.accounts, account_flags::kLinked);
      if (Percent(mix_.import_batch_percent)) {
        Import(batch.accounts, account_flags::kImported, last_timestamp_ns, batch.timestamp_ns);
      }
    } else {
      batch.type = Batch::Type::kTransfers;
      sent_in_batch_.clear();
      const uint64_t count = Uniform(1, mix_.batch_events_max);
      const bool import = Percent(mix_.import_batch_percent);
      std::vector<uint64_t> imported_ns;
      if (import) imported_ns = ImportTimestamps(count, last_timestamp_ns, batch.timestamp_ns);
      for (uint64_t i = 0; i < count; ++i) {
        booked_ns_ = import ? std::max<uint64_t>(imported_ns[i], 1) : batch.timestamp_ns + 1 + i;
        batch.transfers.push_back(MakeTransfer());
      }
      Chain(batch.transfers, transfer_flags::kLinked);
      if (import) {
        for (uint64_t i = 0; i < count; ++i) {
          Transfer& transfer = batch.transfers[i];
          transfer.flags |= transfer_flags::kImported;
          if (transfer.timestamp_ns == 0) transfer.timestamp_ns = imported_ns[i];
          // An imported reservation may not have a timeout: mostly drop it.
          if (transfer.timeout_s != 0 && Percent(90)) transfer.timeout_s = 0;
          if (i > 0 && Percent(3)) {  // a native event in an import
            transfer.flags &= static_cast<uint16_t>(~transfer_flags::kImported);
          }
        }
      }
    }
    return batch;
  }

 private:
  // Timestamps for an import of `count` events between last_timestamp_ns and the batch's: rising,
  // a few zero, equal to the previous (regressing) or at the batch's (out of range).
  std::vector<uint64_t> ImportTimestamps(uint64_t count, uint64_t last_timestamp_ns,
                                         uint64_t batch_timestamp_ns) {
    std::vector<uint64_t> timestamps;
    const uint64_t room = batch_timestamp_ns - last_timestamp_ns - 1;  // free timestamps
    const uint64_t step_max = std::max<uint64_t>(1, room / (count + 1));
    uint64_t at = last_timestamp_ns;
    for (uint64_t i = 0; i < count; ++i) {
      at += Uniform(1, step_max);
      const uint64_t roll = Uniform(0, 99);
      timestamps.push_back(roll < 2 ? 0 : roll < 5 ? at - 1 : roll < 7 ? batch_timestamp_ns : at);
    }
    return timestamps;
  }
  template <typename Event>
  void Import(std::vector<Event>& events, uint16_t imported_flag, uint64_t last_timestamp_ns,
              uint64_t batch_timestamp_ns) {
    const std::vector<uint64_t> timestamps =
        ImportTimestamps(events.size(), last_timestamp_ns, batch_timestamp_ns);
    using Flags = decltype(Event::flags);  // uint8_t for ledgers
    for (size_t i = 0; i < events.size(); ++i) {
      events[i].flags = static_cast<Flags>(events[i].flags | imported_flag);
      if (events[i].timestamp_ns == 0) events[i].timestamp_ns = timestamps[i];
      if (i > 0 && Percent(3))
        events[i].flags = static_cast<Flags>(events[i].flags & ~imported_flag);
    }
  }

  // None (the booking time stands for it), the distant past, or around the booking time,
  // before or after it: value-time queries then cut across booking order.
  uint64_t RandomValueTime() {
    switch (Uniform(0, 3)) {
      case 0:
        return 0;
      case 1:
        return Uniform(1, 3);
      default:
        return booked_ns_ - std::min<uint64_t>(booked_ns_ - 1, kValueTimeSpreadNs) +
               Uniform(0, 2 * kValueTimeSpreadNs);
    }
  }
  static constexpr uint64_t kValueTimeSpreadNs = 5'000'000'000;

  // Mostly a random gap after the last batch; sometimes exactly at (or 1 ns before) the expiry
  // of a pending reservation, to hit the "expiry <= T" boundary.
  uint64_t NextTimestamp(uint64_t last_timestamp_ns) {
    const uint64_t after_ns = std::max(last_timestamp_ns, mix_.start_timestamp_ns) + 1;
    if (!reservations_sent_.empty() && Percent(20)) {
      const Transfer& sent = PickRecent(reservations_sent_);
      const std::optional<Transfer> reservation = model_.LookupTransfer(sent.id);
      if (reservation.has_value() && reservation->timeout_s != 0 &&
          model_.GetPendingStatus(sent.id) == PendingStatus::kPending) {
        const u128 expiry_ns =
            u128{reservation->timestamp_ns} + u128{reservation->timeout_s} * 1'000'000'000;
        const u128 at_ns = expiry_ns - Uniform(0, 1);
        if (at_ns >= after_ns && at_ns - after_ns <= 4 * u128{mix_.gap_ns_max}) {  // no leaps
          return static_cast<uint64_t>(at_ns);
        }
      }
    }
    return after_ns + Uniform(0, mix_.gap_ns_max);
  }

  uint64_t Uniform(uint64_t low, uint64_t high) {
    return std::uniform_int_distribution<uint64_t>(low, high)(rng_);
  }
  u128 Uniform128(u128 low, u128 high) {
    const u128 random = (u128{rng_()} << 64) | rng_();
    const u128 span = high - low;
    return span == kU128Max ? random : low + random % (span + 1);
  }
  bool Percent(int percent) { return Uniform(0, 99) < static_cast<uint64_t>(percent); }
  template <typename T>
  const T& Pick(const std::vector<T>& items) {  // items must not be empty
    return items[Uniform(0, items.size() - 1)];
  }
  // Mostly one of the 16 most recent items: reservations are still pending, chains reach
  // back into their own batch.
  template <typename T>
  const T& PickRecent(const std::vector<T>& items) {
    if (Percent(30)) return Pick(items);
    const uint64_t back = Uniform(0, std::min<uint64_t>(items.size(), 16) - 1);
    return items[items.size() - 1 - back];
  }

  // Like PickRecent, but tries a few times for an item the model still has live (or one sent in
  // this batch, which the model cannot know yet), so fewer events aim at nothing.
  template <typename T, typename Live>
  const T& PickLive(const std::vector<T>& items, Live live) {
    const T* item = nullptr;
    for (int attempt = 0; attempt < 4; ++attempt) {
      item = &PickRecent(items);
      if (live(*item) || sent_in_batch_.contains(item->id.Get())) break;
    }
    return *item;
  }

  template <typename Event>
  void Chain(std::vector<Event>& events, uint16_t linked_flag) {
    if (!Percent(mix_.chain_batch_percent)) return;
    for (size_t start = 0; start < events.size();) {
      const size_t end = std::min<size_t>(events.size(), start + Uniform(1, 6));
      for (size_t i = start; i + 1 < end; ++i) events[i].flags |= linked_flag;
      start = end;
    }
    if (Percent(mix_.open_chain_percent)) events.back().flags |= linked_flag;
  }

  // --- Ledgers and accounts.

  static Ledger CanonicalLedger(uint32_t id) {
    static constexpr const char* kAssetCodes[] = {"USD", "EUR", "BTC", "X.Y_Z-9",
                                                  "ABCDEFGHIJKLMNOP"};
    Ledger ledger{};
    ledger.id = id;
    ledger.scale = static_cast<uint8_t>(id * 2);
    std::memcpy(ledger.asset_code, kAssetCodes[id % 5], std::strlen(kAssetCodes[id % 5]));
    return ledger;
  }

  Ledger MakeLedger() {
    Ledger ledger = CanonicalLedger(static_cast<uint32_t>(Uniform(1, 4)));
    if (Percent(15)) ledger.scale = Percent(50) ? kScaleMax : static_cast<uint8_t>(Uniform(0, 9));
    if (Percent(10)) ledger.asset_code[0] = 'Q';
    if (!Percent(30)) return ledger;  // ledgers are few: break them often
    // clang-format off
    switch (Uniform(0, 9)) {
      case 0: ledger.timestamp_ns = 1; break;
      case 1: ledger.reserved[Uniform(0, 1)] = 1; break;
      case 8: ledger.flags = static_cast<uint8_t>(1u << Uniform(1, 7)); break;  // reserved flag
      case 2: ledger.id = 0; break;
      case 3: ledger.scale = static_cast<uint8_t>(Uniform(kScaleMax + 1, kScaleMax + 2)); break;
      case 4: std::memset(ledger.asset_code, 0, kAssetCodeSizeBytes); break;
      case 5: ledger.asset_code[0] = 'u'; break;
      case 6: ledger.asset_code[1] = ' '; break;
      case 7: ledger.asset_code[kAssetCodeSizeBytes - 1] = 'Z'; break;  // after a NUL, mostly
      default: std::memset(ledger.asset_code, 'A', kAssetCodeSizeBytes); break;  // valid
    }
    // clang-format on
    return ledger;
  }

  u128 NewAccountId() {
    const u128 id = next_account_id_++;
    Account account{};
    account.id = AccountId::From(id);
    account.ledger = Percent(5) ? kUnknownLedger : kLedgerIds[Uniform(0, 2)];
    account.code = static_cast<uint16_t>(Uniform(1, 3));
    const uint64_t limit = Uniform(0, 9);
    if (limit == 7 || limit == 8) account.flags = account_flags::kDebitsMustNotExceedCredits;
    if (limit == 9) account.flags = account_flags::kCreditsMustNotExceedDebits;
    if (Percent(40)) account.flags |= account_flags::kHistory;
    account.user_data_128 = UserData128::From(Uniform(0, 2));
    account.user_data_64 = Uniform(0, 2);
    account.user_data_32 = static_cast<uint32_t>(Uniform(0, 2));
    account_defs_[id] = account;
    account_ids_.push_back(id);
    return id;
  }

  Account MakeAccount() {
    const bool fresh = account_ids_.size() < kAccountIdCountMax && Percent(60);
    Account account = account_defs_[fresh ? NewAccountId() : Pick(account_ids_)];
    if (!fresh && Percent(10)) {
      // clang-format off
      switch (Uniform(0, 5)) {
        case 0: account.flags ^= account_flags::kHistory; break;
        case 1: account.user_data_128 = UserData128::From(7); break;
        case 2: ++account.user_data_64; break;
        case 3: ++account.user_data_32; break;
        case 4: account.ledger = account.ledger % 3 + 1; break;
        default: account.code = static_cast<uint16_t>(account.code % 3 + 1); break;
      }
      // clang-format on
    }
    if (Percent(mix_.invalid_percent * 3)) BreakAccount(&account);  // accounts are few
    return account;
  }

  void BreakAccount(Account* account) {
    constexpr uint16_t kBothLimits =
        account_flags::kDebitsMustNotExceedCredits | account_flags::kCreditsMustNotExceedDebits;
    // clang-format off
    switch (Uniform(0, 12)) {
      case 0: account->timestamp_ns = 1; break;
      case 1: account->reserved = 1; break;
      case 2: account->flags |= static_cast<uint16_t>(1 << Uniform(5, 15)); break;
      case 3: account->id = AccountId{}; break;
      case 4: account->id = AccountId::Max(); break;
      case 5: account->flags |= kBothLimits; break;
      case 6: account->flags |= account_flags::kClosed; break;
      case 7: account->debits_pending = Amount::From(1); break;
      case 8: account->debits_posted = Amount::From(1); break;
      case 9: account->credits_pending = Amount::From(1); break;
      case 10: account->credits_posted = Amount::From(1); break;
      case 11: account->ledger = 0; break;
      default: account->code = 0; break;
    }
    // clang-format on
  }

  // --- Transfers.

  Transfer MakeTransfer() {
    std::discrete_distribution<int> kinds(mix_.kind_weights.begin(), mix_.kind_weights.end());
    Transfer transfer;
    // clang-format off
    switch (static_cast<Kind>(kinds(rng_))) {
      case Kind::kPlain: transfer = Base(0); break;
      case Kind::kPending: transfer = Base(transfer_flags::kPending); break;
      case Kind::kPost: transfer = MakeSettle(transfer_flags::kPostPending); break;
      case Kind::kVoid: transfer = MakeSettle(transfer_flags::kVoidPending); break;
      case Kind::kBalancing: transfer = MakeBalancing(); break;
      case Kind::kClosing: transfer = MakeClosing(); break;
      case Kind::kReversal: transfer = MakeReversal(); break;
      case Kind::kRetry: transfer = MakeRetry(); break;
    }
    // clang-format on
    if (Percent(mix_.invalid_percent)) BreakTransfer(&transfer);
    sent_.push_back(transfer);
    sent_in_batch_.insert(transfer.id.Get());
    if ((transfer.flags & transfer_flags::kPending) != 0) reservations_sent_.push_back(transfer);
    return transfer;
  }

  TransferId NewTransferId() {
    if (!sent_.empty() && Percent(6)) return Pick(sent_).id;
    return TransferId::From(next_transfer_id_++);
  }

  Amount RandomAmount() {
    if (Percent(mix_.huge_amount_percent)) {
      // clang-format off
      switch (Uniform(0, 3)) {
        case 0: return Amount::Max();
        case 1: return Amount::From(kU128Max - Uniform(0, 1000));
        case 2: return Amount::From(kTwoTo127 + Uniform(0, 1000));
        default: return Amount::From(Uniform128(kTwoTo127, kU128Max));
      }
      // clang-format on
    }
    return Amount::From(Percent(20) ? Uniform(1, 10) : Uniform(1, 1000));
  }

  uint32_t RandomTimeout() {
    // The longest timeout whose expiry still fits in 64 bits, when that fits in 32 bits.
    const uint64_t fitting_s = (UINT64_MAX - booked_ns_) / 1'000'000'000;
    if (fitting_s < UINT32_MAX && Percent(mix_.huge_timeout_percent)) {
      return static_cast<uint32_t>(fitting_s + Uniform(0, 1));
    }
    if (Percent(mix_.huge_timeout_percent)) {
      return static_cast<uint32_t>(Uniform(uint64_t{1} << 31, UINT32_MAX));
    }
    if (Percent(mix_.timeout_percent)) return static_cast<uint32_t>(Uniform(1, mix_.timeout_s_max));
    return 0;
  }

  AccountId RandomAccountId() {
    if (Percent(3)) return AccountId::From(kUnknownAccountBase + Uniform(0, 3));
    return AccountId::From(Pick(account_ids_));
  }

  // Two distinct accounts, mostly of one ledger, and that ledger.
  void PickAccounts(Transfer* transfer) {
    const uint32_t ledger = kLedgerIds[Uniform(0, 2)];
    std::vector<u128> candidates;
    for (const auto& [id, account] : account_defs_) {
      if (account.ledger == ledger) candidates.push_back(id);
    }
    if (candidates.size() < 2) candidates = account_ids_;
    const u128 debit = Pick(candidates);
    u128 credit = Pick(candidates);
    for (int attempt = 0; attempt < 8 && credit == debit; ++attempt) credit = Pick(candidates);
    transfer->debit_account_id = AccountId::From(debit);
    transfer->credit_account_id = AccountId::From(credit);
    if (Percent(4)) transfer->debit_account_id = RandomAccountId();
    if (Percent(4)) transfer->credit_account_id = RandomAccountId();
    transfer->ledger = ledger;
    if (Percent(3)) transfer->ledger = Percent(50) ? kUnknownLedger : ledger % 3 + 1;
  }

  Transfer Base(uint16_t flags) {
    Transfer transfer{};
    transfer.id = NewTransferId();
    transfer.flags = flags;
    PickAccounts(&transfer);
    transfer.code = static_cast<uint16_t>(Uniform(1, 3));
    transfer.amount = RandomAmount();
    if ((flags & transfer_flags::kPending) != 0) transfer.timeout_s = RandomTimeout();
    // Often an orchestrator's own reference, on one transfer only (the query index keeps
    // those inline), else a value many share (the index keeps a list).
    transfer.user_data_128 = UserData128::From(Percent(30) ? transfer.id.Get() : Uniform(0, 2));
    transfer.user_data_64 = Uniform(0, 2);
    transfer.user_data_32 = static_cast<uint32_t>(Uniform(0, 2));
    transfer.value_time_ns = RandomValueTime();
    return transfer;
  }

  // A post or a void of a reservation sent earlier (often in this very batch).
  Transfer MakeSettle(uint16_t flag) {
    Transfer transfer{};
    transfer.id = NewTransferId();
    transfer.flags = flag;
    transfer.user_data_64 = Uniform(0, 2);
    if (reservations_sent_.empty() || Percent(4)) {
      transfer.pending_id =
          sent_.empty() || Percent(30) ? TransferId::From(Uniform(1, 1 << 20)) : Pick(sent_).id;
      transfer.amount = Amount::From(Uniform(0, 10));
      return transfer;
    }
    const Transfer& sent = PickLive(reservations_sent_, [this](const Transfer& reservation) {
      return model_.GetPendingStatus(reservation.id) == PendingStatus::kPending;
    });
    const Transfer reservation = model_.LookupTransfer(sent.id).value_or(sent);
    transfer.pending_id = sent.id;
    transfer.amount = SettleAmount(flag == transfer_flags::kPostPending, reservation.amount.Get());
    if (Percent(30)) {  // name the reservation's fields instead of inheriting them
      transfer.debit_account_id = reservation.debit_account_id;
      transfer.credit_account_id = reservation.credit_account_id;
      transfer.ledger = reservation.ledger;
      transfer.code = reservation.code;
      if (Percent(25)) {
        // clang-format off
        switch (Uniform(0, 3)) {
          case 0: transfer.debit_account_id = RandomAccountId(); break;
          case 1: transfer.credit_account_id = RandomAccountId(); break;
          case 2: transfer.ledger = transfer.ledger % 3 + 1; break;
          default: transfer.code = static_cast<uint16_t>(transfer.code % 3 + 1); break;
        }
        // clang-format on
      }
    }
    return transfer;
  }

  Amount SettleAmount(bool post, u128 reserved) {
    const u128 above = reserved == kU128Max ? reserved : reserved + 1;
    const uint64_t roll = Uniform(0, 99);
    if (post) {
      if (roll < 35) return Amount::Max();
      if (roll < 60) return Amount::From(reserved);
      if (roll < 85) return Amount::From(reserved == 0 ? 1 : Uniform128(1, reserved));
      if (roll < 95) return Amount::From(above);
      return Amount::From(Uniform(1, 1000));
    }
    if (roll < 55) return Amount{};
    if (roll < 85) return Amount::From(reserved);
    return Amount::From(above);
  }

  Transfer MakeBalancing() {
    static constexpr uint16_t kSides[] = {
        transfer_flags::kBalancingDebit, transfer_flags::kBalancingCredit,
        transfer_flags::kBalancingDebit | transfer_flags::kBalancingCredit};
    uint16_t flags = kSides[Uniform(0, 2)];
    if (Percent(30)) flags |= transfer_flags::kPending;
    Transfer transfer = Base(flags);
    if (Percent(30)) transfer.amount = Amount::Max();
    return transfer;
  }

  Transfer MakeClosing() {
    static constexpr uint16_t kSides[] = {
        transfer_flags::kClosingDebit, transfer_flags::kClosingCredit,
        transfer_flags::kClosingDebit | transfer_flags::kClosingCredit};
    uint16_t flags = transfer_flags::kPending | kSides[Uniform(0, 2)];
    if (Percent(30)) flags |= transfer_flags::kBalancingDebit;
    Transfer transfer = Base(flags);
    // Mostly with a timeout: a posted closing reservation closes its account for good.
    if (Percent(70)) transfer.timeout_s = static_cast<uint32_t>(Uniform(1, mix_.timeout_s_max));
    return transfer;
  }

  Transfer MakeReversal() {
    if (sent_.empty() || Percent(4)) {
      Transfer transfer = Base(0);
      transfer.reverses_id = TransferId::From(Uniform(1, 1 << 20));
      return transfer;
    }
    const Transfer& sent = PickLive(sent_, [this](const Transfer& original) {
      return model_.LookupTransfer(original.id).has_value();
    });
    const Transfer original = model_.LookupTransfer(sent.id).value_or(sent);
    Transfer transfer = Base(0);
    transfer.reverses_id = original.id;
    transfer.debit_account_id = original.credit_account_id;
    transfer.credit_account_id = original.debit_account_id;
    transfer.ledger = original.ledger;
    if (Percent(8)) std::swap(transfer.debit_account_id, transfer.credit_account_id);
    if (Percent(4)) transfer.credit_account_id = RandomAccountId();
    const u128 reversed = model_.GetReversedAmount(original.id).Get();
    const u128 left = original.amount.Get() > reversed ? original.amount.Get() - reversed : 0;
    const uint64_t roll = Uniform(0, 99);
    if (roll < 30) transfer.amount = Amount::From(left);
    if (roll >= 30 && roll < 70)
      transfer.amount = Amount::From(left == 0 ? 1 : Uniform128(1, left));
    if (roll >= 70 && roll < 85) transfer.amount = Amount::From(left + 1);
    if (roll >= 85 && roll < 90) transfer.amount = Amount::Max();
    if (transfer.amount.IsZero()) transfer.amount = Amount::From(1);
    return transfer;
  }

  // The same event again (exists, or id_already_failed), or with one field changed. Half the
  // time a retry of a recently failed id, when there is one (the model knows which failed).
  Transfer MakeRetry() {
    if (sent_.empty()) return Base(0);
    Transfer transfer = PickRecent(sent_);
    if (Percent(50)) {
      const size_t look_back = std::min<size_t>(sent_.size(), 64);
      const size_t start = static_cast<size_t>(Uniform(0, look_back - 1));
      for (size_t k = 0; k < look_back; ++k) {
        const Transfer& sent = sent_[sent_.size() - 1 - (start + k) % look_back];
        if (model_.LookupFailedTransfer(sent.id).has_value()) {
          transfer = sent;
          break;
        }
      }
    }
    transfer.flags &= static_cast<uint16_t>(~transfer_flags::kLinked);
    if (!Percent(35)) return transfer;
    // clang-format off
    switch (Uniform(0, 10)) {
      case 0: transfer.amount = Amount::From(transfer.amount.Get() + 1); break;
      case 1: transfer.user_data_128 = UserData128::From(9); break;
      case 2: ++transfer.user_data_64; break;
      case 3: ++transfer.user_data_32; break;
      case 4: transfer.code = static_cast<uint16_t>(transfer.code % 3 + 1); break;
      case 5: ++transfer.value_time_ns; break;
      case 6: ++transfer.timeout_s; break;
      case 7: transfer.ledger = transfer.ledger % 3 + 1; break;
      case 8: transfer.debit_account_id = RandomAccountId(); break;
      case 9: transfer.credit_account_id = RandomAccountId(); break;
      default: transfer.flags ^= transfer_flags::kPending; break;
    }
    // clang-format on
    return transfer;
  }

  // One field made invalid; an earlier check in the precedence order may still win.
  void BreakTransfer(Transfer* transfer) {
    using namespace transfer_flags;  // NOLINT: a table of flags reads better unqualified.
    const TransferId other = TransferId::From(Uniform(1, 1 << 20));
    // clang-format off
    switch (Uniform(0, 23)) {
      case 0: transfer->timestamp_ns = 1; break;
      case 1: transfer->flags |= static_cast<uint16_t>(1 << Uniform(8, 15)); break;
      case 2: transfer->id = TransferId{}; break;
      case 3: transfer->id = TransferId::Max(); break;
      case 4: transfer->flags |= kPending | kVoidPending; break;
      case 5: transfer->flags |= kPostPending | kBalancingCredit; break;
      case 6: transfer->pending_id = other; break;
      case 7: transfer->flags = kPostPending; transfer->pending_id = TransferId{}; break;
      case 8: transfer->flags = kVoidPending; transfer->pending_id = TransferId::Max(); break;
      case 9: transfer->flags = kPostPending; transfer->pending_id = transfer->id; break;
      case 10: transfer->reverses_id = TransferId::Max(); break;
      case 11: transfer->reverses_id = transfer->id; break;
      case 12: transfer->reverses_id = other; transfer->flags |= kPending; break;
      case 13: transfer->flags &= static_cast<uint16_t>(~kPending); transfer->timeout_s = 3; break;
      case 14: transfer->flags = kClosingCredit; break;
      case 15: transfer->debit_account_id = AccountId{}; break;
      case 16: transfer->debit_account_id = AccountId::Max(); break;
      case 17: transfer->credit_account_id = AccountId{}; break;
      case 18: transfer->credit_account_id = AccountId::Max(); break;
      case 19: transfer->credit_account_id = transfer->debit_account_id; break;
      case 20: transfer->ledger = 0; break;
      case 21: transfer->code = 0; break;
      case 22: transfer->value_time_ns = kTimestampLimitNs + Uniform(0, 1) * UINT64_MAX / 2; break;
      default: transfer->amount = Amount{}; break;
    }
    // clang-format on
  }

  std::mt19937_64 rng_;
  Mix mix_;
  const ReferenceModel& model_;
  std::map<u128, Account> account_defs_;  // the canonical creation event of each account id
  std::vector<u128> account_ids_;
  u128 next_account_id_ = 1;
  u128 next_transfer_id_ = 1;
  uint64_t booked_ns_ = 0;        // the booking timestamp of the transfer being generated
  std::vector<Transfer> sent_;    // every transfer event generated
  std::set<u128> sent_in_batch_;  // ids of the transfers of the batch being built
  std::vector<Transfer> reservations_sent_;  // those with the pending flag
};

}  // namespace ledger::testing
