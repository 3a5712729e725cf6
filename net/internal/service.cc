#include "net/internal/service.h"

#include <algorithm>
#include <chrono>
#include <span>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "base/clock.h"
#include "net/internal/codec.h"
#include "net/internal/group_role.h"

namespace ledger::net::internal {
namespace {

// Failed logins wait this long before the answer: guessing tokens over one connection is slow,
// and a connection gets kFailedLoginsMax tries.
constexpr auto kFailedLoginDelay = 200 * kj::MILLISECONDS;
constexpr uint32_t kFailedLoginsMax = 3;
// Changes per push of a subscription: ~170 KB messages, well under any message limit.
constexpr size_t kChangesPerPush = 1024;
// An encoded Checkpoint: 3 data words, 2 pointers, its chain hash and at most its longest line.
constexpr uint64_t kCheckpointWords = 3 + 2 + 2 + kCheckpointLineBytesMax / sizeof(capnp::word);

[[noreturn]] void Fail(kj::Exception::Type type, const std::string& message) {
  kj::throwFatalException(kj::Exception(type, __FILE__, __LINE__, kj::heapString(message)));
}

static_assert(std::string_view(replica::kLedgerFullPrefix) == kLedgerFullMarker);
static_assert(std::string_view(replica::kStorageFullPrefix) == kStorageFullMarker);

static_assert(static_cast<int>(LogVerifier::State::kNever) ==
                  static_cast<int>(rpc::LogVerificationState::NEVER) &&
              static_cast<int>(LogVerifier::State::kRunning) ==
                  static_cast<int>(rpc::LogVerificationState::RUNNING) &&
              static_cast<int>(LogVerifier::State::kIntact) ==
                  static_cast<int>(rpc::LogVerificationState::INTACT) &&
              static_cast<int>(LogVerifier::State::kCorrupt) ==
                  static_cast<int>(rpc::LogVerificationState::CORRUPT) &&
              static_cast<int>(LogVerifier::State::kFailed) ==
                  static_cast<int>(rpc::LogVerificationState::FAILED));

[[noreturn]] void FailStatus(const absl::Status& status) {
  const kj::Exception::Type type = absl::IsResourceExhausted(status)
                                       ? kj::Exception::Type::OVERLOADED
                                       : kj::Exception::Type::FAILED;
  Fail(type, std::string(status.message()));
}

// Replies queued for a client that does not read them cost the server ~6-12 KB each (a reply
// message's first segment), however small they are on the wire: count them too.
constexpr size_t kUnsentRepliesMax = 4096;

}  // namespace

// A connection holding at least this much in replies is closed once all connections together
// hold more than reply_bytes_total_max: the ones holding the memory go, not a client with a
// reply or two in flight.
constexpr uint64_t kReplyBytesToCloseMin = uint64_t{1} << 20;

std::string ReplyLimitPassed(ServiceState& state, Connection& connection) {
  if (connection.network == nullptr || connection.replies == nullptr || connection.closed) {
    return "";
  }
  const ServerLimits& limits = state.options.limits;
  const uint64_t unsent_bytes = connection.network->getCurrentQueueSize();
  state.unsent_reply_bytes += unsent_bytes - connection.unsent_reply_bytes;  // mod 2^64
  connection.unsent_reply_bytes = unsent_bytes;
  const uint64_t unfinished_bytes = connection.replies->held_bytes();
  const uint64_t total_bytes = state.unsent_reply_bytes + state.unfinished_reply_bytes;
  std::string why;
  ReplyCloseReason reason = ReplyCloseReason::kUnreadReplies;
  if (unsent_bytes > limits.unsent_reply_bytes_max ||
      connection.network->getCurrentQueueCount() > kUnsentRepliesMax) {
    why = absl::StrCat("the client does not read its replies: ", unsent_bytes >> 20,
                       " MiB of them unsent");
  } else if (unfinished_bytes > limits.unfinished_reply_bytes_max) {
    reason = ReplyCloseReason::kUnfinishedReplies;
    why = absl::StrCat("the client does not finish its calls: ", connection.replies->held_replies(),
                       " replies (", unfinished_bytes >> 20,
                       " MiB) sent and never finished (Cap'n Proto Finish) are held for it "
                       "(--max-unfinished-reply-bytes)");
  } else if (total_bytes > limits.reply_bytes_total_max &&
             unsent_bytes + unfinished_bytes >= kReplyBytesToCloseMin) {
    if (unfinished_bytes >= unsent_bytes) reason = ReplyCloseReason::kUnfinishedReplies;
    why = absl::StrCat(
        "the server holds ", total_bytes >> 20,
        " MiB of replies for its clients (--max-reply-bytes-total), ",
        (unsent_bytes + unfinished_bytes) >> 20, " MiB for this one (", unsent_bytes >> 20,
        " unsent, ", unfinished_bytes >> 20, " sent and never finished: the client does not ",
        reason == ReplyCloseReason::kUnreadReplies ? "read its replies" : "finish its calls", ")");
  } else {
    return "";
  }
  state.metrics.ConnectionsClosed(reason).Increment();
  absl::StrAppend(&why, "; the connection is closed");
  if (state.log) state.log(why);
  return why;
}

namespace {

// Closes a connection holding too much in replies (ReplyLimitPassed), and fails the call.
void CheckReplyLimits(ServiceState& state, Connection& connection) {
  const std::string why = ReplyLimitPassed(state, connection);
  if (why.empty()) return;
  connection.Close();
  Fail(kj::Exception::Type::DISCONNECTED, why);
}

// Size hints for replies, in words (an underestimate only costs another segment). Without
// one, every reply starts with an 8 KB segment, which a client that never sends Finish keeps
// alive in the server's answer table.
capnp::MessageSize ReplyWords(uint64_t words, unsigned capabilities = 0) {
  return MessageWords(words, capabilities);
}

// Counts a call against its connection's and the server's limits for as long as it runs.
class CallGuard {
 public:
  CallGuard(ServiceState& state, Connection& connection, uint64_t bytes)
      : state_(state), connection_(kj::addRef(connection)), bytes_(bytes) {
    ++connection_->inflight_calls;
    ++state_.inflight_calls;
    state_.inflight_bytes += bytes_;
  }
  ~CallGuard() {
    --connection_->inflight_calls;
    --state_.inflight_calls;
    state_.inflight_bytes -= bytes_;
  }
  KJ_DISALLOW_COPY(CallGuard);

 private:
  ServiceState& state_;
  kj::Own<Connection> connection_;
  uint64_t bytes_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// The change feed.

void EncodeChange(const engine::Engine& engine, const Change& change, rpc::Change::Builder out) {
  out.setSequence(change.sequence);
  out.setKind(static_cast<rpc::ChangeKind>(change.kind));
  out.setTimestampNs(change.timestamp_ns);
  const std::optional<Transfer> transfer = engine.LookupTransfer(change.transfer_id);
  LEDGER_ASSERT(transfer.has_value(), change.sequence);
  EncodeTransfer(*transfer, out.initTransfer());
  EncodeU128(transfer->debit_account_id, out.initDebitAccountId());
  EncodeU128(transfer->credit_account_id, out.initCreditAccountId());
  const auto balance = [&](const AccountBalances& balances, rpc::AccountBalance::Builder b) {
    EncodeBalance(
        AccountBalance{balances.debits_pending, balances.debits_posted, balances.credits_pending,
                       balances.credits_posted, change.timestamp_ns, 0},
        b);
  };
  balance(change.debit_balance, out.initDebitBalance());
  balance(change.credit_balance, out.initCreditBalance());
}

void EncodeCheckpoint(const CheckpointRing::Entry& entry, rpc::Checkpoint::Builder out) {
  const replica::Checkpoint& checkpoint = entry.checkpoint;
  out.setOp(checkpoint.op);
  EncodeHash(checkpoint.chain_hash, out.initChainHash());
  out.setTimestampNs(checkpoint.timestamp_ns);
  out.setLine(capnp::Text::Reader(entry.line.c_str(), entry.line.size()));
  out.setChangeSequenceNext(entry.change_sequence_next);
}

// One subscription: at most one push (of changes or of a checkpoint) in flight; the next
// starts when it returns. A checkpoint goes once every change below its position was pushed.
struct Subscriber final : private kj::TaskSet::ErrorHandler {
  ServiceState& state;
  kj::Own<Connection> connection;  // the subscriber's: a revoked token ends the subscription
  uint64_t next_sequence;
  rpc::ChangeConsumer::Client consumer;
  const bool with_checkpoints;
  uint64_t next_checkpoint;  // its number in the core's ring (CheckpointRing)
  bool pushing = false;
  bool ended = false;
  bool taking_engine = false;
  kj::TaskSet tasks{*this};  // a push may start the next from its continuation
  std::list<Subscriber*>::iterator position;

