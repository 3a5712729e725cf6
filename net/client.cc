#include "net/client.h"

#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/thread.h"
#include "capnp/message.h"
#include "capnp/rpc-twoparty.h"
#include "cluster/etcd.h"
#include "cluster/group.h"
#include "kj/async-io.h"
#include "kj/async-unix.h"
#include "kj/compat/tls.h"
#include "kj/debug.h"
#include "net/internal/codec.h"
#include "net/internal/json_api.h"
#include "net/internal/tls.h"
#include "net/ledger.capnp.h"

namespace ledger::net {

using internal::DecodeU128;
using internal::EncodeU128;

namespace {

// Replies can be as large as a full query page; accept up to 64 MiB (the server bounds them).
constexpr uint64_t kReplyWordsMax = (uint64_t{64} << 20) / sizeof(capnp::word);
constexpr uint64_t kConnectTimeoutNs = 1'000'000'000;
// A group's call unanswered this long asks etcd whether another member leads, and again every
// kLeaderCheckPeriodNs.
constexpr uint64_t kLeaderCheckAfterNs = 1'000'000'000;
constexpr uint64_t kLeaderCheckPeriodNs = 100'000'000;

absl::Status StatusOf(const kj::Exception& exception) {
  const std::string message = exception.getDescription().cStr();
  // A server turning the connection away says why (its RPC Abort; "remote exception: ..."):
  // it is busy with other connections, so retrying later may succeed.
  if (const size_t refused = message.find(internal::kRefusedMarker); refused != std::string::npos) {
    return absl::ResourceExhaustedError(message.substr(refused));
  }
  if (absl::StrContains(message, internal::kTokenRevokedMarker)) {
    return absl::UnauthenticatedError(message);
  }
  if (const size_t denied = message.find(internal::kPermissionDeniedMarker);
      denied != std::string::npos) {
    return absl::PermissionDeniedError(message.substr(denied));
  }
  switch (exception.getType()) {
    case kj::Exception::Type::DISCONNECTED:
      return absl::UnavailableError(message);
    case kj::Exception::Type::OVERLOADED: {
      absl::Status busy = absl::ResourceExhaustedError(message);
      if (absl::StrContains(message, internal::kStorageFullMarker)) {
        busy.SetPayload(kStorageFullPayload, absl::Cord(message));
      }
      return busy;
    }
    case kj::Exception::Type::UNIMPLEMENTED:
      return absl::UnimplementedError(message);
    default:
      break;
  }
  absl::Status failed = absl::FailedPreconditionError(message);
  if (absl::StrContains(message, internal::kLedgerFullMarker)) {
    failed.SetPayload(kLedgerFullPayload, absl::Cord(message));
  }
  return failed;
}

TransferStatusInfo DecodeTransferStatus(rpc::TransferStatus::Reader in) {
  TransferStatusInfo info;
  info.id = DecodeU128<TransferIdTag>(in.getId());
  TransferStatus& status = info.status;
  // An unknown state from a newer server reads as none rather than as a wrong one.
  const auto pending = static_cast<uint8_t>(in.getPendingStatus());
  status.pending_status = pending <= static_cast<uint8_t>(PendingStatus::kExpired)
                              ? static_cast<PendingStatus>(pending)
                              : PendingStatus::kNone;
  status.expires_at_ns = in.getExpiresAtNs();
  status.posted_amount = DecodeU128<AmountTag>(in.getPostedAmount());
  status.released_amount = DecodeU128<AmountTag>(in.getReleasedAmount());
  status.resolved_by = DecodeU128<TransferIdTag>(in.getResolvedBy());
  status.reversed_amount = DecodeU128<AmountTag>(in.getReversedAmount());
  status.reversal_count = in.getReversalCount();
  for (auto id : in.getReversals()) info.reversals.push_back(DecodeU128<TransferIdTag>(id));
  return info;
}

FeedChange DecodeChange(rpc::Change::Reader in) {
  FeedChange change;
  change.sequence = in.getSequence();
  change.kind = static_cast<ChangeKind>(in.getKind());
  change.timestamp_ns = in.getTimestampNs();
  change.transfer = internal::DecodeTransfer(in.getTransfer());
  change.debit_balance = internal::DecodeBalance(in.getDebitBalance());
  change.credit_balance = internal::DecodeBalance(in.getCreditBalance());
  return change;
}

FeedCheckpoint DecodeCheckpoint(rpc::Checkpoint::Reader in) {
  FeedCheckpoint checkpoint;
  checkpoint.op = in.getOp();
  checkpoint.chain_hash_high = in.getChainHash().getHi();
  checkpoint.chain_hash_low = in.getChainHash().getLo();
  checkpoint.timestamp_ns = in.getTimestampNs();
  checkpoint.line = in.getLine().cStr();
  checkpoint.change_sequence_next = in.getChangeSequenceNext();
  return checkpoint;
}

ServerInfo DecodeInfo(rpc::ServerInfo::Reader in) {
  ServerInfo info;
  info.schema_version = in.getSchemaVersion();
  info.shard_count = in.getShardCount();
  info.last_op = in.getLastOp();
  auto limits = in.getLimits();
  info.limits.batch_events_max = limits.getBatchEventsMax();
  info.limits.query_ids_max = limits.getQueryIdsMax();
  info.limits.query_results_max = limits.getQueryResultsMax();
  info.limits.message_bytes_max = limits.getMessageBytesMax();
  info.limits.inflight_calls_max = limits.getInflightCallsMax();
  info.limits.feed_retention = limits.getFeedRetention();
  return info;
}

// A result handed to another thread. Not an absl::Status: copies of one share a reference-counted
// payload, and a batch's result goes to many callers; each gets its own copy of the text.
struct Outcome {
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string message;
  bool ledger_full = false;   // the status carries kLedgerFullPayload
  bool storage_full = false;  // the status carries kStorageFullPayload
  static Outcome Of(const absl::Status& status) {
    return Outcome{status.code(), std::string(status.message()),
                   status.GetPayload(kLedgerFullPayload).has_value(),
                   status.GetPayload(kStorageFullPayload).has_value()};
  }
  absl::Status ToStatus() const {
    absl::Status status(code, message);
    if (ledger_full) status.SetPayload(kLedgerFullPayload, absl::Cord(message));
    if (storage_full) status.SetPayload(kStorageFullPayload, absl::Cord(message));
    return status;
  }
};

// A caller of Submit, waiting on its own stack.
struct Submission {
  std::span<const Transfer> events;
  std::span<TransferResult> results;
  Outcome outcome;
  bool done = false;
};

class ConsumerImpl final : public rpc::ChangeConsumer::Server {
 public:
  explicit ConsumerImpl(SubscribeOptions options) : options_(std::move(options)) {}
  ~ConsumerImpl() { End(absl::CancelledError("the subscription was dropped")); }

