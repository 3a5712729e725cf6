// A short tour of the engine's API in one process, printed as it goes (no server, no log):
// the smallest example of booking with the engine directly.
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/result_names.h"

namespace {

using namespace ledger;

// "12.34" for 1234 at scale 2. Digits are produced right to left into a fixed buffer.
std::string Format(Amount amount, uint8_t scale) {
  char buffer[64];
  size_t position = sizeof(buffer);
  u128 value = amount.Get();
  for (size_t digit = 0; value != 0 || digit <= scale; ++digit) {
    if (digit == scale && scale != 0) buffer[--position] = '.';
    buffer[--position] = static_cast<char>('0' + static_cast<int>(value % 10));
    value /= 10;
  }
  return std::string(buffer + position, sizeof(buffer) - position);
}

// The engine and its booking clock: each step is booked at least a second after the last.
struct Tour {
  engine::Engine ledger_engine;
  uint64_t now_ns = 1'700'000'000'000'000'000;

  uint64_t Tick(uint64_t seconds) {
    now_ns = std::max(now_ns + seconds * 1'000'000'000, ledger_engine.last_timestamp_ns() + 1);
    return now_ns;
  }
};

void CreateLedgerAndAccounts(Tour& tour) {
  Ledger usd{};
  usd.id = 840;
  usd.scale = 2;
  std::memcpy(usd.asset_code, "USD", 3);
  CreateLedgerResult ledger_result;
  tour.ledger_engine.CreateLedgers({&usd, 1}, tour.Tick(0), {&ledger_result, 1});
  std::printf("ledger 840 (USD, scale 2): %s\n",
              ledger_result == CreateLedgerResult::kOk ? "created" : "failed");

  auto account = [](uint64_t id, uint16_t flags) {
    Account a{};
    a.id = AccountId::From(id);
    a.ledger = 840;
    a.code = 1;
    a.flags = flags;
    return a;
  };
  std::vector<Account> accounts = {
      account(1, 0), account(2, account_flags::kDebitsMustNotExceedCredits), account(3, 0)};
  std::vector<CreateAccountResult> account_results(accounts.size());
  tour.ledger_engine.CreateAccounts(accounts, tour.Tick(1), account_results);
  std::printf(
      "accounts: 1 = bank (no limit), 2 = customer (debits must not exceed credits), "
      "3 = merchant\n");
}

Transfer MakeTransfer(uint64_t id, uint64_t debit, uint64_t credit, uint64_t amount,
                      uint16_t flags) {
  Transfer t{};
  t.id = TransferId::From(id);
  t.debit_account_id = AccountId::From(debit);
  t.credit_account_id = AccountId::From(credit);
  t.amount = Amount::From(amount);
  t.ledger = 840;
  t.code = 10;
  t.flags = flags;
  return t;
}

void BookTransfers(Tour& tour) {
  struct Step {
    const char* what;
    std::vector<Transfer> batch;
  };
  Transfer hold = MakeTransfer(12, 2, 3, 2500, transfer_flags::kPending);
  hold.timeout_s = 60;
  Transfer capture = MakeTransfer(13, 0, 0, 2000, transfer_flags::kPostPending);
  capture.pending_id = TransferId::From(12);
  Transfer refund = MakeTransfer(15, 3, 2, 500, 0);
  refund.reverses_id = TransferId::From(13);
  const std::vector<Step> steps = {
      {"deposit 100.00 from bank to customer", {MakeTransfer(10, 1, 2, 10000, 0)}},
      {"retry of the same deposit (same id)", {MakeTransfer(10, 1, 2, 10000, 0)}},
      {"customer pays 150.00 (more than it has)", {MakeTransfer(11, 2, 3, 15000, 0)}},
      {"hold 25.00 for the merchant (pending, 60 s timeout)", {hold}},
      {"capture 20.00 of the hold (the rest is released)", {capture}},
      {"refund 5.00 of the capture (a reversal)", {refund}},
      {"linked chain: pay 10.00 + fee 200.00 (the fee fails, so both do)",
       {MakeTransfer(16, 2, 3, 1000, transfer_flags::kLinked), MakeTransfer(17, 2, 1, 20000, 0)}},
  };
  for (const Step& step : steps) {
    std::vector<CreateTransferResult> results(step.batch.size());
    tour.ledger_engine.CreateTransfers(step.batch, tour.Tick(1), results);
    std::printf("%s:", step.what);
    for (CreateTransferResult result : results) std::printf(" %s", ResultName(result));
    std::printf("\n");
  }
}

// Balances, the trial balance and the state hash; whether debits equal credits.
bool Report(const Tour& tour) {
  for (uint64_t id = 1; id <= 3; ++id) {
    Account a = *tour.ledger_engine.LookupAccount(AccountId::From(id));
    std::printf("account %" PRIu64 ": debits %s USD, credits %s USD\n", id,
                Format(a.debits_posted, 2).c_str(), Format(a.credits_posted, 2).c_str());
  }
  TrialBalance trial = tour.ledger_engine.GetTrialBalance(840);
  std::printf(
      "trial balance: debits %s = credits %s -> %s\n", Format(trial.debits_posted.low, 2).c_str(),
      Format(trial.credits_posted.low, 2).c_str(), trial.Balanced() ? "balanced" : "UNBALANCED");
  engine::StateHash hash = tour.ledger_engine.ComputeStateHash();
  std::printf("state hash: %016" PRIx64 "%016" PRIx64 "\n", hash.high, hash.low);
  return trial.Balanced();
}

}  // namespace

int main() {
  Tour tour;
  CreateLedgerAndAccounts(tour);
  BookTransfers(tour);
  return Report(tour) ? 0 : 1;
}