  // The retained checkpoints at or past `from` come first, each after its changes.
  Subscriber(ServiceState& s, kj::Own<Connection> owner, uint64_t from,
             rpc::ChangeConsumer::Client c, bool checkpoints)
      : state(s),
        connection(kj::mv(owner)),
        next_sequence(from),
        consumer(kj::mv(c)),
        with_checkpoints(checkpoints),
        next_checkpoint(s.core.checkpoints().FirstAtOrAfter(from)) {
    position = state.subscribers.insert(state.subscribers.end(), this);
  }
  ~Subscriber() { state.subscribers.erase(position); }

  void taskFailed(kj::Exception&&) override { ended = true; }  // the consumer is gone or refused

  void End(kj::StringPtr reason) {
    if (ended) return;
    ended = true;
    auto request = consumer.endRequest();
    request.setReason(reason);
    tasks.add(request.send().ignoreResult());
  }

  // Pushes the next checkpoint whose changes went, or else the next durable changes, once the
  // engine is free to read them.
  void Pump() {
    if (connection->revoked) return End(kTokenRevokedMarker);
    if (pushing || ended || taking_engine) return;
    if (PushCheckpoint()) return;
    if (next_sequence >= state.core.durable_change_next()) return;  // nothing new: no turn
    taking_engine = true;
    tasks.add(state.core.TakeEngine().then([this](kj::Own<EngineTurn>) {
      taking_engine = false;
      PumpNow();
    }));
  }

  // The next checkpoint, into the state's scratch; false when none waits (or none was asked
  // for). One that left the ring is skipped: a later checkpoint covers all an earlier one did.
  bool NextCheckpoint() {
    if (!with_checkpoints) return false;
    const CheckpointRing& ring = state.core.checkpoints();
    next_checkpoint = std::max(next_checkpoint, ring.oldest());
    return ring.Read(next_checkpoint, state.checkpoint);
  }

  // Pushes the next checkpoint if every change it covers was pushed; whether it did.
  bool PushCheckpoint() {
    if (!NextCheckpoint() || state.checkpoint.change_sequence_next > next_sequence) return false;
    auto request = consumer.checkpointRequest(MessageWords(kCheckpointWords));
    EncodeCheckpoint(state.checkpoint, request.initCheckpoint());
    pushing = true;
    tasks.add(request.send().then([this](auto&&) {
      pushing = false;
      ++next_checkpoint;
      Pump();
    }));
    return true;
  }

  void PumpNow() {
    if (pushing || ended) return;
    if (PushCheckpoint()) return;  // signed while the turn was awaited
    const engine::Engine& engine = state.core.engine();
    uint64_t end = state.core.durable_change_next();
    if (next_sequence >= end) return;
    if (next_sequence < engine.change_sequence_oldest()) {
      return End(kj::str("the subscription fell behind: change ", next_sequence,
                         " is no longer retained (oldest ", engine.change_sequence_oldest(), ")"));
    }
    end = std::min<uint64_t>(end, next_sequence + kChangesPerPush);
    // A checkpoint waiting for its changes goes right after the last of them.
    if (NextCheckpoint() && state.checkpoint.change_sequence_next > next_sequence) {
      end = std::min(end, state.checkpoint.change_sequence_next);
    }
    const size_t count = static_cast<size_t>(end - next_sequence);
    std::span<Change> changes(state.changes.data(), count);
    const size_t found = engine.GetChanges(next_sequence, changes);
    LEDGER_ASSERT(found == count, found, count);
    auto request = consumer.pushRequest();
    auto list = request.initChanges(static_cast<unsigned>(count));
    for (size_t i = 0; i < count; ++i) {
      EncodeChange(engine, changes[i], list[static_cast<unsigned>(i)]);
    }
    pushing = true;
    tasks.add(request.send().then([this, count](auto&&) {
      pushing = false;
      next_sequence += count;
      Pump();
    }));
  }
};

class SubscriptionImpl final : public rpc::Subscription::Server {
 public:
  explicit SubscriptionImpl(kj::Own<Subscriber> subscriber) : subscriber_(kj::mv(subscriber)) {}