  void End(const absl::Status& status) {
    if (ended_) return;
    ended_ = true;
    if (options_.on_end) options_.on_end(status);
  }

 protected:
  kj::Promise<void> push(PushContext context) override {
    auto list = context.getParams().getChanges();
    changes_.clear();
    for (auto change : list) changes_.push_back(DecodeChange(change));
    if (!ended_) options_.on_changes(changes_);
    return kj::READY_NOW;
  }
  kj::Promise<void> end(EndContext context) override {
    End(absl::FailedPreconditionError(context.getParams().getReason().cStr()));
    return kj::READY_NOW;
  }
  // Sent only to a subscription that asked; without a callback it is refused as a consumer
  // before schema 6 would (the server then ends the subscription).
  kj::Promise<void> checkpoint(CheckpointContext context) override {
    if (!options_.on_checkpoint) {
      return KJ_EXCEPTION(UNIMPLEMENTED, "this consumer did not ask for checkpoints");
    }
    if (!ended_) options_.on_checkpoint(DecodeCheckpoint(context.getParams().getCheckpoint()));
    return kj::READY_NOW;
  }

 private:
  SubscribeOptions options_;
  std::vector<FeedChange> changes_;
  bool ended_ = false;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

class Client::Impl final : private kj::TaskSet::ErrorHandler {
 public:
  explicit Impl(const ClientOptions& options) : options_(options) {}
  ~Impl() {
    if (thread_.joinable()) {
      {
        std::lock_guard lock(mutex_);
        stopping_ = true;
      }
      Wake();
      thread_.join();
    }
    if (event_fd_ >= 0) close(event_fd_);
  }

  absl::Status Start() {
    event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (event_fd_ < 0) return absl::InternalError("eventfd failed");
    if (!options_.tls_ca_file.empty()) {
      auto ca = base::ReadFileToString(options_.tls_ca_file);
      if (!ca.ok()) return ca.status();
      ca_pem_ = *ca;
    }
    if (!options_.tls_certificate_file.empty()) {
      auto certificate = base::ReadFileToString(options_.tls_certificate_file);
      if (!certificate.ok()) return certificate.status();
      auto key = base::ReadFileToString(options_.tls_key_file);
      if (!key.ok()) return key.status();
      certificate_pem_ = *certificate;
      key_pem_ = *key;
    }
    std::unique_lock lock(mutex_);
    thread_ = std::thread([this] {
      base::NameThisThread("ledger-client");
      if (options_.io_slice_ns != 0) base::SetThisThreadSliceNs(options_.io_slice_ns);
      Loop();
    });
    started_.wait(lock, [&] { return start_done_; });
    return start_status_;
  }

  const ServerInfo& info() const { return info_; }

  // Runs `body` on the loop thread and waits for the promise it returns. The hand-off is a
  // mutex, a condition variable and the eventfd (not kj::Executor), so ThreadSanitizer sees
  // every synchronisation (Debian's KJ is not instrumented).
  absl::Status Call(kj::Function<kj::Promise<void>()> body) {
    CallRequest call{kj::mv(body), Outcome{}, false};
    std::unique_lock lock(mutex_);
    if (!loop_alive_) return absl::UnavailableError("the client is closed");
    calls_.push_back(&call);
    lock.unlock();
    Wake();
    lock.lock();
    done_.wait(lock, [&] { return call.done; });
    return call.outcome.ToStatus();
  }

  rpc::Ledger::Client& ledger() { return *ledger_; }

  // Sends `count` transfers, which `each(sink)` passes to sink in order, and hands the results
  // to `on_results`. Packed records (createTransfersPacked) when the server has them: no
  // pointers to build here or to follow there, and 152 bytes a transfer against 208.
  template <typename Each, typename OnResults>
  kj::Promise<void> SendTransfers(size_t count, Each&& each, OnResults on_results) {
    if (options_.packed_transfers && info_.schema_version >= 2) {
      const size_t bytes = count * sizeof(Transfer);
      auto request = ledger_->createTransfersPackedRequest(
          internal::MessageWords(bytes / sizeof(capnp::word) + 1));
      kj::byte* out = request.initRecords(static_cast<unsigned>(bytes)).begin();
      each([&out](const Transfer& transfer) {
        std::memcpy(out, &transfer, sizeof(Transfer));
        out += sizeof(Transfer);
      });
      return request.send().then([on_results = kj::mv(on_results)](auto&& response) mutable {
        on_results(response.getResults());
      });
    }
    auto request =
        ledger_->createTransfersRequest(internal::MessageWords(count * internal::kTransferWords));
    auto list = request.initTransfers(static_cast<unsigned>(count));
    unsigned index = 0;
    each([&](const Transfer& transfer) { internal::EncodeTransfer(transfer, list[index++]); });
    return request.send().then([on_results = kj::mv(on_results)](auto&& response) mutable {
      on_results(response.getResults());
    });
  }

  absl::Status Submit(std::span<const Transfer> chain, std::span<TransferResult> results) {
    if (chain.empty()) return absl::OkStatus();
    if (chain.size() != results.size()) return absl::InvalidArgumentError("results size");
    if ((chain.back().flags & transfer_flags::kLinked) != 0) {
      return absl::InvalidArgumentError("the last transfer of a submission must not be linked");
    }
    if (chain.size() > submit_batch_events_max_) {
      return absl::InvalidArgumentError(
          absl::StrCat("a submission holds at most ", submit_batch_events_max_, " transfers"));
    }
    Submission submission{chain, results, Outcome{}, false};
    std::unique_lock lock(mutex_);
    if (!loop_alive_) return absl::UnavailableError("the client is closed");
    queue_.push_back(&submission);
    lock.unlock();
    Wake();
    lock.lock();
    done_.wait(lock, [&] { return submission.done; });
    return submission.outcome.ToStatus();
  }

