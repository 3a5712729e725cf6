// ledger-bench's flags and workload generator: the distributions it claims, the shares it
// claims, and the expectations it checks the ledger against.
#include "bench/ledger_bench/workload.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "bench/ledger_bench/options.h"
#include "engine/shard.h"

namespace ledger::bench {
namespace {

BenchOptions Parse(std::vector<std::string> args) {
  absl::StatusOr<BenchOptions> options = ParseOptions(args);
  EXPECT_TRUE(options.ok()) << options.status();
  return options.ok() ? *options : BenchOptions{};
}

TEST(Options, DefaultsAreTheIndustryWorkload) {
  const BenchOptions options = Parse({});
  EXPECT_EQ(options.accounts, 10'000u);
  EXPECT_EQ(options.transfers, 10'000'000u);
  EXPECT_EQ(options.batch_events, 8'190u);
  EXPECT_EQ(options.distribution, Distribution::kUniform);
  EXPECT_EQ(options.rate_per_s, 0u);
  EXPECT_TRUE(options.address.empty());  // starts its own server
}

TEST(Options, BadFlagsAreRefusedByName) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--accounts", "1"}, "--accounts must be a whole number in 2.."},
      {{"--batch", "8191"}, "--batch must be a whole number in 1..8190"},
      {{"--pending", "1.5"}, "--pending must be a number in 0..1"},
      {{"--distribution", "pareto"}, "--distribution must be one of hot uniform zipf"},
      {{"--post", "0.6", "--void", "0.6"}, "add up to more than 1"},
      {{"--address", "127.0.0.1:1"}, "--address needs --token-file"},
      {{"--metrics", "127.0.0.1:1"}, "go with --address"},
      {{"--frobnicate"}, "unknown flag '--frobnicate'"},
      {{"--seed"}, "--seed needs a value"},
      {{"--distribution", "hot", "--hot-accounts", "20000"}, "--hot-accounts must be in"},
  };
  for (const auto& [args, message] : cases) {
    absl::StatusOr<BenchOptions> options = ParseOptions(args);
    ASSERT_FALSE(options.ok()) << args[0];
    EXPECT_TRUE(absl::IsInvalidArgument(options.status()));
    EXPECT_NE(options.status().message().find(message), std::string::npos) << options.status();
  }
  EXPECT_TRUE(absl::IsNotFound(ParseOptions({"--help"}).status()));  // carries the usage
  EXPECT_EQ(Parse({"--zipf-skew=1.2", "--distribution=zipf"}).zipf_skew, 1.2);
}

// How often each account index is picked in `draws` draws.
std::vector<uint64_t> Histogram(const AccountSpace& space, uint64_t draws) {
  std::vector<uint64_t> counts(space.count());
  Random random{42};
  for (uint64_t i = 0; i < draws; ++i) ++counts[space.Pick(random)];
  return counts;
}

TEST(AccountSpace, ZipfPicksTheHottestAccountAsOftenAsTheLawSays) {
  BenchOptions options = Parse({"--accounts", "1000", "--distribution", "zipf"});
  AccountSpace space(options, 7, 1, 1);
  constexpr uint64_t kDraws = 1'000'000;
  std::vector<uint64_t> counts = Histogram(space, kDraws);
  std::sort(counts.rbegin(), counts.rend());
  double harmonic = 0;  // H(1000) for exponent 1
  for (int k = 1; k <= 1000; ++k) harmonic += 1.0 / k;
  const double expected_top = kDraws / harmonic;  // ~133,600
  EXPECT_NEAR(static_cast<double>(counts[0]), expected_top, expected_top * 0.02);
  EXPECT_NEAR(static_cast<double>(counts[1]), expected_top / 2, expected_top * 0.02);
  EXPECT_NEAR(static_cast<double>(counts[9]), expected_top / 10, expected_top * 0.01);
}

TEST(AccountSpace, UniformAndHotSetsSpreadAsConfigured) {
  BenchOptions uniform = Parse({"--accounts", "100"});
  AccountSpace flat(uniform, 7, 1, 1);
  for (uint64_t count : Histogram(flat, 1'000'000))
    EXPECT_NEAR(static_cast<double>(count), 10'000.0, 600.0);

  BenchOptions hot = Parse({"--accounts", "1000", "--distribution", "hot", "--hot-accounts", "10",
                            "--hot-share", "0.9"});
  AccountSpace skewed(hot, 7, 1, 1);
  std::vector<uint64_t> counts = Histogram(skewed, 1'000'000);
  std::sort(counts.rbegin(), counts.rend());
  uint64_t top_ten = 0;
  for (int i = 0; i < 10; ++i) top_ten += counts[i];
  // 90% within the hot set, plus the cold draws that land there (10% x 10/1000).
  EXPECT_NEAR(static_cast<double>(top_ten) / 1e6, 0.9 + 0.1 * 0.01, 0.005);
}

TEST(AccountSpace, CrossShardShareIsWhatWasAskedAndPairsDiffer) {
  for (double share : {0.0, 0.1, 0.5, 1.0}) {
    BenchOptions options = Parse({"--accounts", "5000", "--cross-shard", std::to_string(share)});
    AccountSpace space(options, 7, 1, 4);
    Random random{9};
    uint64_t crossing = 0;
    constexpr int kPairs = 100'000;
    for (int i = 0; i < kPairs; ++i) {
      uint64_t debit, credit;
      space.PickPair(random, &debit, &credit);
      ASSERT_NE(debit, credit);
      EXPECT_EQ(space.ShardOfIndex(debit), engine::ShardOf(space.IdOf(debit), 4));
      crossing += space.ShardOfIndex(debit) != space.ShardOfIndex(credit) ? 1 : 0;
    }
    EXPECT_NEAR(static_cast<double>(crossing) / kPairs, share, 0.01) << share;
  }
}

TEST(AccountSpace, IdsAreDistinctNeverZeroAndApartFromOtherRuns) {
  for (const char* order : {"sequential", "random"}) {
    BenchOptions options = Parse({"--accounts", "10000", "--id-order", order});
    AccountSpace space(options, 0x1234, 1, 1);
    AccountSpace other_run(options, 0x5679, 1, 1);
    std::set<AccountId> ids;
    for (uint64_t i = 0; i < space.count(); ++i) {
      const AccountId id = space.IdOf(i);
      EXPECT_NE(id, AccountId::From(0));
      EXPECT_NE(id, AccountId::Max());
      EXPECT_NE(id, other_run.IdOf(i));
      ids.insert(id);
    }
    EXPECT_EQ(ids.size(), space.count()) << order;
  }
}

// Results as the ledger would give them for a generator whose every event succeeds.
std::vector<net::TransferResult> AllOk(size_t count) {
  std::vector<net::TransferResult> results(count);
  for (size_t i = 0; i < count; ++i) results[i] = {CreateTransferResult::kOk, 1000 + i};
  return results;
}

TEST(Stream, BooksWhatSucceededAndFlagsAnUnexpectedResult) {
  BenchOptions options =
      Parse({"--accounts", "10", "--pending", "0.5", "--post", "0.5", "--void", "0.5", "--expire",
             "0", "--chains", "0.2", "--sample-accounts", "10"});
  AccountSpace space(options, 7, 1, 1);
  std::atomic<uint64_t> next_id{0};
  Stream stream(options, space, 0, next_id);
  std::vector<Transfer> batch(64);
  Validation validation;
  size_t posts_or_voids = 0, linked = 0;
  for (int round = 0; round < 20; ++round) {
    stream.Fill(batch);
    for (const Transfer& transfer : batch) {
      posts_or_voids +=
          (transfer.flags & (transfer_flags::kPostPending | transfer_flags::kVoidPending)) != 0;
      linked += (transfer.flags & transfer_flags::kLinked) != 0;
    }
    EXPECT_EQ(batch.back().flags & transfer_flags::kLinked, 0);  // no chain left open
    stream.Check(batch, AllOk(batch.size()), validation);
  }
  EXPECT_GT(posts_or_voids, 100u);
  EXPECT_GT(linked, 50u);
  EXPECT_EQ(validation.results_unexpected, 0u);
  EXPECT_EQ(validation.results_checked, 20u * 64);

  // Every account sampled: the book's balances add up to its totals on both sides.
  const ExpectedBook& book = stream.book();
  u128 debits_posted = 0, credits_posted = 0, debits_pending = 0, credits_pending = 0;
  for (const AccountBalances& balances : book.sampled) {
    debits_posted += balances.debits_posted.Get();
    credits_posted += balances.credits_posted.Get();
    debits_pending += balances.debits_pending.Get();
    credits_pending += balances.credits_pending.Get();
  }
  EXPECT_EQ(debits_posted, book.debits_posted);
  EXPECT_EQ(credits_posted, book.debits_posted);
  EXPECT_EQ(debits_pending, book.pending);
  EXPECT_EQ(credits_pending, book.pending);
  EXPECT_GT(book.pending, 0u);  // reservations of the last batch wait for their post or void

  stream.Fill(batch);
  std::vector<net::TransferResult> results = AllOk(batch.size());
  results[3].status = CreateTransferResult::kExceedsCredits;
  stream.Check(batch, results, validation);
  EXPECT_EQ(validation.results_unexpected, 1u);
  EXPECT_NE(validation.first_unexpected.find("exceeds_credits"), std::string::npos)
      << validation.first_unexpected;
}

TEST(Stream, SequentialIdsRiseAcrossStreams) {
  BenchOptions options = Parse({"--accounts", "10"});
  AccountSpace space(options, 7, 1, 1);
  std::atomic<uint64_t> next_id{0};
  Stream first(options, space, 0, next_id);
  Stream second(options, space, 1, next_id);
  std::vector<Transfer> a(8), b(8);
  first.Fill(a);
  second.Fill(b);
  EXPECT_LT(a.back().id, b.front().id);
  for (size_t i = 1; i < a.size(); ++i) EXPECT_LT(a[i - 1].id, a[i].id);
}

}  // namespace
}  // namespace ledger::bench