 private:
  kj::Own<Subscriber> subscriber_;
};

// ---------------------------------------------------------------------------------------------

ServiceState::ServiceState(Core& c, const ServerOptions& o, kj::Timer& t, ServerMetrics& m)
    : core(c),
      options(o),
      timer(t),
      metrics(m),
      ledger_buffers(std::make_shared<EventBuffers<Ledger>>(o.limits.batch_events_max)),
      account_buffers(std::make_shared<EventBuffers<Account>>(o.limits.batch_events_max)),
      transfer_buffers(std::make_shared<EventBuffers<Transfer>>(o.limits.batch_events_max)),
      ledgers(std::max<size_t>(
          {o.limits.batch_events_max, o.limits.query_ids_max, o.limits.query_results_max + 1})),
      accounts(std::max(o.limits.batch_events_max, o.limits.query_ids_max)),
      transfers(std::max<size_t>(o.limits.batch_events_max, o.limits.query_results_max + 1)),
      query_accounts(o.limits.query_results_max + 1),
      ledger_results(o.limits.batch_events_max),
      account_results(o.limits.batch_events_max),
      transfer_results(o.limits.batch_events_max),
      timestamps_ns(o.limits.batch_events_max),
      balances(o.limits.query_results_max + 1),
      changes(std::max<size_t>(o.limits.query_results_max, kChangesPerPush)),
      status_ids(o.limits.query_ids_max),
      statuses(o.limits.query_ids_max),
      failed_transfers(o.limits.query_ids_max) {
  for (size_t i = 0; i < kCheckpointsRetained; ++i) {
    checkpoints.push_back(CheckpointRing::MakeEntry());
  }
}

rpc::ServerInfo::Builder ServiceState::FillInfo(rpc::ServerInfo::Builder out,
                                                const TokenGrant& grant) const {
  out.setSchemaVersion(rpc::SCHEMA_VERSION);
  out.setShardCount(options.shard_count);
  out.setLastOp(core.last_op());
  static_assert(static_cast<int>(rpc::Role::ADMIN) == static_cast<int>(Role::kAdmin));
  out.setRole(static_cast<rpc::Role>(grant.role));
  auto granted = out.initLedgers(static_cast<unsigned>(grant.ledgers.size()));
  for (unsigned i = 0; i < grant.ledgers.size(); ++i) granted.set(i, grant.ledgers[i]);
  out.setChangeSequenceNext(core.durable_change_next());
  auto limits = out.initLimits();
  limits.setBatchEventsMax(options.limits.batch_events_max);
  limits.setQueryIdsMax(options.limits.query_ids_max);
  limits.setQueryResultsMax(options.limits.query_results_max);
  limits.setMessageBytesMax(options.limits.message_bytes_max);
  limits.setInflightCallsMax(options.limits.inflight_calls_max);
  limits.setFeedRetention(options.feed_retention);
  return out;
}

void ServiceState::PumpSubscriptions() {
  for (Subscriber* subscriber : subscribers) subscriber->Pump();
}

void ServiceState::EndSubscriptions(kj::StringPtr reason) {
  for (Subscriber* subscriber : subscribers) subscriber->End(reason);
}

size_t ServiceState::ReplaceTokens(std::shared_ptr<const TokenSet> next) {
  LEDGER_ASSERT(next != nullptr);
  tokens = std::move(next);
  size_t closed = 0;
  for (Connection* connection : connections) {  // Close() ends them later, on the loop
    if (!connection->authenticated || connection->revoked) continue;
    const TokenGrant* grant = connection->grant.token.empty()
                                  ? tokens->FindCertificate(connection->grant.certificate_name)
                                  : tokens->Find(connection->grant.token);
    if (grant != nullptr) {
      connection->grant = *grant;
    } else {
      connection->Revoke();
      ++closed;
    }
  }
  if (closed > 0) PumpSubscriptions();  // ends the revoked connections' subscriptions now
  return closed;
}

// ---------------------------------------------------------------------------------------------
// Ledger

namespace {

uint32_t LedgerOf(const Ledger& ledger) { return ledger.id; }
uint32_t LedgerOf(const Account& account) { return account.ledger; }
uint32_t LedgerOf(const Transfer& transfer) { return transfer.ledger; }
bool IsImported(const Ledger& ledger) { return (ledger.flags & ledger_flags::kImported) != 0; }
bool IsImported(const Account& account) { return (account.flags & account_flags::kImported) != 0; }
bool IsImported(const Transfer& transfer) {
  return (transfer.flags & transfer_flags::kImported) != 0;
}

std::string LedgerList(const TokenGrant& grant) {
  std::string list;
  for (uint32_t ledger : grant.ledgers) absl::StrAppend(&list, list.empty() ? "" : ",", ledger);
  return list;
}

// What differs between the three create* methods.
template <typename Context>
struct CreateTraits;

template <>
struct CreateTraits<rpc::Ledger::Server::CreateLedgersContext> {
  using Event = Ledger;
  using Status = rpc::CreateLedgerStatus;
  static auto Events(rpc::Ledger::CreateLedgersParams::Reader params) {
    return params.getLedgers();
  }
  static Event Decode(rpc::LedgerInfo::Reader in) { return DecodeLedger(in); }
  static std::shared_ptr<EventBuffers<Event>> Buffers(ServiceState& s) { return s.ledger_buffers; }
  static std::vector<engine::ResultOf<Event>>& Results(ServiceState& s) { return s.ledger_results; }
};

template <>
struct CreateTraits<rpc::Ledger::Server::CreateAccountsContext> {
  using Event = Account;
  using Status = rpc::CreateAccountStatus;
  static auto Events(rpc::Ledger::CreateAccountsParams::Reader params) {
    return params.getAccounts();
  }
  static Event Decode(rpc::Account::Reader in) { return DecodeAccount(in); }
  static std::shared_ptr<EventBuffers<Event>> Buffers(ServiceState& s) { return s.account_buffers; }
  static std::vector<engine::ResultOf<Event>>& Results(ServiceState& s) {
    return s.account_results;
  }
};

template <>
struct CreateTraits<rpc::Ledger::Server::CreateTransfersContext> {
  using Event = Transfer;
  using Status = rpc::CreateTransferStatus;
  static auto Events(rpc::Ledger::CreateTransfersParams::Reader params) {
    return params.getTransfers();
  }
  static Event Decode(rpc::Transfer::Reader in) { return DecodeTransfer(in); }
  static std::shared_ptr<EventBuffers<Event>> Buffers(ServiceState& s) {
    return s.transfer_buffers;
  }
  static std::vector<engine::ResultOf<Event>>& Results(ServiceState& s) {
    return s.transfer_results;
  }
};

class LedgerImpl final : public rpc::Ledger::Server {
 public:
  LedgerImpl(ServiceState& state, kj::Own<Connection> connection)
      : state_(state), connection_(kj::mv(connection)) {}

 protected:
  kj::Promise<void> createLedgers(CreateLedgersContext context) override { return Create(context); }
  kj::Promise<void> createAccounts(CreateAccountsContext context) override {
    return Create(context);
  }
  kj::Promise<void> createTransfers(CreateTransfersContext context) override {
    return Create(context);
  }
  kj::Promise<void> createTransfersPacked(CreateTransfersPackedContext context) override {
    using Traits = CreateTraits<CreateTransfersContext>;
    const capnp::Data::Reader records = context.getParams().getRecords();
    return CreateFrom<Traits>(
        context, records.size() / sizeof(capnp::word), [&](std::span<Transfer> room) {
          if (records.size() % sizeof(Transfer) != 0) {
            state_.metrics.RequestsRejected(RejectReason::kMalformed).Increment();
            Fail(kj::Exception::Type::FAILED,
                 absl::StrCat("createTransfersPacked: ", records.size(),
                              " bytes are not whole records of ", sizeof(Transfer)));
          }
          CheckBatchSize<Traits>(records.size() / sizeof(Transfer));
          return DecodePackedTransfers(records, room);
        });
  }

  kj::Promise<void> lookupLedgers(LookupLedgersContext context) override {
    const uint64_t start_ns = base::MonotonicNs();
    auto guard = Admit(context.getParams().totalSize().wordCount);
    CheckIds(context.getParams().getIds().size());
    return WithEngine([this, context, start_ns, guard = kj::mv(guard)]() mutable {
      return LookupLedgers(context, start_ns, kj::mv(guard));
    });
  }
  kj::Promise<void> LookupLedgers(LookupLedgersContext context, uint64_t start_ns,
                                  kj::Own<CallGuard> guard) {
    auto ids = context.getParams().getIds();
    std::vector<Ledger>& found = state_.ledgers;
    size_t count = 0;
    for (uint32_t id : ids) {
      auto ledger = engine().LookupLedger(id);
      if (ledger && grant().AllowsLedger(id)) found[count++] = *ledger;
    }
    auto out = context.getResults(ReplyWords(count * kLedgerWords))
                   .initLedgers(static_cast<unsigned>(count));
    for (size_t i = 0; i < count; ++i) EncodeLedger(found[i], out[static_cast<unsigned>(i)]);
    return Reply(QueryMethod::kLookupLedgers, start_ns, kj::mv(guard));
  }

  kj::Promise<void> queryLedgers(QueryLedgersContext context) override {
    const uint64_t start_ns = base::MonotonicNs();
    auto guard = Admit(context.getParams().totalSize().wordCount);
    return WithEngine([this, context, start_ns, guard = kj::mv(guard)]() mutable {
      return QueryLedgers(context, start_ns, kj::mv(guard));
    });
  }
  // A page and one more, which tells whether another page follows and where it starts. A
  // token limited to some ledgers (at most kTokenLedgersMax) looks up each of its own.
  kj::Promise<void> QueryLedgers(QueryLedgersContext context, uint64_t start_ns,
                                 kj::Own<CallGuard> guard) {
    const uint32_t from_id = context.getParams().getFromId();
    const uint32_t asked = context.getParams().getLimit();
    const uint32_t results_max = state_.options.limits.query_results_max;
    const size_t limit = asked == 0 || asked > results_max ? results_max : asked;
    std::span<Ledger> found = std::span(state_.ledgers).first(limit + 1);
    size_t count = 0;
    if (grant().limited()) {
      const std::vector<uint32_t>& own = grant().ledgers;  // sorted
      for (auto id = std::lower_bound(own.begin(), own.end(), from_id);
           id != own.end() && count < found.size(); ++id) {
        if (auto ledger = engine().LookupLedger(*id)) found[count++] = *ledger;
      }
    } else {
      count = engine().QueryLedgers(from_id, found);
    }
    const uint32_t next_id = count > limit ? found[limit].id : 0;
    count = std::min(count, limit);
    auto results = context.getResults(ReplyWords(count * kLedgerWords + 2));
    results.setNextId(next_id);
    auto out = results.initLedgers(static_cast<unsigned>(count));
    for (size_t i = 0; i < count; ++i) EncodeLedger(found[i], out[static_cast<unsigned>(i)]);
    return Reply(QueryMethod::kQueryLedgers, start_ns, kj::mv(guard));
  }