  absl::Status Subscribe(SubscribeOptions options) {
    if (options.on_checkpoint && info_.schema_version < 6) {
      return absl::FailedPreconditionError(
          "the server predates checkpoints on the change feed (schema 6)");
    }
    return Call([&]() mutable {
      auto request = ledger_->subscribeRequest();
      request.setFromSequence(options.from_sequence);
      request.setWithCheckpoints(static_cast<bool>(options.on_checkpoint));
      auto consumer = kj::heap<ConsumerImpl>(std::move(options));
      ConsumerImpl* raw = consumer.get();
      request.setConsumer(kj::mv(consumer));
      return request.send().then(
          [this](auto&& response) { subscription_ = response.getSubscription(); },
          [raw](kj::Exception&& exception) {
            raw->End(StatusOf(exception));
            kj::throwFatalException(kj::mv(exception));
          });
    });
  }

  void Unsubscribe() {
    (void)Call([this]() -> kj::Promise<void> {
      subscription_ = nullptr;
      return kj::READY_NOW;
    });
  }

 private:
  // A batch in flight. Dropped unanswered (the connection closed), it fails its submissions.
  struct Batch {
    Impl* impl = nullptr;
    std::vector<Submission*> submissions;
    size_t events = 0;
    bool finished = false;
    ~Batch() {
      if (!finished) impl->Complete(submissions, absl::UnavailableError("the connection closed"));
    }
  };
  // A caller of Call, waiting on its own stack.
  struct CallRequest {
    kj::Function<kj::Promise<void>()> body;
    Outcome outcome;
    bool done = false;
  };
  // A Call started on the loop; dropped unanswered, it fails the call.
  struct CallTask {
    Impl* impl = nullptr;
    CallRequest* call = nullptr;
    bool finished = false;
    ~CallTask() {
      if (!finished) impl->FinishCall(*call, absl::UnavailableError("the connection closed"));
    }
  };

  void Wake() {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = write(event_fd_, &one, sizeof(one));
  }

  // Starts the calls queued by other threads; each reports back through done_.
  void StartCalls() {
    std::deque<CallRequest*> calls;
    {
      std::lock_guard lock(mutex_);
      calls.swap(calls_);
    }
    for (CallRequest* call : calls) {
      kj::Promise<void> promise = nullptr;
      KJ_IF_MAYBE (exception, kj::runCatchingExceptions([&]() { promise = call->body(); })) {
        promise = kj::mv(*exception);
      }
      promise = Bounded(kj::mv(promise));
      auto task = kj::heap<CallTask>();  // in place: a moved-from copy would fail the call
      CallTask* raw = task.get();
      raw->impl = this;
      raw->call = call;
      tasks_->add(promise
                      .then(
                          [this, raw] {
                            raw->finished = true;
                            FinishCall(*raw->call, absl::OkStatus());
                          },
                          [this, raw](kj::Exception&& exception) {
                            raw->finished = true;
                            FinishCall(*raw->call, StatusOf(exception));
                          })
                      .attach(kj::mv(task)));
    }
  }

  // With call_timeout_ns: a call unanswered that long fails as Unavailable (a leader that
  // stopped without closing its connections: paused, or cut off by the network).
  // Connecting and logging in are bounded too, by at most kConnectTimeoutNs: a healthy server
  // answers in a few milliseconds, and a client seeking the leader tries the next.
  // A call of a group's client with etcd also ends once etcd has a new leader (LeaderMoved): a
  // leader cut off by the network cannot answer, and the next one leads before the timeout.
  template <typename T>
  kj::Promise<T> Bounded(kj::Promise<T> call, bool connecting = false) {
    uint64_t timeout_ns = options_.call_timeout_ns;
    if (timeout_ns == 0) return call;
    if (connecting) timeout_ns = std::min(timeout_ns, kConnectTimeoutNs);
    kj::Promise<T> bounded = call.exclusiveJoin(
        timer_->afterDelay(timeout_ns * kj::NANOSECONDS).then([this, timeout_ns]() {
          return kj::Promise<T>(KJ_EXCEPTION(
              DISCONNECTED, absl::StrCat("no answer from ", options_.address, " within ",
                                         timeout_ns / 1'000'000, " ms; the outcome is unknown")
                                .c_str()));
        }));
    if (connecting || etcd_ == nullptr) return bounded;
    return bounded.exclusiveJoin(LeaderMoved().then([this]() {
      return kj::Promise<T>(
          KJ_EXCEPTION(DISCONNECTED, absl::StrCat("no answer from ", options_.address,
                                                  ", and the group has elected a new leader; "
                                                  "the outcome is unknown")
                                         .c_str()));
    }));
  }

  // Resolves once etcd's election has a new leader: its key is asked for once a call has waited
  // kLeaderCheckAfterNs (longer than a healthy group's writes), then every kLeaderCheckPeriodNs,
  // and a key made since the first answer (another campaign won) is a new leader. The key, not
  // the address it holds: a member may advertise its address in another form than ours.
  kj::Promise<void> LeaderMoved() {
    return timer_->afterDelay(kLeaderCheckAfterNs * kj::NANOSECONDS).then([this] {
      return CheckLeader(std::make_shared<int64_t>(0));
    });
  }
  kj::Promise<void> CheckLeader(std::shared_ptr<int64_t> first_revision) {
    return etcd_->Leader(cluster::GroupElectionName(options_.replica_group))
        .then([this, first_revision](absl::StatusOr<std::optional<cluster::EtcdKeyValue>> leader)
                  -> kj::Promise<void> {
          if (leader.ok() && leader->has_value()) {
            const int64_t revision = (*leader)->create_revision;
            if (*first_revision == 0) *first_revision = revision;
            if (revision != *first_revision) return kj::READY_NOW;
          }
          return timer_->afterDelay(kLeaderCheckPeriodNs * kj::NANOSECONDS)
              .then([this, first_revision] { return CheckLeader(first_revision); });
        });
  }

  void FinishCall(CallRequest& call, const absl::Status& status) {
    {
      std::lock_guard lock(mutex_);
      call.outcome = Outcome::Of(status);
      call.done = true;
    }
    done_.notify_all();
  }

  void Loop() {
    absl::Status status;
    KJ_IF_MAYBE (exception, kj::runCatchingExceptions([&]() { RunLoop(); })) {
      status = StatusOf(*exception);
    }
    if (status.ok()) status = loop_failure_;
    std::lock_guard lock(mutex_);
    if (!start_done_) {
      start_status_ = status.ok() ? absl::UnavailableError("the client loop stopped") : status;
      start_done_ = true;
      started_.notify_all();
    }
    loop_alive_ = false;
    FailQueued(absl::UnavailableError("the client is closed"));
  }

