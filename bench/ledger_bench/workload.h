// ledger-bench's workload: which accounts exist, which transfers each worker sends, and what
// the ledger must answer and hold afterwards (the generator's side of the validation).
//
// Every worker owns a Stream and sends its batches one at a time, so a post or void always
// travels in a later batch of the same worker than its reservation, after that one was
// acknowledged: the expected result of every event is known when it is generated.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "bench/ledger_bench/options.h"
#include "bench/ledger_bench/report.h"
#include "engine/types.h"
#include "net/client.h"

namespace ledger::bench {

// splitmix64: fast, and its finaliser is a bijection, so mixed counters stay unique.
uint64_t Mix(uint64_t value);

struct Random {
  uint64_t state;
  uint64_t Next() { return Mix(state += 0x9E3779B97F4A7C15ULL); }
  uint64_t Below(uint64_t bound) { return static_cast<uint64_t>((u128{Next()} * bound) >> 64); }
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)
  bool Chance(double share) { return share > 0 && Unit() < share; }
};

// The accounts of one run and how transfers pick them. Read-only while workers run.
class AccountSpace {
 public:
  // `nonce` keeps the ids of this run apart from any earlier run's on the same server.
  AccountSpace(const BenchOptions& options, uint64_t nonce, uint32_t ledger, uint32_t shards);

  uint64_t count() const { return count_; }
  uint32_t ledger() const { return ledger_; }
  uint32_t shards() const { return shards_; }
  uint64_t nonce() const { return nonce_; }
  AccountId IdOf(uint64_t index) const;
  uint32_t ShardOfIndex(uint64_t index) const { return shard_of_[index]; }
  // Two distinct accounts; on different shards with probability `cross_shard_share` (when
  // there are several shards), else on the same one.
  void PickPair(Random& random, uint64_t* debit, uint64_t* credit) const;
  // One account, by the distribution (history lookups).
  uint64_t Pick(Random& random) const;

 private:
  uint64_t PickRank(Random& random) const;
  uint64_t PickOnShard(Random& random, uint32_t shard, bool same) const;

  const BenchOptions& options_;
  uint64_t count_;
  uint64_t nonce_;
  uint32_t ledger_;
  uint32_t shards_;
  uint64_t rank_multiplier_;  // rank -> index: hot accounts spread over ids and shards
  std::vector<uint32_t> shard_of_;
  std::vector<std::vector<uint64_t>> by_shard_;
  // Zipf by rejection inversion (Hörmann and Derflinger): O(1) per draw, any exponent.
  double zipf_h_x1_ = 0, zipf_h_n_ = 0, zipf_s_ = 0;
  double ZipfH(double x) const;
  double ZipfHIntegral(double x) const;
  double ZipfHIntegralInverse(double x) const;
};

// The balances the generator expects for a sample of accounts, and the ledger's totals.
struct ExpectedBook {
  uint64_t sample_step = 1;  // account index i is sampled when i % sample_step == 0
  std::vector<AccountBalances> sampled;
  u128 debits_posted = 0;  // totals over the whole ledger (equal to the credits')
  u128 pending = 0;

  void Resize(uint64_t account_count, uint32_t sample_accounts);
  void Merge(const ExpectedBook& other);
};

// One worker's transfers.
class Stream {
 public:
  // `next_id` hands out transfer id numbers (shared by all streams, so sequential ids rise
  // over time across workers).
  Stream(const BenchOptions& options, const AccountSpace& space, uint32_t worker,
         std::atomic<uint64_t>& next_id);

  // Fills `batch` whole: due posts and voids first, then new transfers and chains.
  void Fill(std::span<Transfer> batch);
  // Checks each result against the expected one and books the effect of those that succeeded.
  void Check(std::span<const Transfer> batch, std::span<const net::TransferResult> results,
             Validation& validation);
  // Releases what the reservations left to expire held: call once they have expired.
  void ExpireAll();
  // The latest deadline among reservations left to expire (booking + timeout), 0: none.
  uint64_t expiry_deadline_ns() const { return expiry_deadline_ns_; }
  const ExpectedBook& book() const { return book_; }

 private:
  enum class Fate : uint8_t { kPlain, kPending, kPost, kVoid, kExpire, kResubmit };
  struct Reservation {
    TransferId id;
    uint64_t debit, credit;
    Amount amount;
    Fate fate;  // kPost, kVoid, kExpire, or kPending (stays)
  };
  TransferId NextId();
  Transfer Plain(uint64_t debit, uint64_t credit);
  size_t AddChain(std::span<Transfer> room);
  void Book(const Transfer& transfer, uint64_t debit, uint64_t credit, int direction);
  // Keeps a uniform sample of every acknowledged plain transfer (reservoir sampling), so a
  // resubmission is as likely to name an old transfer as a recent one.
  void Remember(const Transfer& transfer);
  void BookAccount(uint64_t index, bool is_debit, bool pending, Amount amount, int direction);

  const BenchOptions& options_;
  const AccountSpace& space_;
  std::atomic<uint64_t>& next_id_;
  Random random_;
  // Per event of the batch in flight: account indexes and what it is.
  struct EventInfo {
    uint64_t debit, credit;
    Fate fate;
    Fate reservation_fate;     // for kPending: what comes next
    size_t reservation_index;  // for kPost/kVoid: into follow_ups_ (taken)
  };
  std::vector<EventInfo> events_;
  std::vector<Reservation> follow_ups_;  // reservations to post or void in the next batch
  std::vector<Reservation> taken_;       // those in the batch in flight
  std::vector<Reservation> expiring_;
  static constexpr size_t kResubmitPool = 4096;  // per worker: 600 KiB
  std::vector<Transfer> acknowledged_;           // the sample resubmissions draw from
  uint64_t acknowledged_count_ = 0;              // plain transfers acknowledged, all told
  uint64_t expiry_deadline_ns_ = 0;
  ExpectedBook book_;
};

}  // namespace ledger::bench