  kj::Promise<void> lookupAccounts(LookupAccountsContext context) override {
    const uint64_t start_ns = base::MonotonicNs();
    auto guard = Admit(context.getParams().totalSize().wordCount);
    CheckIds(context.getParams().getIds().size());
    return WithEngine([this, context, start_ns, guard = kj::mv(guard)]() mutable {
      return LookupAccounts(context, start_ns, kj::mv(guard));
    });
  }
  kj::Promise<void> LookupAccounts(LookupAccountsContext context, uint64_t start_ns,
                                   kj::Own<CallGuard> guard) {
    auto ids = context.getParams().getIds();
    std::vector<Account>& found = state_.accounts;
    size_t count = 0;
    for (auto id : ids) {
      auto account = engine().LookupAccount(DecodeU128<AccountIdTag>(id));
      if (account && grant().AllowsLedger(account->ledger)) found[count++] = *account;
    }
    auto out = context.getResults(ReplyWords(count * kAccountWords))
                   .initAccounts(static_cast<unsigned>(count));
    for (size_t i = 0; i < count; ++i) EncodeAccount(found[i], out[static_cast<unsigned>(i)]);
    return Reply(QueryMethod::kLookupAccounts, start_ns, kj::mv(guard));
  }

  kj::Promise<void> lookupTransfers(LookupTransfersContext context) override {
    const uint64_t start_ns = base::MonotonicNs();
    auto guard = Admit(context.getParams().totalSize().wordCount);
    auto ids = context.getParams().getIds();
    CheckIds(ids.size());
    // Ids that may all be old go to the history thread first; the engine answers the rest,
    // and those the history did not hold.
    std::shared_ptr<const replica::ColdHistory> history = state_.core.cold_history();
    if (history != nullptr && ids.size() > 0) {
      auto lookup = std::make_shared<HistoryLookup>();
      lookup->ids.reserve(ids.size());
      for (auto raw_id : ids) {
        lookup->ids.push_back(DecodeU128<TransferIdTag>(raw_id));
        if (!history->MayHold(lookup->ids.back()))
          return LookUpInEngine(context, start_ns, kj::mv(guard));
      }
      return state_.core
          .ReadHistory([history, lookup] {
            lookup->found =
                history->LookupTransfers(lookup->ids, lookup->transfers, lookup->failures);
          })
          .then([this, context, lookup, start_ns, guard = kj::mv(guard)]() mutable {
            if (!lookup->found) return LookUpInEngine(context, start_ns, kj::mv(guard));
            state_.metrics.cold_history_reads_total.Increment();
            ForgetOtherLedgers(lookup->transfers, [](const Transfer& t) { return t.ledger; });
            ForgetOtherLedgers(lookup->failures,
                               [](const FailedTransfer& f) { return f.event.ledger; });
            EncodeLookup(context, lookup->transfers, lookup->failures);
            return Reply(QueryMethod::kLookupTransfers, start_ns, kj::mv(guard), 0);
          });
    }
    return LookUpInEngine(context, start_ns, kj::mv(guard));
  }

  // Leaves out the records of ledgers the token may not see, as if they were not found.
  template <typename Record, typename Ledger>
  void ForgetOtherLedgers(std::vector<Record>& records, Ledger ledger_of) {
    if (!grant().limited()) return;
    std::erase_if(records, [&](const Record& r) { return !grant().AllowsLedger(ledger_of(r)); });
  }

  struct HistoryLookup {
    std::vector<TransferId> ids;
    bool found = false;
    std::vector<Transfer> transfers;
    std::vector<FailedTransfer> failures;
  };

  kj::Promise<void> LookUpInEngine(LookupTransfersContext context, uint64_t start_ns,
                                   kj::Own<CallGuard> guard) {
    return WithEngine([this, context, start_ns, guard = kj::mv(guard)]() mutable {
      std::vector<Transfer>& found = state_.transfers;
      std::vector<FailedTransfer>& failed = state_.failed_transfers;
      size_t count = 0;
      size_t failed_count = 0;
      for (auto raw_id : context.getParams().getIds()) {
        const TransferId id = DecodeU128<TransferIdTag>(raw_id);
        if (auto transfer = engine().LookupTransfer(id)) {
          if (grant().AllowsLedger(transfer->ledger)) found[count++] = *transfer;
        } else if (auto failure = engine().LookupFailedTransfer(id)) {
          if (grant().AllowsLedger(failure->event.ledger)) failed[failed_count++] = *failure;
        }
      }
      const uint64_t newest_ns = EncodeLookup(context, std::span(found).first(count),
                                              std::span(failed).first(failed_count));
      return Reply(QueryMethod::kLookupTransfers, start_ns, kj::mv(guard), newest_ns);
    });
  }

  // lookupTransfers' reply; returns the newest booking it shows.
  static uint64_t EncodeLookup(LookupTransfersContext& context, std::span<const Transfer> found,
                               std::span<const FailedTransfer> failed) {
    auto results = context.getResults(
        ReplyWords(found.size() * kTransferWords + failed.size() * kFailedTransferWords));
    auto out = results.initTransfers(static_cast<unsigned>(found.size()));
    uint64_t newest_ns = 0;
    for (size_t i = 0; i < found.size(); ++i) {
      EncodeTransfer(found[i], out[static_cast<unsigned>(i)]);
      newest_ns = std::max(newest_ns, found[i].timestamp_ns);
    }
    if (!failed.empty()) {
      auto failed_out = results.initFailures(static_cast<unsigned>(failed.size()));
      for (size_t i = 0; i < failed.size(); ++i) {
        EncodeFailedTransfer(failed[i], failed_out[static_cast<unsigned>(i)]);
        newest_ns = std::max(newest_ns, failed[i].event.timestamp_ns);
      }
    }
    return newest_ns;
  }

  kj::Promise<void> getTransferStatuses(GetTransferStatusesContext context) override {
    const uint64_t start_ns = base::MonotonicNs();
    auto guard = Admit(context.getParams().totalSize().wordCount);
    CheckIds(context.getParams().getIds().size());
    return WithEngine([this, context, start_ns, guard = kj::mv(guard)]() mutable {
      return GetTransferStatuses(context, start_ns, kj::mv(guard));
    });
  }
  kj::Promise<void> GetTransferStatuses(GetTransferStatusesContext context, uint64_t start_ns,
                                        kj::Own<CallGuard> guard) {
    auto ids = context.getParams().getIds();
    size_t count = 0;
    uint64_t words = 0;
    for (auto raw_id : ids) {
      const TransferId id = DecodeU128<TransferIdTag>(raw_id);
      if (grant().limited()) {
        const std::optional<Transfer> transfer = engine().LookupTransfer(id);
        if (!transfer || !grant().AllowsLedger(transfer->ledger)) continue;
      }
      if (auto status = engine().GetTransferStatus(id)) {
        state_.status_ids[count] = id;
        state_.statuses[count++] = *status;
        words += kTransferStatusWords +
                 2 * uint64_t{std::min(status->reversal_count, kReversalsListedMax)};
      }
    }
    auto out = context.getResults(ReplyWords(words)).initStatuses(static_cast<unsigned>(count));
    TransferId reversals[kReversalsListedMax];
    for (size_t i = 0; i < count; ++i) {
      auto status = out[static_cast<unsigned>(i)];
      EncodeTransferStatus(state_.status_ids[i], state_.statuses[i], status);
      const size_t listed = engine().GetReversals(state_.status_ids[i], reversals);
      auto listed_out = status.initReversals(static_cast<unsigned>(listed));
      for (size_t j = 0; j < listed; ++j) {
        EncodeU128(reversals[j], listed_out[static_cast<unsigned>(j)]);
      }
    }
    return Reply(QueryMethod::kGetTransferStatuses, start_ns, kj::mv(guard));
  }