  // The TLS handshake; a failure carries kTlsFailurePayload with the reason.
  absl::StatusOr<kj::Own<kj::AsyncIoStream>> Secure(kj::Own<kj::AsyncIoStream> stream,
                                                    kj::AsyncIoContext& io) {
    std::string host = options_.address.substr(0, options_.address.rfind(':'));
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);  // [::1]:7700
    }
    kj::Own<kj::AsyncIoStream> secured;
    KJ_IF_MAYBE (exception, kj::runCatchingExceptions([&]() {
                   trusted_.add(kj::TlsCertificate(ca_pem_.c_str()));
                   kj::TlsContext::Options tls_options;
                   tls_options.useSystemTrustStore = false;
                   tls_options.trustedCertificates = trusted_;
                   if (!certificate_pem_.empty()) {
                     keypair_ = kj::heap<kj::TlsKeypair>(
                         kj::TlsKeypair{kj::TlsPrivateKey(key_pem_.c_str()),
                                        kj::TlsCertificate(certificate_pem_.c_str())});
                     tls_options.defaultKeypair = *keypair_;
                   }
                   tls_ = kj::heap<kj::TlsContext>(kj::mv(tls_options));
                   std::string name = options_.tls_server_name;
                   if (name.empty()) {
                     name = host;
                     if (internal::IsAddressLiteral(host)) {
                       tls_address_ = host;
                       internal::AcceptCertificatesHoldingAddress(*tls_, tls_address_);
                     }
                   }
                   secured =
                       Bounded(tls_->wrapClient(kj::mv(stream), name.c_str())).wait(io.waitScope);
                 })) {
      const std::string reason = internal::TlsFailureReason(*exception);
      absl::Status failure = absl::FailedPreconditionError(
          absl::StrCat("TLS with ", options_.address, " failed: ", reason));
      failure.SetPayload(kTlsFailurePayload, absl::Cord(reason));
      return failure;
    }
    return secured;
  }

  void RunLoop() {
    kj::AsyncIoContext io = kj::setupAsyncIo();
    timer_ = &io.provider->getTimer();
    std::optional<cluster::EtcdClient> etcd;
    if (options_.call_timeout_ns != 0 && !options_.etcd_endpoints.empty()) {
      etcd.emplace(*io.provider, cluster::EtcdOptions{.endpoints = options_.etcd_endpoints});
      etcd_ = &*etcd;
    }
    auto address =
        io.provider->getNetwork().parseAddress(options_.address.c_str()).wait(io.waitScope);
    kj::Own<kj::AsyncIoStream> stream = Bounded(address->connect(), true).wait(io.waitScope);
    if (!ca_pem_.empty()) {
      absl::StatusOr<kj::Own<kj::AsyncIoStream>> secured = Secure(kj::mv(stream), io);
      if (!secured.ok()) {
        loop_failure_ = secured.status();
        return;
      }
      stream = kj::mv(*secured);
    }
    capnp::ReaderOptions reader;
    reader.traversalLimitInWords = kReplyWordsMax;
    capnp::TwoPartyVatNetwork network(*stream, capnp::rpc::twoparty::Side::CLIENT, reader);
    auto rpc = capnp::makeRpcClient(network);
    capnp::MallocMessageBuilder vat_message;
    auto vat_id = vat_message.initRoot<capnp::rpc::twoparty::VatId>();
    vat_id.setSide(capnp::rpc::twoparty::Side::SERVER);
    auto gateway = rpc.bootstrap(vat_id).castAs<rpc::Gateway>();
    auto login = gateway.loginRequest();
    login.setToken(kj::arrayPtr(reinterpret_cast<const kj::byte*>(options_.token.data()),
                                options_.token.size()));
    login.setStaleReads(options_.stale_reads);
    auto response = Bounded(login.send(), true).wait(io.waitScope);
    ledger_ = kj::heap<rpc::Ledger::Client>(response.getLedger());
    info_ = DecodeInfo(response.getInfo());
    submit_batch_events_max_ = info_.limits.batch_events_max;
    if (options_.submit_batch_events_max != 0) {
      submit_batch_events_max_ =
          std::min(submit_batch_events_max_, options_.submit_batch_events_max);
    }

    kj::UnixEventPort::FdObserver observer(io.unixEventPort, event_fd_,
                                           kj::UnixEventPort::FdObserver::OBSERVE_READ);
    auto exit = kj::newPromiseAndFulfiller<void>();
    exit_ = kj::mv(exit.fulfiller);
    {
      std::lock_guard lock(mutex_);
      loop_alive_ = true;
      start_done_ = true;
      started_.notify_all();
    }
    kj::TaskSet tasks(*this);
    tasks_ = &tasks;
    auto run =
        exit.promise.exclusiveJoin(network.onDisconnect()).exclusiveJoin(WatchQueue(observer));
    run.wait(io.waitScope);
    tasks_ = nullptr;
    {
      std::lock_guard lock(mutex_);
      loop_alive_ = false;
      for (CallRequest* call : calls_) {
        call->outcome = Outcome::Of(absl::UnavailableError("the client is closed"));
        call->done = true;
      }
      calls_.clear();
    }
    done_.notify_all();
    subscription_ = nullptr;
    ledger_ = nullptr;
  }

  kj::Promise<void> WatchQueue(kj::UnixEventPort::FdObserver& observer) {
    return observer.whenBecomesReadable().then([this, &observer]() {
      uint64_t count;
      while (read(event_fd_, &count, sizeof(count)) > 0) {
      }
      {
        std::lock_guard lock(mutex_);
        if (stopping_) exit_->fulfill();
      }
      StartCalls();
      SendBatches();
      return WatchQueue(observer);
    });
  }

  // Sends queued submissions in batches while fewer than the maximum are in flight.
  void SendBatches() {
    while (inflight_batches_ < options_.submit_inflight_batches_max) {
      auto batch = kj::heap<Batch>();
      batch->impl = this;
      size_t events = 0;
      {
        std::lock_guard lock(mutex_);
        while (!queue_.empty() &&
               events + queue_.front()->events.size() <= submit_batch_events_max_) {
          events += queue_.front()->events.size();
          batch->submissions.push_back(queue_.front());
          queue_.pop_front();
        }
      }
      if (events == 0) return;
      ++inflight_batches_;
      Batch& raw = *batch;
      raw.events = events;
      auto each = [&raw](auto&& sink) {
        for (Submission* submission : raw.submissions) {
          for (const Transfer& transfer : submission->events) sink(transfer);
        }
      };
      auto sent = Bounded(
          SendTransfers(events, each, [this, &raw](auto results) { Finish(raw, results); }));
      tasks_->add(kj::mv(sent)
                      .catch_([this, &raw](kj::Exception&& exception) {
                        if (!raw.finished) Finish(raw, StatusOf(exception));
                      })
                      .attach(kj::mv(batch)));
    }
  }

