// The end of a run: the ledger's trial balance and the balances of a sample of accounts must
// equal what the generator computed from the results it was given.
#include <algorithm>

#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/ledger_bench/driver.h"

namespace ledger::bench {
namespace {

std::string Describe(const AccountBalances& b) {
  const auto decimal = [](Amount amount) { return absl::uint128(amount.Get()); };
  return absl::StrFormat("debits pending %d posted %d, credits pending %d posted %d",
                         decimal(b.debits_pending), decimal(b.debits_posted),
                         decimal(b.credits_pending), decimal(b.credits_posted));
}

}  // namespace

void Load::Validate(Validation& validation) {
  validation.ran = true;
  ExpectedBook book;
  book.Resize(space_->count(), options_.sample_accounts);
  for (auto& worker : workers_) book.Merge(worker->stream->book());

  net::Client& client = *clients_[0];
  auto trial = client.GetTrialBalance(ledger_);
  if (trial.ok()) {
    const WideSum posted{Amount::From(book.debits_posted), 0};
    const WideSum pending{Amount::From(book.pending), 0};
    validation.trial_balance_ok = trial->Balanced() && trial->debits_posted == posted &&
                                  trial->debits_pending == pending &&
                                  trial->account_count == space_->count();
  }

  // The sampled accounts, looked up in pages of the server's id limit.
  const size_t page_max = std::max<uint32_t>(1, client.server_info().limits.query_ids_max);
  std::vector<AccountId> ids;
  std::vector<uint64_t> indexes;
  for (uint64_t index = 0; index < space_->count(); index += book.sample_step) {
    ids.push_back(space_->IdOf(index));
    indexes.push_back(index);
  }
  for (size_t first = 0; first < ids.size(); first += page_max) {
    const size_t size = std::min(page_max, ids.size() - first);
    auto found = client.LookupAccounts(std::span<const AccountId>(ids.data() + first, size));
    for (size_t i = 0; i < size; ++i) {
      const AccountBalances& expected = book.sampled[indexes[first + i] / book.sample_step];
      ++validation.accounts_checked;
      AccountBalances actual{};
      const bool present = found.ok() && i < found->size() && (*found)[i].id == ids[first + i];
      if (present) {
        const Account& account = (*found)[i];
        actual = AccountBalances{account.debits_pending, account.debits_posted,
                                 account.credits_pending, account.credits_posted};
      }
      if (present && actual == expected) continue;
      if (validation.accounts_mismatched++ == 0) {
        validation.first_mismatch =
            present ? absl::StrCat("account ", indexes[first + i], ": ", Describe(actual),
                                   "; expected ", Describe(expected))
                    : absl::StrCat("account ", indexes[first + i], " not found");
      }
    }
  }
}

}  // namespace ledger::bench