  kj::Promise<void> getPostedAtValueTime(GetPostedAtValueTimeContext context) override {
    const uint64_t start_ns = base::MonotonicNs();
    auto guard = Admit(context.getParams().totalSize().wordCount);
    return WithEngine([this, context, start_ns, guard = kj::mv(guard)]() mutable {
      return GetPostedAtValueTime(context, start_ns, kj::mv(guard));
    });
  }
  kj::Promise<void> GetPostedAtValueTime(GetPostedAtValueTimeContext context, uint64_t start_ns,
                                         kj::Own<CallGuard> guard) {
    const AccountId id = DecodeU128<AccountIdTag>(context.getParams().getAccountId());
    if (!MaySeeAccount(id)) Fail(kj::Exception::Type::FAILED, "no such account");
    const std::optional<PostedAtValueTime> posted =
        engine().GetPostedAtValueTime(id, context.getParams().getValueTimeNs());
    if (!posted.has_value()) Fail(kj::Exception::Type::FAILED, "no such account");
    auto out = context.getResults(ReplyWords(4 + 2 * 2));
    EncodeU128(posted->debits_posted, out.initDebitsPosted());
    EncodeU128(posted->credits_posted, out.initCreditsPosted());
    out.setTransferCount(posted->transfer_count);
    return Reply(QueryMethod::kGetPostedAtValueTime, start_ns, kj::mv(guard));
  }

  kj::Promise<void> getAccountTransfers(GetAccountTransfersContext context) override {
    const uint64_t start_ns = base::MonotonicNs();
    auto guard = Admit(context.getParams().totalSize().wordCount);
    AccountFilter filter =
        DecodeFilter(context.getParams().getFilter(), state_.options.limits.query_results_max);
    return AccountPage(
        context, QueryMethod::kGetAccountTransfers, start_ns, kj::mv(guard), filter,
        state_.transfers, kTransferWords,
        [](const auto& reader, const AccountFilter& f, std::span<Transfer> out) {
          return reader.GetAccountTransfers(f, out);
        },
        [](auto& results, unsigned count) { return results.initTransfers(count); }, EncodeTransfer);
  }

  kj::Promise<void> queryAccounts(QueryAccountsContext context) override {
    return QueryPage(
        context, QueryMethod::kQueryAccounts, state_.query_accounts, kAccountWords,
        [this](const QueryFilter& filter, std::span<Account> out) {
          return engine().QueryAccounts(filter, out);
        },
        [](auto& results, unsigned count) { return results.initAccounts(count); }, EncodeAccount);
  }

  kj::Promise<void> queryTransfers(QueryTransfersContext context) override {
    return QueryPage(
        context, QueryMethod::kQueryTransfers, state_.transfers, kTransferWords,
        [this](const QueryFilter& filter, std::span<Transfer> out) {
          return engine().QueryTransfers(filter, out);
        },
        [](auto& results, unsigned count) { return results.initTransfers(count); }, EncodeTransfer);
  }

  kj::Promise<void> getAccountBalances(GetAccountBalancesContext context) override {
    const uint64_t start_ns = base::MonotonicNs();
    auto guard = Admit(context.getParams().totalSize().wordCount);
    AccountFilter filter =
        DecodeFilter(context.getParams().getFilter(), state_.options.limits.query_results_max);
    return AccountPage(
        context, QueryMethod::kGetAccountBalances, start_ns, kj::mv(guard), filter, state_.balances,
        kBalanceWords,
        [](const auto& reader, const AccountFilter& f, std::span<AccountBalance> out) {
          return reader.GetAccountBalances(f, out);
        },
        [](auto& results, unsigned count) { return results.initBalances(count); }, EncodeBalance);
  }

  kj::Promise<void> trialBalance(TrialBalanceContext context) override {
    const uint64_t start_ns = base::MonotonicNs();
    auto guard = Admit(context.getParams().totalSize().wordCount);
    CheckLedger(context.getParams().getLedger());
    return WithEngine([this, context, start_ns, guard = kj::mv(guard)]() mutable {
      EncodeTrialBalance(engine().GetTrialBalance(context.getParams().getLedger()),
                         context.getResults(ReplyWords(32)).initTrialBalance());
      return Reply(QueryMethod::kTrialBalance, start_ns, kj::mv(guard));
    });
  }

  kj::Promise<void> changes(ChangesContext context) override {
    const uint64_t start_ns = base::MonotonicNs();
    auto guard = Admit(context.getParams().totalSize().wordCount);
    CheckWholeLedger("the change feed");
    return WithEngine([this, context, start_ns, guard = kj::mv(guard)]() mutable {
      return Changes(context, start_ns, kj::mv(guard));
    });
  }
  kj::Promise<void> Changes(ChangesContext context, uint64_t start_ns, kj::Own<CallGuard> guard) {
    const uint64_t from = context.getParams().getFromSequence();
    CheckFeedCursor(from);
    uint32_t limit = context.getParams().getLimit();
    const uint32_t results_max = state_.options.limits.query_results_max;
    if (limit == 0 || limit > results_max) limit = results_max;
    const size_t count = engine().GetChanges(from, std::span(state_.changes).first(limit));
    auto results = context.getResults(ReplyWords(count * kChangeWords));
    auto out = results.initChanges(static_cast<unsigned>(count));
    for (size_t i = 0; i < count; ++i) {
      EncodeChange(engine(), state_.changes[i], out[static_cast<unsigned>(i)]);
    }
    results.setNextSequence(from + count);
    results.setOldestSequence(engine().change_sequence_oldest());
    return Reply(QueryMethod::kChanges, start_ns, kj::mv(guard));
  }

  kj::Promise<void> subscribe(SubscribeContext context) override {
    auto guard = Admit(context.getParams().totalSize().wordCount);
    CheckWholeLedger("the change feed");
    return WithEngine([this, context, guard = kj::mv(guard)]() mutable -> kj::Promise<void> {
      const uint64_t from = context.getParams().getFromSequence();
      CheckFeedCursor(from);
      auto subscriber = kj::heap<Subscriber>(state_, kj::addRef(*connection_), from,
                                             context.getParams().getConsumer(),
                                             context.getParams().getWithCheckpoints());
      Subscriber& raw = *subscriber;
      context.getResults(ReplyWords(1, 1))
          .setSubscription(kj::heap<SubscriptionImpl>(kj::mv(subscriber)));
      raw.Pump();
      return kj::READY_NOW;
    });
  }

  // The retained checkpoints from fromOp on. Each is durable (and committed) before it is
  // signed, so the answer waits for nothing; like the feed, it spans every ledger.
  kj::Promise<void> checkpoints(CheckpointsContext context) override {
    auto guard = Admit(context.getParams().totalSize().wordCount);
    CheckWholeLedger("checkpoints");
    const uint64_t from_op = context.getParams().getFromOp();
    const CheckpointRing& ring = state_.core.checkpoints();
    std::vector<CheckpointRing::Entry>& found = state_.checkpoints;
    size_t count = 0;
    for (uint64_t number = ring.oldest(); number < ring.next() && count < found.size(); ++number) {
      if (ring.Read(number, found[count]) && found[count].checkpoint.op >= from_op) ++count;
    }
    auto out = context.getResults(ReplyWords(count * kCheckpointWords))
                   .initCheckpoints(static_cast<unsigned>(count));
    for (size_t i = 0; i < count; ++i) EncodeCheckpoint(found[i], out[static_cast<unsigned>(i)]);
    return kj::READY_NOW;
  }