  void Finish(Batch& batch, capnp::List<rpc::TransferResult>::Reader results) {
    if (results.size() != batch.events) {
      return Finish(batch, absl::InternalError("the server answered a batch with the wrong "
                                               "result count"));
    }
    unsigned index = 0;
    for (Submission* submission : batch.submissions) {
      for (TransferResult& result : submission->results) {
        auto in = results[index++];
        result.status = static_cast<CreateTransferResult>(in.getStatus());
        result.timestamp_ns = in.getTimestampNs();
      }
    }
    Finish(batch, absl::OkStatus());
  }

  void Finish(Batch& batch, const absl::Status& status) {
    batch.finished = true;
    --inflight_batches_;
    Complete(batch.submissions, status);
    SendBatches();
  }

  void Complete(const std::vector<Submission*>& submissions, const absl::Status& status) {
    {
      std::lock_guard lock(mutex_);
      for (Submission* submission : submissions) {
        submission->outcome = Outcome::Of(status);
        submission->done = true;
      }
    }
    done_.notify_all();
  }

  void FailQueued(const absl::Status& status) {  // mutex_ held
    for (Submission* submission : queue_) {
      submission->outcome = Outcome::Of(status);
      submission->done = true;
    }
    queue_.clear();
    done_.notify_all();
  }

  void taskFailed(kj::Exception&&) override {}  // batches report their own failures

  ClientOptions options_;
  std::string ca_pem_;
  std::string certificate_pem_;  // mutual TLS: this client's certificate and key
  std::string key_pem_;
  kj::Own<kj::TlsKeypair> keypair_;
  // Loop thread: the TLS context and what it borrows, and why the loop ended before serving.
  kj::Vector<kj::TlsCertificate> trusted_;
  kj::Own<kj::TlsContext> tls_;
  std::string tls_address_;
  absl::Status loop_failure_;
  ServerInfo info_;
  uint32_t submit_batch_events_max_ = 0;
  int event_fd_ = -1;
  std::thread thread_;
  kj::Own<kj::PromiseFulfiller<void>> exit_;
  kj::Own<rpc::Ledger::Client> ledger_;
  kj::Maybe<rpc::Subscription::Client> subscription_;
  kj::TaskSet* tasks_ = nullptr;
  kj::Timer* timer_ = nullptr;
  cluster::EtcdClient* etcd_ = nullptr;  // a group's, with etcd: on the loop, for LeaderMoved
  uint32_t inflight_batches_ = 0;        // loop thread

  std::mutex mutex_;
  std::condition_variable started_;
  std::condition_variable done_;
  bool start_done_ = false;
  bool loop_alive_ = false;
  bool stopping_ = false;
  std::deque<CallRequest*> calls_;
  absl::Status start_status_;
  std::deque<Submission*> queue_;
};

// ---------------------------------------------------------------------------------------------

// The connection to the server, or to a replica group's leader. With a group (several
// addresses, or etcd), a call refused as Unavailable (the connection broke, or the server is
// not the leader) reconnects to the leader and runs again, until failover_timeout_ns.
class Client::Connections {
 public:
  explicit Connections(const ClientOptions& options)
      : options_(WithGroupDefaults(options)), failover_(IsGroup(options)) {}

  absl::Status Open() {
    if (!failover_) {
      auto impl = Dial(options_.address);
      if (!impl.ok()) return impl.status();
      impl_ = std::move(*impl);
      return absl::OkStatus();
    }
    std::lock_guard lock(mutex_);
    return FindLeader("", base::MonotonicNs() + options_.failover_timeout_ns);
  }

  const ServerInfo& info() const { return impl_->info(); }  // of the first connection

  absl::Status Run(absl::FunctionRef<absl::Status(Impl&)> attempt) {
    const uint64_t deadline_ns = base::MonotonicNs() + options_.failover_timeout_ns;
    std::shared_ptr<Impl> impl = Current();
    for (;;) {
      absl::Status status = attempt(*impl);
      if (!failover_ || status.code() != absl::StatusCode::kUnavailable ||
          base::MonotonicNs() >= deadline_ns) {
        return status;
      }
      std::lock_guard lock(mutex_);
      if (impl_ == impl) {  // no other caller has moved on yet
        absl::Status found = FindLeader(LeaderHint(status.message()), deadline_ns);
        if (!found.ok()) {
          return absl::UnavailableError(absl::StrCat(status.message(), "; ", found.message()));
        }
      }
      impl = impl_;
    }
  }

  std::shared_ptr<Impl> Current() {
    std::lock_guard lock(mutex_);
    return impl_;
  }

 private:
  static constexpr uint64_t kRoundPauseNs = 25'000'000;  // a failover waits for it
  static constexpr uint64_t kGroupCallTimeoutNs = 3'000'000'000;

  static bool IsGroup(const ClientOptions& options) {
    return !options.addresses.empty() || !options.etcd_endpoints.empty();
  }

  static ClientOptions WithGroupDefaults(ClientOptions options) {
    if (IsGroup(options) && options.call_timeout_ns == 0) {
      options.call_timeout_ns = kGroupCallTimeoutNs;
    }
    return options;
  }

  absl::StatusOr<std::shared_ptr<Impl>> Dial(const std::string& address) {
    ClientOptions options = options_;
    options.address = address;
    auto impl = std::make_shared<Impl>(options);
    absl::Status status = impl->Start();
    if (!status.ok()) {
      if (absl::StrContains(status.message(), "login failed")) {
        return absl::UnauthenticatedError(status.message());
      }
      return status;
    }
    return impl;
  }

  // The leader named by a follower's refusal ("... the leader is at HOST:PORT").
  static std::string LeaderHint(absl::string_view message) {
    const size_t at = message.find(internal::kLeaderIsAtMarker);
    if (at == absl::string_view::npos) return "";
    absl::string_view rest = message.substr(at + std::strlen(internal::kLeaderIsAtMarker));
    return std::string(rest.substr(0, rest.find_first_of(" ;,\n")));
  }

