// ledgerctl tail: the change feed, read in pages (Client::GetChanges) and, with --follow,
// streamed (Client::Subscribe) until SIGINT or SIGTERM.
//
// With --follow, the stream runs on a connection of its own: its callback runs on that
// client's thread and only queues the changes; this thread prints them, looking up ledgers
// (for amounts' scale) on the session's connection, which the stream can never hold up.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tools/amount_text.h"
#include "tools/ledgerctl/ledgerctl.h"

namespace ledger::tools::ctl {
namespace {

constexpr uint64_t kTailCountDefault = 10;  // as tail(1)
// Changes queued between the stream and the printer: 16 of the server's pushes (1024 changes
// each), ~5 MB. When full, the stream's callback waits, which holds back the server's next
// push: a slow terminal slows only this subscription.
constexpr size_t kQueuedChangesMax = 16 * 1024;
// How long the printer waits for changes before it looks for a signal again.
constexpr auto kSignalPollInterval = std::chrono::milliseconds(100);

struct TailArgs {
  std::string from;    // "": the last `limit` changes; else a sequence, "oldest" or "now"
  uint64_t limit = 0;  // 0: not given
  bool follow = false;
};

TailArgs ParseTail(GlobalOptions& global, std::span<const std::string> args) {
  TailArgs tail;
  FlagParser parser;
  AddGlobalFlags(parser, &global);
  parser.Value("--from", Text(&tail.from));
  parser.Value("--limit", Number("--limit", &tail.limit, 1));
  parser.Switch("--follow", [&tail] { tail.follow = true; });
  parser.Parse(args);
  if (tail.follow && !tail.from.empty() && tail.limit != 0) {
    throw UsageError{
        "--limit chooses how many past changes --follow starts with; with --from "
        "it has nothing to choose"};
  }
  uint64_t sequence = 0;
  if (!tail.from.empty() && tail.from != "oldest" && tail.from != "now" &&
      (tail.from.find_first_not_of("0123456789") != std::string::npos ||
       !absl::SimpleAtoi(tail.from, &sequence))) {
    throw UsageError{absl::StrCat("--from must be a change's sequence number, oldest or now, not '",
                                  tail.from, "'")};
  }
  return tail;
}

// A feed cursor is valid from the oldest retained change to the next one to happen; outside,
// the server fails the call with FailedPrecondition.
bool IsValidCursor(net::Client& client, uint64_t sequence) {
  const absl::StatusOr<net::ChangePage> page = client.GetChanges(sequence, 1);
  if (page.ok()) return true;
  if (page.status().code() == absl::StatusCode::kFailedPrecondition) return false;
  ThrowStatus(page.status(), "tail");
}

// The oldest change the server retains. The schema promises that a cursor older than the
// retained window fails with an error naming the oldest sequence, and that is the only way to
// learn it once the window has moved past 0.
uint64_t OldestSequence(net::Client& client) {
  const absl::StatusOr<net::ChangePage> page = client.GetChanges(0, 1);
  if (page.ok()) return page->oldest_sequence;
  if (page.status().code() != absl::StatusCode::kFailedPrecondition) {
    ThrowStatus(page.status(), "tail");
  }
  const std::string message(page.status().message());
  constexpr std::string_view kOldestIs = "oldest is ";
  size_t at = message.find(kOldestIs);
  uint64_t oldest = 0;
  bool found = at != std::string::npos;
  if (found) {
    at += kOldestIs.size();
    const size_t end = message.find_first_not_of("0123456789", at);
    found =
        absl::SimpleAtoi(message.substr(at, end == std::string::npos ? end : end - at), &oldest);
  }
  if (!found || !IsValidCursor(client, oldest)) {
    throw Failure{kExitUsage, absl::StrCat("cannot find the oldest retained change (", message,
                                           "); give --from SEQ")};
  }
  return oldest;
}

// The next change to happen: the largest valid cursor. From a valid one, doubling steps find
// an invalid one above it, and bisection the boundary: about 2 log2(retained) calls of one
// change each (40 for a million).
uint64_t NextSequence(net::Client& client, uint64_t valid) {
  uint64_t step = 1;
  uint64_t invalid = UINT64_MAX;  // a sequence never reaches 2^64-1
  while (step < UINT64_MAX - valid) {
    if (!IsValidCursor(client, valid + step)) {
      invalid = valid + step;
      break;
    }
    valid += step;
    if (step <= UINT64_MAX / 2) step *= 2;
  }
  while (invalid - valid > 1) {
    const uint64_t middle = valid + (invalid - valid) / 2;
    (IsValidCursor(client, middle) ? valid : invalid) = middle;
  }
  return valid;
}

uint64_t StartSequence(net::Client& client, const TailArgs& tail) {
  if (tail.from == "oldest") return OldestSequence(client);
  if (!tail.from.empty() && tail.from != "now") {
    return ParseNumber("--from", tail.from, 0, UINT64_MAX);
  }
  const uint64_t oldest = OldestSequence(client);
  const uint64_t next = NextSequence(client, oldest);
  if (tail.from == "now") return next;
  const uint64_t count = tail.limit != 0 ? tail.limit : kTailCountDefault;
  return next - std::min(count, next - oldest);
}

Table ChangeTable() {
  return Table({{"SEQ", true},
                {"BOOKED"},
                {"CHANGE"},
                {"TRANSFER"},
                {"DEBIT"},
                {"CREDIT"},
                {"AMOUNT", true}});
}

void PrintChange(Session& session, Table& table, const net::FeedChange& change) {
  const Transfer& t = change.transfer;
  const Ledger* ledger = session.FindLedger(t.ledger);
  if (session.json()) {
    std::puts(JsonObject("change")
                  .Wide("sequence", change.sequence)
                  .Str("kind", ChangeKindName(change.kind))
                  .Wide("timestamp_ns", change.timestamp_ns)
                  .Raw("transfer", JsonTransfer(t, ledger))
                  .Raw("debit_balance", JsonBalances(change.debit_balance, ledger))
                  .Raw("credit_balance", JsonBalances(change.credit_balance, ledger))
                  .Close()
                  .c_str());
    return;
  }
  table.Add({absl::StrCat(change.sequence), TimeText(change.timestamp_ns),
             ChangeKindName(change.kind), FormatId(t.id.Get()), FormatId(t.debit_account_id.Get()),
             FormatId(t.credit_account_id.Get()), MoneyText(session, t.amount, ledger)});
}

// Pages from `start` until `count` changes (0: up to the newest).
int PrintPages(Session& session, uint64_t start, uint64_t count) {
  const uint32_t page_max = session.client().server_info().limits.query_results_max;
  Table table = ChangeTable();
  uint64_t printed = 0;
  for (uint64_t next = start; count == 0 || printed < count;) {
    uint64_t want = count == 0 ? page_max : count - printed;
    if (page_max != 0) want = std::min<uint64_t>(want, page_max);
    const net::ChangePage page =
        Check(session.client().GetChanges(next, static_cast<uint32_t>(want)), "tail");
    for (const net::FeedChange& change : page.changes) PrintChange(session, table, change);
    table.Flush();
    if (page.changes.empty()) break;
    printed += page.changes.size();
    next = page.next_sequence;
  }
  std::fflush(stdout);
  return kExitOk;
}

// Between the stream's thread (Push, End) and the printer (Take).
class FeedQueue {
 public:
  void Push(std::span<const net::FeedChange> changes) {
    std::unique_lock lock(mutex_);
    space_.wait(lock, [this] { return stopping_ || changes_.size() < kQueuedChangesMax; });
    if (stopping_) return;
    changes_.insert(changes_.end(), changes.begin(), changes.end());
    ready_.notify_one();
  }
  void End(const absl::Status& status) {
    std::lock_guard lock(mutex_);
    ended_ = true;
    end_status_ = status;
    ready_.notify_one();
  }
  // Waits up to `wait` for changes and moves them to `out`; false once the stream has ended
  // and everything it sent has been taken.
  bool Take(std::vector<net::FeedChange>* out, std::chrono::milliseconds wait) {
    std::unique_lock lock(mutex_);
    ready_.wait_for(lock, wait, [this] { return ended_ || !changes_.empty(); });
    out->clear();
    out->swap(changes_);
    space_.notify_one();
    return !(ended_ && out->empty());
  }
  // Releases a Push waiting for space, and drops what comes after: the printer has stopped.
  void Stop() {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    space_.notify_all();
  }
  absl::Status end_status() {
    std::lock_guard lock(mutex_);
    return end_status_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;  // changes queued, or the end
  std::condition_variable space_;  // room in the queue, or stopping
  std::vector<net::FeedChange> changes_;
  bool ended_ = false;
  bool stopping_ = false;
  absl::Status end_status_;
};

// Streams from `start` until SIGINT or SIGTERM (exit 0) or the server ends the stream (69).
// `signals` are blocked in every thread, so only sigtimedwait sees them.
int Follow(Session& session, uint64_t start, const sigset_t& signals) {
  FeedQueue queue;  // outlives the stream, whose callbacks use it
  std::unique_ptr<net::Client> feed = session.Connect();
  Check(feed->Subscribe(
            start, [&queue](std::span<const net::FeedChange> changes) { queue.Push(changes); },
            [&queue](const absl::Status& status) { queue.End(status); }),
        "tail --follow");
  Table table = ChangeTable();
  std::vector<net::FeedChange> changes;
  bool interrupted = false;
  while (!interrupted && queue.Take(&changes, kSignalPollInterval)) {
    for (const net::FeedChange& change : changes) PrintChange(session, table, change);
    table.Flush();
    const timespec no_wait = {0, 0};
    interrupted = sigtimedwait(&signals, nullptr, &no_wait) > 0;
  }
  queue.Stop();
  feed->Unsubscribe();
  feed.reset();
  if (interrupted) return kExitOk;
  const absl::Status status = queue.end_status();
  throw Failure{kExitUnavailable,
                absl::StrCat("the change feed ended: ",
                             status.ok() ? "the server closed it" : status.message())};
}

}  // namespace

int RunTail(GlobalOptions& global, std::span<const std::string> args) {
  const TailArgs tail = ParseTail(global, args);
  sigset_t signals;
  sigemptyset(&signals);
  if (tail.follow) {
    // Before any connection: the clients' threads inherit this mask, so the signals stay
    // pending for this thread's sigtimedwait instead of ending the process mid-line.
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  }
  Session session(global);
  const uint64_t start = StartSequence(session.client(), tail);
  if (tail.follow) return Follow(session, start, signals);
  // An explicit --from reads to the newest change unless --limit says fewer.
  uint64_t count = tail.limit;
  if (tail.from.empty() && count == 0) count = kTailCountDefault;
  return PrintPages(session, start, count);
}

}  // namespace ledger::tools::ctl