  // Starts a check of the log on disk through the durable op (when asked and none runs), and
  // answers how the last one stands. The check runs on the verifier's thread.
  kj::Promise<void> verifyLog(VerifyLogContext context) override {
    auto guard = Admit(context.getParams().totalSize().wordCount);
    CheckWholeLedger("verifyLog");
    if (state_.log_verifier == nullptr) {
      Fail(kj::Exception::Type::UNIMPLEMENTED, "this server does not verify its log");
    }
    if (context.getParams().getStart()) state_.log_verifier->Start(state_.core.durable_op());
    const LogVerifier::Status status = state_.log_verifier->status();
    auto out = context.getResults(ReplyWords(16 + status.message.size() / sizeof(capnp::word)))
                   .initVerification();
    out.setState(static_cast<rpc::LogVerificationState>(status.state));
    out.setStartedAtNs(status.started_at_ns);
    out.setFinishedAtNs(status.finished_at_ns);
    out.setFirstOp(status.first_op);
    out.setThroughOp(status.through_op);
    out.setCheckedOp(status.checked_op);
    out.setEntries(status.entry_count);
    out.setBytesRead(status.bytes_read);
    EncodeHash(status.chain_head, out.initChainHead());
    out.setMessage(status.message);
    return kj::READY_NOW;
  }

  kj::Promise<void> info(InfoContext context) override {
    auto guard = Admit(0);
    state_.FillInfo(context.getResults(ReplyWords(16 + kTokenLedgersMax / 2)).initInfo(),
                    connection_->grant);
    return kj::READY_NOW;
  }

 private:
  const engine::Engine& engine() { return state_.core.engine(); }

  // Runs `read`, which reads the engine and returns the reply's promise, with the engine
  // taken (Core::TakeEngine); it is let go of as soon as `read` returns.
  template <typename Read>
  kj::Promise<void> WithEngine(Read&& read) {
    return state_.core.TakeEngine().then(
        [read = kj::mv(read)](kj::Own<EngineTurn> turn) mutable -> kj::Promise<void> {
          kj::Promise<void> reply = read();
          turn = nullptr;
          return reply;
        });
  }

  // getAccountTransfers and getAccountBalances: a page of what `run` finds for `filter` (on
  // the engine, or the old history when its range ends there: ColdHistory::Covers), asked for
  // one more than the limit to tell whether another page follows.
  template <typename Context, typename Record, typename Run, typename Init, typename Encode>
  kj::Promise<void> AccountPage(Context& context, QueryMethod method, uint64_t start_ns,
                                kj::Own<CallGuard> guard, AccountFilter filter,
                                std::vector<Record>& scratch, uint64_t record_words, Run run,
                                Init init, Encode encode, bool account_checked = false) {
    const uint32_t limit = filter.limit;
    filter.limit = limit + 1;  // one more tells whether another page follows
    auto reply = [this, context, method, start_ns, filter, limit, record_words, init, encode](
                     std::span<const Record> found, kj::Own<CallGuard> held) mutable {
      const size_t shown = std::min<size_t>(found.size(), limit);
      auto results = context.getResults(ReplyWords(shown * record_words));
      auto out = init(results, static_cast<unsigned>(shown));
      uint64_t newest_ns = 0;
      for (size_t i = 0; i < shown; ++i) encode(found[i], out[static_cast<unsigned>(i)]);
      for (const Record& record : found) newest_ns = std::max(newest_ns, record.timestamp_ns);
      if (found.size() > limit) {
        results.setNextTimestampNs(NextCursor(filter, found[shown - 1].timestamp_ns));
      }
      return Reply(method, start_ns, kj::mv(held), newest_ns);
    };
    if (grant().limited() && !account_checked) {
      // The account's ledger is the engine's to tell: take it first, then go on as usual (with
      // the answer of an account the token may not see: none, as for an unknown account).
      return WithEngine([this, context, method, start_ns, guard = kj::mv(guard), filter, &scratch,
                         record_words, run, init, encode, reply]() mutable -> kj::Promise<void> {
        if (!MaySeeAccount(filter.account_id)) return reply({}, kj::mv(guard));
        filter.limit -= 1;
        return AccountPage(context, method, start_ns, kj::mv(guard), filter, scratch, record_words,
                           run, init, encode, /*account_checked=*/true);
      });
    }
    std::shared_ptr<const replica::ColdHistory> history = state_.core.cold_history();
    if (history != nullptr && history->Covers(filter)) {
      auto page = std::make_shared<std::vector<Record>>(limit + 1);
      return state_.core
          .ReadHistory([history, page, filter, run] {
            page->resize(*run(*history, filter, std::span(*page)));
          })
          .then([this, page, reply, guard = kj::mv(guard)]() mutable {
            state_.metrics.cold_history_reads_total.Increment();
            return reply(*page, kj::mv(guard));
          });
    }
    return WithEngine([this, filter, limit, run, reply, &scratch, guard = kj::mv(guard)]() mutable {
      const size_t count = run(engine(), filter, std::span(scratch).first(limit + 1));
      return reply(std::span<const Record>(scratch).first(count), kj::mv(guard));
    });
  }

  enum class Access { kRead, kWrite };

  const TokenGrant& grant() const { return connection_->grant; }

  // Fails the call as the token's role or ledgers do not allow it; nothing changed.
  [[noreturn]] void Deny(std::string_view why) {
    state_.metrics.RequestsRejected(RejectReason::kPermissionDenied).Increment();
    state_.metrics.CallsDenied(grant().role).Increment();
    Fail(kj::Exception::Type::FAILED, absl::StrCat(kPermissionDeniedMarker, std::string(why)));
  }

  void CheckLedger(uint32_t ledger) {
    if (grant().AllowsLedger(ledger)) return;
    Deny(absl::StrCat("this token is limited to ledgers ", LedgerList(grant()), ", not ", ledger));
  }

  void CheckWholeLedger(std::string_view what) {
    if (!grant().limited()) return;
    Deny(absl::StrCat(std::string(what), " spans every ledger; this token is limited to ledgers ",
                      LedgerList(grant())));
  }

  // Whether the account exists in a ledger the token may see. With the engine taken.
  bool MaySeeAccount(AccountId id) {
    if (!grant().limited()) return true;
    const std::optional<Account> account = engine().LookupAccount(id);
    return account.has_value() && grant().AllowsLedger(account->ledger);
  }

  // A batch with any event outside the token's ledgers is refused whole, before the log; so is
  // an import (events booked at their own, past, timestamps) by a token without admin: a writer
  // books now, only an operator migrates history.
  template <typename Event>
  void CheckEvents(std::span<const Event> events) {
    if (grant().role < Role::kAdmin) {
      for (size_t i = 0; i < events.size(); ++i) {
        if (!IsImported(events[i])) continue;
        state_.metrics.Batches(engine::kOperationOf<Event>, BatchOutcome::kRejected).Increment();
        Deny(absl::StrCat("event ", i,
                          " is imported (booked at its own timestamp); this token's "
                          "role is ",
                          std::string(RoleName(grant().role)),
                          " and importing needs admin (the batch was not booked)"));
      }
    }
    if (!grant().limited()) return;
    for (size_t i = 0; i < events.size(); ++i) {
      if (grant().AllowsLedger(LedgerOf(events[i]))) continue;
      state_.metrics.Batches(engine::kOperationOf<Event>, BatchOutcome::kRejected).Increment();
      Deny(absl::StrCat("event ", i, " is in ledger ", LedgerOf(events[i]),
                        "; this token is limited to ledgers ", LedgerList(grant()),
                        " (the batch was not booked)"));
    }
  }