  // Tries the hint, etcd's leader and every address in turn, round after round, until one
  // accepts a call (only the leader does) or the deadline passes. mutex_ held.
  absl::Status FindLeader(std::string hint, uint64_t deadline_ns) {
    std::string last_error = "no address to try";
    for (;;) {
      std::vector<std::string> candidates;
      if (!hint.empty()) candidates.push_back(hint);
      if (!options_.etcd_endpoints.empty()) {
        absl::StatusOr<std::string> leader = EtcdLeader();
        if (leader.ok()) candidates.push_back(*leader);
        if (!leader.ok()) last_error = std::string(leader.status().message());
      }
      candidates.insert(candidates.end(), options_.addresses.begin(), options_.addresses.end());
      hint.clear();
      for (const std::string& address : candidates) {
        absl::StatusOr<std::shared_ptr<Impl>> impl = Dial(address);
        if (impl.ok()) {
          absl::Status probe = Probe(**impl);
          if (probe.ok()) {
            impl_ = std::move(*impl);
            return absl::OkStatus();
          }
          if (hint.empty()) hint = LeaderHint(probe.message());
          last_error = absl::StrCat(address, ": ", probe.message());
          continue;
        }
        const absl::Status& status = impl.status();
        if (status.code() == absl::StatusCode::kUnauthenticated ||
            status.GetPayload(kTlsFailurePayload).has_value()) {
          return status;  // another address will not fix the token or the certificate
        }
        last_error = absl::StrCat(address, ": ", status.message());
      }
      if (base::MonotonicNs() + kRoundPauseNs >= deadline_ns) {
        return absl::UnavailableError(absl::StrCat("no leader of the group answered within ",
                                                   options_.failover_timeout_ns / 1'000'000,
                                                   " ms (last: ", last_error, ")"));
      }
      std::this_thread::sleep_for(std::chrono::nanoseconds(kRoundPauseNs));
    }
  }

  // Only the leader admits a call: the cheapest is info.
  static absl::Status Probe(Impl& impl) {
    return impl.Call([&]() { return impl.ledger().infoRequest().send().ignoreResult(); });
  }

  // The client address the group's leader advertises in etcd. On a thread of its own: the
  // etcd client needs an event loop, and the caller's thread may already run one.
  absl::StatusOr<std::string> EtcdLeader() {
    absl::StatusOr<std::string> found = absl::UnavailableError("etcd was not asked");
    std::thread([&] {
      kj::AsyncIoContext io = kj::setupAsyncIo();
      cluster::EtcdClient etcd(*io.provider, {.endpoints = options_.etcd_endpoints});
      absl::StatusOr<std::optional<cluster::EtcdKeyValue>> leader =
          etcd.Leader(cluster::GroupElectionName(options_.replica_group)).wait(io.waitScope);
      if (!leader.ok()) {
        found = leader.status();
      } else if (!leader->has_value()) {
        found = absl::UnavailableError(
            absl::StrCat("group ", options_.replica_group, " has no leader in etcd"));
      } else {
        found = cluster::ParseAdvertised((*leader)->value).client;
      }
    }).join();
    return found;
  }

  const ClientOptions options_;
  const bool failover_;
  std::mutex mutex_;  // held while the leader is sought: callers wait for the new connection
  std::shared_ptr<Impl> impl_;
};

// Runs `body` on the current connection's loop, again on the new leader after a failover.
absl::Status Call(Client::Connections& connections,
                  kj::Function<kj::Promise<void>(Client::Impl&)> body) {
  return connections.Run(
      [&](Client::Impl& impl) { return impl.Call([&]() { return body(impl); }); });
}

// ---------------------------------------------------------------------------------------------

Client::Client(std::unique_ptr<Connections> connections)
    : connections_(std::move(connections)), server_info_(connections_->info()) {}
Client::~Client() = default;

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  auto connections = std::make_unique<Connections>(options);
  if (absl::Status status = connections->Open(); !status.ok()) return status;
  return std::unique_ptr<Client>(new Client(std::move(connections)));
}

namespace {

template <typename Code, typename List>
void CopyResults(List in, std::span<EventResult<Code>> out) {
  KJ_REQUIRE(in.size() == out.size(), "the server answered a batch with the wrong result count",
             in.size(), out.size());
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].status = static_cast<Code>(in[static_cast<unsigned>(i)].getStatus());
    out[i].timestamp_ns = in[static_cast<unsigned>(i)].getTimestampNs();
  }
}

absl::Status CheckSizes(size_t events, size_t results) {
  if (events != results) return absl::InvalidArgumentError("results must match events in size");
  return absl::OkStatus();
}

}  // namespace

absl::Status Client::CreateLedgers(std::span<const Ledger> events,
                                   std::span<LedgerResult> results) {
  if (auto status = CheckSizes(events.size(), results.size()); !status.ok()) return status;
  return Call(*connections_, [&](Impl& impl) {
    auto request = impl.ledger().createLedgersRequest(
        internal::MessageWords(events.size() * internal::kLedgerWords));
    auto list = request.initLedgers(static_cast<unsigned>(events.size()));
    for (size_t i = 0; i < events.size(); ++i) {
      internal::EncodeLedger(events[i], list[static_cast<unsigned>(i)]);
    }
    return request.send().then(
        [&](auto&& response) { CopyResults(response.getResults(), results); });
  });
}

absl::Status Client::CreateAccounts(std::span<const Account> events,
                                    std::span<AccountResult> results) {
  if (auto status = CheckSizes(events.size(), results.size()); !status.ok()) return status;
  return Call(*connections_, [&](Impl& impl) {
    auto request = impl.ledger().createAccountsRequest(
        internal::MessageWords(events.size() * internal::kAccountWords));
    auto list = request.initAccounts(static_cast<unsigned>(events.size()));
    for (size_t i = 0; i < events.size(); ++i) {
      internal::EncodeAccount(events[i], list[static_cast<unsigned>(i)]);
    }
    return request.send().then(
        [&](auto&& response) { CopyResults(response.getResults(), results); });
  });
}

absl::Status Client::CreateTransfers(std::span<const Transfer> events,
                                     std::span<TransferResult> results) {
  if (auto status = CheckSizes(events.size(), results.size()); !status.ok()) return status;
  return Call(*connections_, [&](Impl& impl) {
    return impl.SendTransfers(
        events.size(),
        [&](auto&& sink) {
          for (const Transfer& transfer : events) sink(transfer);
        },
        [&](capnp::List<rpc::TransferResult>::Reader in) { CopyResults(in, results); });
  });
}

absl::StatusOr<TransferResult> Client::Submit(const Transfer& transfer) {
  TransferResult result;
  absl::Status status = Submit({&transfer, 1}, {&result, 1});
  if (!status.ok()) return status;
  return result;
}

