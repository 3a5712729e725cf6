#include "bench/ledger_bench/workload.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "engine/result_names.h"
#include "engine/shard.h"

namespace ledger::bench {
namespace {

constexpr uint64_t kAmountMax = 1'000'000;  // plain amounts are 1..kAmountMax minor units
constexpr uint32_t kExpireTimeoutS = 1;
constexpr size_t kChainLengthMax = 4;
// Rejection sampling for an account on the wanted shard gives up after this many draws and
// takes a uniform one from that shard (rare: only with many shards and a narrow hot set).
constexpr int kShardDrawsMax = 64;

// Helpers of the Zipf sampler, accurate near 0 where the plain formulas cancel.
double Log1pOverX(double x) {
  return std::abs(x) > 1e-8 ? std::log1p(x) / x : 1 - x * (0.5 - x / 3);
}
double Expm1OverX(double x) {
  return std::abs(x) > 1e-8 ? std::expm1(x) / x : 1 + x * (0.5 + x / 6);
}

}  // namespace

uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// ---------------------------------------------------------------------------------------------
// AccountSpace

AccountSpace::AccountSpace(const BenchOptions& options, uint64_t nonce, uint32_t ledger,
                           uint32_t shards)
    : options_(options),
      count_(options.accounts),
      nonce_(nonce),
      ledger_(ledger),
      shards_(std::max<uint32_t>(shards, 1)),
      shard_of_(count_),
      by_shard_(shards_) {
  rank_multiplier_ = 0x9E3779B97F4A7C15ULL % count_;
  while (std::gcd(rank_multiplier_, count_) != 1) ++rank_multiplier_;
  for (uint64_t i = 0; i < count_; ++i) {
    shard_of_[i] = engine::ShardOf(IdOf(i), shards_);
    by_shard_[shard_of_[i]].push_back(i);
  }
  zipf_s_ = options.zipf_skew;
  zipf_h_x1_ = ZipfHIntegral(1.5) - 1.0;
  zipf_h_n_ = ZipfHIntegral(static_cast<double>(count_) + 0.5);
}

AccountId AccountSpace::IdOf(uint64_t index) const {
  // A non-zero high word keeps ids off 0 and 2^128-1 and apart from other runs.
  const uint64_t low = options_.id_order == IdOrder::kRandom ? Mix(index + 1) : index + 1;
  return AccountId{low, nonce_};
}

double AccountSpace::ZipfH(double x) const { return std::exp(-zipf_s_ * std::log(x)); }
double AccountSpace::ZipfHIntegral(double x) const {
  const double log_x = std::log(x);
  return Expm1OverX((1 - zipf_s_) * log_x) * log_x;
}
double AccountSpace::ZipfHIntegralInverse(double x) const {
  double t = x * (1 - zipf_s_);
  if (t < -1) t = -1;
  return std::exp(Log1pOverX(t) * x);
}

uint64_t AccountSpace::PickRank(Random& random) const {
  switch (options_.distribution) {
    case Distribution::kUniform:
      return random.Below(count_);
    case Distribution::kHot:
      return random.Chance(options_.hot_share) ? random.Below(options_.hot_accounts)
                                               : random.Below(count_);
    case Distribution::kZipf:
      break;
  }
  const double n = static_cast<double>(count_);
  while (true) {
    const double u = zipf_h_n_ + random.Unit() * (zipf_h_x1_ - zipf_h_n_);
    const double x = ZipfHIntegralInverse(u);
    const double k = std::clamp(std::floor(x + 0.5), 1.0, n);
    if (k - x <= 0.5 || u >= ZipfHIntegral(k + 0.5) - ZipfH(k)) {
      return static_cast<uint64_t>(k) - 1;
    }
  }
}

uint64_t AccountSpace::Pick(Random& random) const {
  return static_cast<uint64_t>((u128{PickRank(random)} * rank_multiplier_) % count_);
}

uint64_t AccountSpace::PickOnShard(Random& random, uint32_t shard, bool same) const {
  for (int draw = 0; draw < kShardDrawsMax; ++draw) {
    const uint64_t index = Pick(random);
    if ((shard_of_[index] == shard) == same) return index;
  }
  uint32_t target = shard;
  if (!same) target = (shard + 1 + static_cast<uint32_t>(random.Below(shards_ - 1))) % shards_;
  const std::vector<uint64_t>& members = by_shard_[target];
  return members[random.Below(members.size())];
}

void AccountSpace::PickPair(Random& random, uint64_t* debit, uint64_t* credit) const {
  *debit = Pick(random);
  const bool cross = shards_ > 1 && random.Chance(options_.cross_shard_share);
  do {
    *credit = shards_ > 1 ? PickOnShard(random, shard_of_[*debit], !cross) : Pick(random);
  } while (*credit == *debit);
}

// ---------------------------------------------------------------------------------------------
// ExpectedBook

void ExpectedBook::Resize(uint64_t account_count, uint32_t sample_accounts) {
  sample_step = sample_accounts == 0 ? account_count + 1
                                     : std::max<uint64_t>(1, account_count / sample_accounts);
  sampled.assign((account_count + sample_step - 1) / sample_step, AccountBalances{});
}

void ExpectedBook::Merge(const ExpectedBook& other) {
  for (size_t i = 0; i < sampled.size(); ++i) {
    const AccountBalances& b = other.sampled[i];
    AccountBalances& a = sampled[i];
    a.debits_pending = Amount::From(a.debits_pending.Get() + b.debits_pending.Get());
    a.debits_posted = Amount::From(a.debits_posted.Get() + b.debits_posted.Get());
    a.credits_pending = Amount::From(a.credits_pending.Get() + b.credits_pending.Get());
    a.credits_posted = Amount::From(a.credits_posted.Get() + b.credits_posted.Get());
  }
  debits_posted += other.debits_posted;
  pending += other.pending;
}

// ---------------------------------------------------------------------------------------------
// Stream

Stream::Stream(const BenchOptions& options, const AccountSpace& space, uint32_t worker,
               std::atomic<uint64_t>& next_id)
    : options_(options),
      space_(space),
      next_id_(next_id),
      random_{Mix(options.seed * 0x100000001B3ULL + worker + 1)} {
  book_.Resize(space.count(), options.sample_accounts);
  events_.reserve(options.batch_events);
}

TransferId Stream::NextId() {
  const uint64_t number = next_id_.fetch_add(1, std::memory_order_relaxed) + 1;
  return TransferId{options_.id_order == IdOrder::kRandom ? Mix(number) : number, space_.nonce()};
}

Transfer Stream::Plain(uint64_t debit, uint64_t credit) {
  Transfer transfer{};
  transfer.id = NextId();
  transfer.debit_account_id = space_.IdOf(debit);
  transfer.credit_account_id = space_.IdOf(credit);
  transfer.amount = Amount::From(1 + random_.Below(kAmountMax));
  transfer.ledger = space_.ledger();
  transfer.code = 1;
  return transfer;
}

size_t Stream::AddChain(std::span<Transfer> room) {
  const size_t length = std::min(room.size(), 2 + random_.Below(kChainLengthMax - 1));
  for (size_t i = 0; i < length; ++i) {
    uint64_t debit, credit;
    space_.PickPair(random_, &debit, &credit);
    room[i] = Plain(debit, credit);
    if (i + 1 < length) room[i].flags |= transfer_flags::kLinked;
    events_.push_back({debit, credit, Fate::kPlain, Fate::kPlain, 0});
  }
  return length;
}

void Stream::Fill(std::span<Transfer> batch) {
  events_.clear();
  taken_.clear();
  size_t filled = 0;
  // Follow-ups of reservations acknowledged in earlier batches.
  while (filled < batch.size() && !follow_ups_.empty()) {
    const Reservation reservation = follow_ups_.back();
    follow_ups_.pop_back();
    Transfer& transfer = batch[filled++];
    transfer = Plain(reservation.debit, reservation.credit);
    transfer.pending_id = reservation.id;
    if (reservation.fate == Fate::kPost) {
      transfer.flags = transfer_flags::kPostPending;
      // Half post all of it, half a part (the rest is released).
      transfer.amount =
          random_.Chance(0.5)
              ? reservation.amount
              : Amount::From(1 + random_.Below(static_cast<uint64_t>(reservation.amount.Get())));
    } else {
      transfer.flags = transfer_flags::kVoidPending;
      transfer.amount = reservation.amount;
    }
    events_.push_back(
        {reservation.debit, reservation.credit, reservation.fate, Fate::kPlain, taken_.size()});
    taken_.push_back(reservation);
  }
  while (filled < batch.size()) {
    if (!acknowledged_.empty() && random_.Chance(options_.resubmit_share)) {
      Transfer& transfer = batch[filled++];
      transfer = acknowledged_[random_.Below(acknowledged_.size())];
      transfer.flags &= static_cast<uint16_t>(~transfer_flags::kLinked);  // alone: no chain
      events_.push_back({0, 0, Fate::kResubmit, Fate::kPlain, 0});
      continue;
    }
    if (batch.size() - filled >= 2 && random_.Chance(options_.chain_share)) {
      filled += AddChain(batch.subspan(filled));
      continue;
    }
    uint64_t debit, credit;
    space_.PickPair(random_, &debit, &credit);
    Transfer& transfer = batch[filled++];
    transfer = Plain(debit, credit);
    if (!random_.Chance(options_.pending_share)) {
      events_.push_back({debit, credit, Fate::kPlain, Fate::kPlain, 0});
      continue;
    }
    transfer.flags = transfer_flags::kPending;
    const double fate = random_.Unit();
    Fate next = Fate::kPending;
    if (fate < options_.post_share) {
      next = Fate::kPost;
    } else if (fate < options_.post_share + options_.void_share) {
      next = Fate::kVoid;
    } else if (fate < options_.post_share + options_.void_share + options_.expire_share) {
      next = Fate::kExpire;
      transfer.timeout_s = kExpireTimeoutS;
    }
    events_.push_back({debit, credit, Fate::kPending, next, 0});
  }
}

void Stream::BookAccount(uint64_t index, bool is_debit, bool pending, Amount amount,
                         int direction) {
  if (index % book_.sample_step != 0) return;
  AccountBalances& balances = book_.sampled[index / book_.sample_step];
  Amount& field = is_debit ? (pending ? balances.debits_pending : balances.debits_posted)
                           : (pending ? balances.credits_pending : balances.credits_posted);
  field = Amount::From(direction > 0 ? field.Get() + amount.Get() : field.Get() - amount.Get());
}

// Books `transfer` into (direction +1) or out of (-1) the pending or posted balances.
void Stream::Book(const Transfer& transfer, uint64_t debit, uint64_t credit, int direction) {
  const bool pending = (transfer.flags & transfer_flags::kPending) != 0;
  BookAccount(debit, true, pending, transfer.amount, direction);
  BookAccount(credit, false, pending, transfer.amount, direction);
  u128& total = pending ? book_.pending : book_.debits_posted;
  total = direction > 0 ? total + transfer.amount.Get() : total - transfer.amount.Get();
}

void Stream::Check(std::span<const Transfer> batch, std::span<const net::TransferResult> results,
                   Validation& validation) {
  validation.results_checked += batch.size();
  for (size_t i = 0; i < batch.size(); ++i) {
    const net::TransferResult& result = results[i];
    const EventInfo& event = events_[i];
    const CreateTransferResult expected =
        event.fate == Fate::kResubmit ? CreateTransferResult::kExists : CreateTransferResult::kOk;
    if (result.status != expected) {
      if (validation.results_unexpected++ == 0) {
        validation.first_unexpected =
            absl::StrCat("transfer ", i, " of a batch: ", ResultName(result.status), " where ",
                         ResultName(expected), " was expected");
      }
      continue;
    }
    const Transfer& transfer = batch[i];
    switch (event.fate) {
      case Fate::kResubmit:
        ++validation.resubmits_exist;
        break;
      case Fate::kPlain:
        Book(transfer, event.debit, event.credit, +1);
        if (options_.resubmit_share > 0) Remember(transfer);
        break;
      case Fate::kPending: {
        Book(transfer, event.debit, event.credit, +1);
        const Reservation reservation{transfer.id, event.debit, event.credit, transfer.amount,
                                      event.reservation_fate};
        if (event.reservation_fate == Fate::kExpire) {
          expiring_.push_back(reservation);
          expiry_deadline_ns_ = std::max(
              expiry_deadline_ns_, result.timestamp_ns + uint64_t{kExpireTimeoutS} * 1'000'000'000);
        } else if (event.reservation_fate != Fate::kPending) {
          follow_ups_.push_back(reservation);
        }
        break;
      }
      case Fate::kPost:
      case Fate::kVoid: {
        const Reservation& reservation = taken_[event.reservation_index];
        Transfer reserved{};
        reserved.flags = transfer_flags::kPending;
        reserved.amount = reservation.amount;
        Book(reserved, event.debit, event.credit, -1);
        if (event.fate == Fate::kPost) {
          Transfer posted{};
          posted.amount = transfer.amount;
          Book(posted, event.debit, event.credit, +1);
        }
        break;
      }
      case Fate::kExpire:
        break;
    }
  }
}

void Stream::Remember(const Transfer& transfer) {
  ++acknowledged_count_;
  if (acknowledged_.size() < kResubmitPool) {
    acknowledged_.push_back(transfer);
    return;
  }
  const uint64_t slot = random_.Below(acknowledged_count_);
  if (slot < kResubmitPool) acknowledged_[slot] = transfer;
}

void Stream::ExpireAll() {
  for (const Reservation& reservation : expiring_) {
    Transfer reserved{};
    reserved.flags = transfer_flags::kPending;
    reserved.amount = reservation.amount;
    Book(reserved, reservation.debit, reservation.credit, -1);
  }
  expiring_.clear();
}

}  // namespace ledger::bench