  // Admits a call under the limits, or fails it with `overloaded`.
  kj::Own<CallGuard> Admit(uint64_t request_words, Access access = Access::kRead) {
    const ServerLimits& limits = state_.options.limits;
    if (state_.shutting_down) {
      state_.metrics.RequestsRejected(RejectReason::kShuttingDown).Increment();
      Fail(kj::Exception::Type::DISCONNECTED, "the server is shutting down; retry elsewhere");
    }
    if (connection_->revoked) {
      state_.metrics.CallsDenied(grant().role).Increment();
      Fail(kj::Exception::Type::FAILED,
           absl::StrCat(kTokenRevokedMarker, ": log in again with a token the server lists"));
    }
    if (access == Access::kWrite && grant().role < Role::kWrite) {
      Deny(absl::StrCat("this token's role is ", std::string(RoleName(grant().role)),
                        "; creating ledgers, accounts and transfers needs write"));
    }
    CheckReplyLimits(state_, *connection_);
    // Writes go to the leader, and so do reads (linearizable there), unless the connection
    // asked for stale reads: a member answers those from what its group has committed.
    if (state_.role != nullptr && (access == Access::kWrite || !connection_->stale_reads)) {
      if (const absl::Status writable = state_.role->Writable(); !writable.ok()) {
        state_.metrics.RequestsRejected(RejectReason::kNotLeader).Increment();
        Fail(kj::Exception::Type::DISCONNECTED, std::string(writable.message()));
      }
    }
    if (connection_->inflight_calls >= limits.inflight_calls_max) {
      Fail(kj::Exception::Type::OVERLOADED,
           absl::StrCat("more than ", limits.inflight_calls_max,
                        " calls in flight on this connection; wait for replies"));
    }
    const uint64_t bytes = request_words * sizeof(capnp::word);
    if (state_.inflight_bytes + bytes > limits.inflight_bytes_max) {
      Fail(kj::Exception::Type::OVERLOADED, "the server is at its in-flight memory limit");
    }
    return kj::heap<CallGuard>(state_, *connection_, bytes);
  }

  // Counts the query and holds its reply until everything it could have seen is durable.
  // newest_ns: the newest booking the answer shows (a transfer found, or the one that tells a
  // page has more). An answer made only of records durable already (booked at or before the
  // durable point: old transfers, a cold account's history) needs no wait; a miss shows
  // nothing (what is absent now was absent at the durable point too).
  kj::Promise<void> Reply(QueryMethod method, uint64_t start_ns, kj::Own<CallGuard> guard,
                          uint64_t newest_ns = UINT64_MAX) {
    ServerMetrics& metrics = state_.metrics;
    metrics.Queries(method).Increment();
    kj::Promise<void> readable = newest_ns <= state_.core.durable_timestamp_ns()
                                     ? kj::Promise<void>(kj::READY_NOW)
                                     : state_.core.WaitReadable();
    return readable
        .then([&metrics, method, start_ns] {
          metrics.QueryLatency(method).Observe(base::MonotonicNs() - start_ns);
        })
        .attach(kj::mv(guard));
  }

  void CheckIds(size_t count) {
    if (count > state_.options.limits.query_ids_max) {
      state_.metrics.RequestsRejected(RejectReason::kIdsTooMany).Increment();
      Fail(kj::Exception::Type::FAILED,
           absl::StrCat("a lookup takes at most ", state_.options.limits.query_ids_max,
                        " ids, not ", count));
    }
  }

  void CheckFeedCursor(uint64_t from) {
    const uint64_t oldest = engine().change_sequence_oldest();
    const uint64_t next = engine().change_sequence_next();
    if (from < oldest) {
      Fail(kj::Exception::Type::FAILED,
           absl::StrCat("change ", from, " is no longer retained; the oldest is ", oldest));
    }
    if (from > next) {
      Fail(kj::Exception::Type::FAILED,
           absl::StrCat("change ", from, " does not exist yet; the next is ", next));
    }
  }

  // queryAccounts and queryTransfers: a page of the records `run` finds for the call's
  // QueryFilter, asked for one more than the limit to tell whether another page follows.
  template <typename Context, typename Record, typename Run, typename Init, typename Encode>
  kj::Promise<void> QueryPage(Context& context, QueryMethod method, std::vector<Record>& scratch,
                              uint64_t record_words, Run run, Init init, Encode encode) {
    const uint64_t start_ns = base::MonotonicNs();
    auto guard = Admit(context.getParams().totalSize().wordCount);
    QueryFilter filter =
        DecodeQueryFilter(context.getParams().getFilter(), state_.options.limits.query_results_max);
    if (grant().limited()) CheckLedger(filter.ledger);
    const uint32_t limit = filter.limit;
    filter.limit = limit + 1;
    return WithEngine([this, context, method, &scratch, record_words, run, init, encode, start_ns,
                       filter, limit, guard = kj::mv(guard)]() mutable {
      const size_t count = run(filter, std::span(scratch).first(limit + 1));
      const size_t shown = std::min<size_t>(count, limit);
      auto results = context.getResults(ReplyWords(shown * record_words));
      auto out = init(results, static_cast<unsigned>(shown));
      for (size_t i = 0; i < shown; ++i) encode(scratch[i], out[static_cast<unsigned>(i)]);
      if (count > limit) {
        results.setNextTimestampNs(NextCursor(filter.reversed, scratch[shown - 1].timestamp_ns));
      }
      return Reply(method, start_ns, kj::mv(guard));
    });
  }

  static uint64_t NextCursor(const AccountFilter& filter, uint64_t last_timestamp_ns) {
    return NextCursor((filter.flags & filter_flags::kReversed) != 0, last_timestamp_ns);
  }
  static uint64_t NextCursor(bool reversed, uint64_t last_timestamp_ns) {
    return reversed ? last_timestamp_ns - 1 : last_timestamp_ns + 1;
  }

  template <typename Context>
  kj::Promise<void> Create(Context& context) {
    using Traits = CreateTraits<Context>;
    return CreateFrom<Traits>(context, context.getParams().totalSize().wordCount,
                              [&](std::span<typename Traits::Event> room) {
                                auto events = Traits::Events(context.getParams());
                                CheckBatchSize<Traits>(events.size());
                                const std::span<typename Traits::Event> decoded =
                                    room.first(events.size());
                                for (size_t i = 0; i < decoded.size(); ++i) {
                                  decoded[i] = Traits::Decode(events[static_cast<unsigned>(i)]);
                                }
                                return decoded;
                              });
  }

  template <typename Traits>
  void CheckBatchSize(size_t count) {
    if (count <= state_.options.limits.batch_events_max) return;
    state_.metrics.RequestsRejected(RejectReason::kBatchTooLarge).Increment();
    Fail(kj::Exception::Type::FAILED,
         absl::StrCat(
             std::string(engine::InfoOf(engine::kOperationOf<typename Traits::Event>).rpc_method),
             ": a batch holds at most ", state_.options.limits.batch_events_max, " events, not ",
             count));
  }

  // The create* pipeline after admission: `decode` fills the call's events into the room it
  // is given (or fails the call), then they wait for the engine and go to the apply thread (log +
  // apply), the results are encoded back on the loop, and the reply goes once durable. A batch of
  // transfers whose ids may be cold first waits for their read-ahead (Core::MustQueue).
  // Decoding runs while an earlier batch applies.
  template <typename Traits, typename Context, typename Decode>
  kj::Promise<void> CreateFrom(Context& context, uint64_t request_words, Decode&& decode) {
    using Event = typename Traits::Event;
    const uint64_t start_ns = base::MonotonicNs();
    auto guard = Admit(request_words, Access::kWrite);
    auto batch = std::make_shared<Batch<Event>>(Traits::Buffers(state_));
    batch->events = decode(std::span(batch->buffer));
    CheckEvents(std::span<const Event>(batch->events));
    context.releaseParams();
    if constexpr (std::is_same_v<Event, Transfer>) {
      if (state_.core.MustQueue(batch->events)) {
        Core::Turn turn = state_.core.EnterQueue();
        batch->answers = std::move(turn.answers);
        return turn.ready.then([this, context, batch, guard = kj::mv(guard),
                                slot = kj::mv(turn.slot), start_ns]() mutable {
          kj::Promise<kj::Own<EngineTurn>> taken = state_.core.TakeEngine();
          slot->Leave();  // the next batch takes the engine after this one
          return SubmitAndReply<Traits>(context, kj::mv(taken), batch, kj::mv(guard), start_ns);
        });
      }
    }
    return SubmitAndReply<Traits>(context, state_.core.TakeEngine(), batch, kj::mv(guard),
                                  start_ns);
  }