absl::Status Client::Submit(std::span<const Transfer> chain, std::span<TransferResult> results) {
  return connections_->Run([&](Impl& impl) { return impl.Submit(chain, results); });
}

absl::StatusOr<std::vector<Ledger>> Client::LookupLedgers(std::span<const uint32_t> ids) {
  std::vector<Ledger> found;
  absl::Status status = Call(*connections_, [&](Impl& impl) {
    auto request = impl.ledger().lookupLedgersRequest();
    auto list = request.initIds(static_cast<unsigned>(ids.size()));
    for (size_t i = 0; i < ids.size(); ++i) list.set(static_cast<unsigned>(i), ids[i]);
    return request.send().then([&](auto&& response) {
      for (auto ledger : response.getLedgers()) found.push_back(internal::DecodeLedger(ledger));
    });
  });
  if (!status.ok()) return status;
  return found;
}

absl::StatusOr<std::vector<Account>> Client::LookupAccounts(std::span<const AccountId> ids) {
  std::vector<Account> found;
  absl::Status status = Call(*connections_, [&](Impl& impl) {
    auto request = impl.ledger().lookupAccountsRequest(internal::MessageWords(ids.size() * 3));
    auto list = request.initIds(static_cast<unsigned>(ids.size()));
    for (size_t i = 0; i < ids.size(); ++i) EncodeU128(ids[i], list[static_cast<unsigned>(i)]);
    return request.send().then([&](auto&& response) {
      for (auto account : response.getAccounts()) {
        found.push_back(internal::DecodeAccount(account));
      }
    });
  });
  if (!status.ok()) return status;
  return found;
}

absl::StatusOr<std::vector<Transfer>> Client::LookupTransfers(
    std::span<const TransferId> ids, std::vector<FailedTransfer>* failures) {
  std::vector<Transfer> found;
  if (failures != nullptr) failures->clear();
  absl::Status status = Call(*connections_, [&](Impl& impl) {
    auto request = impl.ledger().lookupTransfersRequest(internal::MessageWords(ids.size() * 3));
    auto list = request.initIds(static_cast<unsigned>(ids.size()));
    for (size_t i = 0; i < ids.size(); ++i) EncodeU128(ids[i], list[static_cast<unsigned>(i)]);
    return request.send().then([&](auto&& response) {
      for (auto transfer : response.getTransfers()) {
        found.push_back(internal::DecodeTransfer(transfer));
      }
      if (failures == nullptr) return;
      for (auto failed : response.getFailures()) {
        failures->push_back(internal::DecodeFailedTransfer(failed));
      }
    });
  });
  if (!status.ok()) return status;
  return found;
}

absl::StatusOr<std::vector<TransferStatusInfo>> Client::GetTransferStatuses(
    std::span<const TransferId> ids) {
  if (connections_->Current()->info().schema_version < 3) {
    return absl::FailedPreconditionError("the server predates transfer statuses (schema 3)");
  }
  std::vector<TransferStatusInfo> found;
  absl::Status status = Call(*connections_, [&](Impl& impl) {
    auto request = impl.ledger().getTransferStatusesRequest(internal::MessageWords(ids.size() * 3));
    auto list = request.initIds(static_cast<unsigned>(ids.size()));
    for (size_t i = 0; i < ids.size(); ++i) EncodeU128(ids[i], list[static_cast<unsigned>(i)]);
    return request.send().then([&](auto&& response) {
      for (auto in : response.getStatuses()) found.push_back(DecodeTransferStatus(in));
    });
  });
  if (!status.ok()) return status;
  return found;
}

absl::StatusOr<PostedAtValueTime> Client::GetPostedAtValueTime(AccountId id,
                                                               uint64_t value_time_ns) {
  if (connections_->Current()->info().schema_version < 3) {
    return absl::FailedPreconditionError("the server predates value-time balances (schema 3)");
  }
  PostedAtValueTime posted;
  absl::Status status = Call(*connections_, [&](Impl& impl) {
    auto request = impl.ledger().getPostedAtValueTimeRequest();
    EncodeU128(id, request.initAccountId());
    request.setValueTimeNs(value_time_ns);
    return request.send().then([&](auto&& response) {
      posted.debits_posted = DecodeU128<AmountTag>(response.getDebitsPosted());
      posted.credits_posted = DecodeU128<AmountTag>(response.getCreditsPosted());
      posted.transfer_count = response.getTransferCount();
    });
  });
  if (!status.ok()) return status;
  return posted;
}

absl::StatusOr<Page<Transfer>> Client::GetAccountTransfers(const AccountFilter& filter) {
  if ((filter.value_time_min_ns != 0 || filter.value_time_max_ns != 0) &&
      connections_->Current()->info().schema_version < 3) {
    // An older server would ignore the range and answer more than was asked.
    return absl::FailedPreconditionError("the server predates value-time filters (schema 3)");
  }
  Page<Transfer> page;
  absl::Status status = Call(*connections_, [&](Impl& impl) {
    auto request = impl.ledger().getAccountTransfersRequest();
    internal::EncodeFilter(filter, request.initFilter());
    return request.send().then([&](auto&& response) {
      for (auto transfer : response.getTransfers()) {
        page.records.push_back(internal::DecodeTransfer(transfer));
      }
      page.next_timestamp_ns = response.getNextTimestampNs();
    });
  });
  if (!status.ok()) return status;
  return page;
}

absl::StatusOr<Page<AccountBalance>> Client::GetAccountBalances(const AccountFilter& filter) {
  Page<AccountBalance> page;
  absl::Status status = Call(*connections_, [&](Impl& impl) {
    auto request = impl.ledger().getAccountBalancesRequest();
    internal::EncodeFilter(filter, request.initFilter());
    return request.send().then([&](auto&& response) {
      for (auto balance : response.getBalances()) {
        page.records.push_back(internal::DecodeBalance(balance));
      }
      page.next_timestamp_ns = response.getNextTimestampNs();
    });
  });
  if (!status.ok()) return status;
  return page;
}

// QueryAccounts and QueryTransfers: `request` makes the call's request, `records` reads the
// reply's list, `decode` one record.
template <typename Record, typename Request, typename Records, typename Decode>
absl::StatusOr<Page<Record>> QueryPage(Client::Connections& connections, const QueryFilter& filter,
                                       Request request, Records records, Decode decode) {
  if (connections.Current()->info().schema_version < 4) {
    return absl::FailedPreconditionError("the server predates ledger-wide queries (schema 4)");
  }
  Page<Record> page;
  absl::Status status = Call(connections, [&](Client::Impl& impl) {
    page.records.clear();
    auto call = request(impl.ledger());
    internal::EncodeQueryFilter(filter, call.initFilter());
    return call.send().then([&](auto&& response) {
      for (auto record : records(response)) page.records.push_back(decode(record));
      page.next_timestamp_ns = response.getNextTimestampNs();
    });
  });
  if (!status.ok()) return status;
  return page;
}

absl::StatusOr<Page<Account>> Client::QueryAccounts(const QueryFilter& filter) {
  return QueryPage<Account>(
      *connections_, filter, [](auto& ledger) { return ledger.queryAccountsRequest(); },
      [](auto& response) { return response.getAccounts(); }, internal::DecodeAccount);
}

absl::StatusOr<Page<Transfer>> Client::QueryTransfers(const QueryFilter& filter) {
  return QueryPage<Transfer>(
      *connections_, filter, [](auto& ledger) { return ledger.queryTransfersRequest(); },
      [](auto& response) { return response.getTransfers(); }, internal::DecodeTransfer);
}

absl::StatusOr<TrialBalance> Client::GetTrialBalance(uint32_t ledger) {
  TrialBalance trial_balance;
  absl::Status status = Call(*connections_, [&](Impl& impl) {
    auto request = impl.ledger().trialBalanceRequest();
    request.setLedger(ledger);
    return request.send().then([&](auto&& response) {
      trial_balance = internal::DecodeTrialBalance(response.getTrialBalance());
    });
  });
  if (!status.ok()) return status;
  return trial_balance;
}

absl::StatusOr<ServerInfo> Client::GetServerInfo() {
  ServerInfo info;
  absl::Status status = Call(*connections_, [&](Impl& impl) {
    return impl.ledger().infoRequest().send().then(
        [&](auto&& response) { info = DecodeInfo(response.getInfo()); });
  });
  if (!status.ok()) return status;
  return info;
}

absl::StatusOr<ChangePage> Client::GetChanges(uint64_t from_sequence, uint32_t limit) {
  ChangePage page;
  absl::Status status = Call(*connections_, [&](Impl& impl) {
    auto request = impl.ledger().changesRequest();
    request.setFromSequence(from_sequence);
    request.setLimit(limit);
    return request.send().then([&](auto&& response) {
      for (auto change : response.getChanges()) page.changes.push_back(DecodeChange(change));
      page.next_sequence = response.getNextSequence();
      page.oldest_sequence = response.getOldestSequence();
    });
  });
  if (!status.ok()) return status;
  return page;
}

absl::Status Client::Subscribe(uint64_t from_sequence,
                               std::function<void(std::span<const FeedChange>)> on_changes,
                               std::function<void(const absl::Status&)> on_end) {
  return Subscribe(SubscribeOptions{.from_sequence = from_sequence,
                                    .on_changes = std::move(on_changes),
                                    .on_checkpoint = nullptr,
                                    .on_end = std::move(on_end)});
}

absl::Status Client::Subscribe(SubscribeOptions options) {
  return connections_->Run([&](Impl& impl) {
    return impl.Subscribe(options);  // a copy: it may run again
  });
}

absl::StatusOr<std::vector<FeedCheckpoint>> Client::Checkpoints(uint64_t from_op) {
  if (connections_->Current()->info().schema_version < 6) {
    return absl::FailedPreconditionError("the server predates checkpoints (schema 6)");
  }
  std::vector<FeedCheckpoint> checkpoints;
  absl::Status status = Call(*connections_, [&](Impl& impl) {
    checkpoints.clear();
    auto request = impl.ledger().checkpointsRequest();
    request.setFromOp(from_op);
    return request.send().then([&](auto&& response) {
      for (auto checkpoint : response.getCheckpoints()) {
        checkpoints.push_back(DecodeCheckpoint(checkpoint));
      }
    });
  });
  if (!status.ok()) return status;
  return checkpoints;
}

void Client::Unsubscribe() { connections_->Current()->Unsubscribe(); }

absl::Status SetServer(const std::string& addresses, const std::string& etcd_endpoints,
                       const std::string& replica_group, ClientOptions& options) {
  const std::vector<std::string> members = absl::StrSplit(addresses, ',', absl::SkipEmpty());
  options.etcd_endpoints = absl::StrSplit(etcd_endpoints, ',', absl::SkipEmpty());
  options.replica_group = replica_group;
  if (options.etcd_endpoints.empty() != replica_group.empty()) {
    return absl::InvalidArgumentError("--etcd and --replica-group go together");
  }
  if (members.size() > 1 || !options.etcd_endpoints.empty()) {
    options.addresses = members;
  } else if (members.size() == 1) {
    options.address = members[0];
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  absl::StatusOr<std::string> token = base::ReadFileToString(path);
  if (!token.ok()) return absl::NotFoundError(absl::StrCat("cannot read the token file ", path));
  while (!token->empty() &&
         (token->back() == '\n' || token->back() == '\r' || token->back() == ' ')) {
    token->pop_back();
  }
  if (token->size() < 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("the token in ", path, " is shorter than 16 characters"));
  }
  return token;
}

absl::StatusOr<std::string> ReadPrivateTokenFile(const std::string& path) {
  struct stat status {};
  if (stat(path.c_str(), &status) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot read the token file ", path));
  }
  if ((status.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", status.st_mode & 07777u);
    return absl::PermissionDeniedError(absl::StrCat(
        "the token file ", path, " may be read or written by others than its owner (mode ", mode,
        "); run: chmod 600 ", path));
  }
  return ReadTokenFile(path);
}

std::string ChangeJson(const FeedChange& change) {
  capnp::MallocMessageBuilder message(
      static_cast<capnp::uint>(internal::MessageWords(internal::kChangeWords).wordCount));
  auto out = message.initRoot<rpc::Change>();
  out.setSequence(change.sequence);
  out.setKind(static_cast<rpc::ChangeKind>(change.kind));
  out.setTimestampNs(change.timestamp_ns);
  internal::EncodeTransfer(change.transfer, out.initTransfer());
  EncodeU128(change.transfer.debit_account_id, out.initDebitAccountId());
  internal::EncodeBalance(change.debit_balance, out.initDebitBalance());
  EncodeU128(change.transfer.credit_account_id, out.initCreditAccountId());
  internal::EncodeBalance(change.credit_balance, out.initCreditBalance());
  std::string text;
  internal::EncodeJson(capnp::toDynamic(out.asReader()), text);
  return text;
}

}  // namespace ledger::net