  // A batch on its way to the apply thread, shared with the job there, which may outlive the
  // call (cancelled meanwhile).
  template <typename Event>
  struct Batch {
    explicit Batch(std::shared_ptr<EventBuffers<Event>> from)
        : buffers(std::move(from)), buffer(buffers->Take()) {}
    ~Batch() { buffers->Give(std::move(buffer)); }
    KJ_DISALLOW_COPY(Batch);

    std::shared_ptr<EventBuffers<Event>> buffers;
    std::vector<Event> buffer;
    std::span<Event> events;                          // in `buffer`
    std::shared_ptr<cold::ReadAheadAnswers> answers;  // the read-ahead's, if it waited for one
    absl::StatusOr<replica::BatchReceipt> receipt;
  };

  template <typename Traits, typename Context, typename Event = typename Traits::Event>
  kj::Promise<void> SubmitAndReply(Context context, kj::Promise<kj::Own<EngineTurn>> taken,
                                   std::shared_ptr<Batch<Event>> batch, kj::Own<CallGuard> guard,
                                   uint64_t start_ns) {
    using Result = engine::ResultOf<Event>;
    const size_t count = batch->events.size();
    // The results are the state's scratch: written on the apply thread, read here, both with
    // the engine taken.
    const std::span<Result> results(Traits::Results(state_).data(), count);
    const std::span<uint64_t> timestamps_ns(state_.timestamps_ns.data(), count);
    Core& core = state_.core;
    return taken
        .then([&core, batch, results, timestamps_ns](kj::Own<EngineTurn> turn) {
          return core.Apply(kj::mv(turn), [&core, batch, results, timestamps_ns] {
            replica::Replica& replica = core.replica();
            replica.UseColdAnswers(batch->answers.get());
            batch->receipt = replica.Submit<Event>(batch->events, results, timestamps_ns);
            replica.UseColdAnswers(nullptr);
          });
        })
        .then([this, context, batch, results, timestamps_ns, guard = kj::mv(guard),
               start_ns](kj::Own<EngineTurn> turn) mutable {
          return ReplyToBatch<Traits>(context, *batch, results, timestamps_ns, kj::mv(turn),
                                      kj::mv(guard), start_ns);
        });
  }

  // After the apply, with the engine still taken: the results encoded, then the reply once
  // durable.
  template <typename Traits, typename Context, typename Event, typename Result>
  kj::Promise<void> ReplyToBatch(Context& context, const Batch<Event>& batch,
                                 std::span<Result> results, std::span<const uint64_t> timestamps_ns,
                                 kj::Own<EngineTurn> turn, kj::Own<CallGuard> guard,
                                 uint64_t start_ns) {
    constexpr Operation kOperation = engine::kOperationOf<Event>;
    ServerMetrics& metrics = state_.metrics;
    const absl::StatusOr<replica::BatchReceipt>& receipt = batch.receipt;
    if (!receipt.ok()) {
      metrics.Batches(kOperation, BatchOutcome::kRejected).Increment();
      if (receipt.status().GetPayload(replica::kLedgerFullPayload).has_value()) {
        metrics.RequestsRejected(RejectReason::kEngineFull).Increment();
      }
      if (receipt.status().GetPayload(replica::kStorageFullPayload).has_value()) {
        metrics.RequestsRejected(RejectReason::kStorageFull).Increment();
      }
      FailStatus(receipt.status());
    }
    state_.core.NoteApplied(*receipt);
    metrics.Batches(kOperation, BatchOutcome::kOk).Increment();
    metrics.CountEvents(std::span<const Result>(results));
    const size_t count = results.size();
    auto out = context.getResults(ReplyWords(count * kEventResultWords))
                   .initResults(static_cast<unsigned>(count));
    for (size_t i = 0; i < count; ++i) {
      auto result = out[static_cast<unsigned>(i)];
      result.setStatus(static_cast<typename Traits::Status>(results[i]));
      if (timestamps_ns[i] != 0) result.setTimestampNs(timestamps_ns[i]);
    }
    turn = nullptr;
    metrics.inflight_batches.Increment();
    metrics.awaiting_durability_batches.Increment();
    return state_.core.WaitDurable(receipt->op)
        .then([&metrics, start_ns] {
          metrics.BatchLatency(kOperation).Observe(base::MonotonicNs() - start_ns);
        })
        .attach(kj::mv(guard), kj::defer([&metrics] {
                  metrics.inflight_batches.Decrement();
                  metrics.awaiting_durability_batches.Decrement();
                }));
  }

  ServiceState& state_;
  kj::Own<Connection> connection_;
};

// ---------------------------------------------------------------------------------------------
// Gateway

class GatewayImpl final : public rpc::Gateway::Server {
 public:
  GatewayImpl(ServiceState& state, kj::Own<Connection> connection)
      : state_(state), connection_(kj::mv(connection)) {}

 protected:
  kj::Promise<void> login(LoginContext context) override {
    if (state_.shutting_down) {
      Fail(kj::Exception::Type::DISCONNECTED, "the server is shutting down; retry elsewhere");
    }
    CheckReplyLimits(state_, *connection_);
    if (connection_->authenticated) {
      // Each answer holds a Ledger capability for the connection's life: one login is enough.
      connection_->Close();
      Fail(kj::Exception::Type::DISCONNECTED, "this connection is already logged in");
    }
    if (connection_->place == nullptr || connection_->place->evicted()) {
      // Evicted (net/internal/admission.h): the client is being told why.
      Fail(kj::Exception::Type::DISCONNECTED, "the connection is closing");
    }
    const capnp::Data::Reader guess = context.getParams().getToken();
    const std::string_view token(reinterpret_cast<const char*>(guess.begin()), guess.size());
    // An empty token with a verified client certificate: the certificate's grant.
    const TokenGrant* grant = token.find_first_not_of("\r\n ") == std::string_view::npos
                                  ? state_.tokens->FindCertificate(connection_->certificate_name)
                                  : state_.tokens->Find(token);
    if (grant == nullptr) {
      ++connection_->failed_logins;
      state_.metrics.logins_failed_total.Increment();
      return state_.timer.afterDelay(kFailedLoginDelay)
          .then([connection = kj::addRef(*connection_)]() mutable {
            if (connection->failed_logins >= kFailedLoginsMax) connection->Close();
            Fail(kj::Exception::Type::FAILED, "login failed: wrong token");
          });
    }
    connection_->authenticated = true;
    connection_->grant = *grant;
    state_.metrics.Logins(grant->role).Increment();
    connection_->place
        ->LoggedIn();  // no longer counts against the budgets of connections not logged in
    connection_->stale_reads = context.getParams().getStaleReads();
    auto results = context.getResults(ReplyWords(16 + kTokenLedgersMax / 2, 1));
    results.setLedger(kj::heap<LedgerImpl>(state_, kj::addRef(*connection_)));
    state_.FillInfo(results.initInfo(), *grant);
    return kj::READY_NOW;
  }

 private:
  ServiceState& state_;
  kj::Own<Connection> connection_;
};

}  // namespace

bool TokenMatches(kj::ArrayPtr<const kj::byte> guess, const std::string& token) {
  return TokenEquals(std::string_view(reinterpret_cast<const char*>(guess.begin()), guess.size()),
                     token);
}

kj::Own<rpc::Gateway::Server> NewGateway(ServiceState& state, kj::Own<Connection> connection) {
  return kj::heap<GatewayImpl>(state, kj::mv(connection));
}

kj::Own<rpc::Ledger::Server> NewLedger(ServiceState& state, kj::Own<Connection> connection) {
  LEDGER_ASSERT(connection->authenticated);
  return kj::heap<LedgerImpl>(state, kj::mv(connection));
}

}  // namespace ledger::net::internal
