#include "net/server.h"

#include <signal.h>
#include <sys/socket.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "base/file.h"
#include "base/thread.h"
#include "capnp/rpc-twoparty.h"
#include "capnp/rpc.capnp.h"
#include "capnp/rpc.h"
#include "capnp/serialize.h"
#include "cluster/group.h"
#include "engine/shard.h"
#include "kj/async-io.h"
#include "kj/async-unix.h"
#include "kj/compat/tls.h"
#include "net/client.h"  // ReadPrivateTokenFile
#include "net/internal/admission.h"
#include "net/internal/console_files.h"
#include "net/internal/core.h"
#include "net/internal/group_role.h"
#include "net/internal/http_api.h"
#include "net/internal/log_verifier.h"
#include "net/internal/service.h"
#include "net/internal/tls.h"
#include "net/internal/unfinished_replies.h"
#include "net/metrics_http.h"
#include "net/replication.capnp.h"
#include "net/server_metrics.h"
#include "net/tokens.h"
#include "wal/format.h"

namespace ledger::net {
namespace {

using internal::Admission;
using internal::Connection;
using internal::Core;
using internal::EngineTurn;
using internal::GroupRole;
using internal::ServiceState;

// How often the graceful drain looks whether the last replies have left.
constexpr auto kDrainPollInterval = 2 * kj::MILLISECONDS;
constexpr auto kDrainDeadline = 30 * kj::SECONDS;
constexpr auto kStepDownDeadline = 1 * kj::SECONDS;

absl::Status CheckOptions(const ServerOptions& options) {
  const ServerLimits& limits = options.limits;
  if (options.data_dir.empty()) return absl::InvalidArgumentError("no data directory given");
  if (options.token.empty() && options.tokens_file.empty()) {
    return absl::InvalidArgumentError("no token: give a token, a tokens file or both");
  }
  if (options.shard_count < 1 || options.shard_count > engine::kShardsMax) {
    return absl::InvalidArgumentError(absl::StrCat("shards must be 1..", engine::kShardsMax));
  }
  if (options.shard_threads > options.shard_count) {
    return absl::InvalidArgumentError("shard threads must be 0 (automatic) to the shard count");
  }
  if (limits.batch_events_max == 0 || limits.batch_events_max > wal::kEventsPerEntryMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch events max must be 1..", wal::kEventsPerEntryMax));
  }
  if (limits.query_ids_max == 0 || limits.query_results_max == 0 || limits.connections_max == 0 ||
      limits.inflight_calls_max == 0) {
    return absl::InvalidArgumentError("limits must be positive");
  }
  if (limits.message_bytes_max < (uint64_t{64} << 10)) {
    return absl::InvalidArgumentError("the message size limit must be at least 64 KiB");
  }
  const uint64_t hot_transfers_min = 4 * limits.batch_events_max * options.shard_count;
  if (options.hot_transfers != 0 && options.hot_transfers < hot_transfers_min) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the window of transfers in memory must be 0 (all) or at least ", hot_transfers_min,
        " (4 batches of ", limits.batch_events_max, " per shard), not ", options.hot_transfers));
  }
  if (options.tls_certificate_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate and a key file");
  }
  if (!options.tls_client_ca_file.empty() && options.tls_certificate_file.empty()) {
    return absl::InvalidArgumentError("client certificates need TLS: a certificate and a key");
  }
  if (!options.console_dir.empty() && options.http_address.empty()) {
    return absl::InvalidArgumentError("the console (--console-dir) is served on --http: give both");
  }
  const GroupOptions& group = options.group;
  if (!group.name.empty()) {
    if (!cluster::IsValidMemberName(group.name) || !cluster::IsValidMemberName(group.member)) {
      return absl::InvalidArgumentError(
          "a group's and a member's names are 1 to 64 of [A-Za-z0-9._-]");
    }
    if (group.etcd.empty() || group.token.empty() || group.replication_listen.empty()) {
      return absl::InvalidArgumentError(
          "a group member needs etcd endpoints, the group token and a replication address");
    }
    if (group.lease_ttl_s < 1 || group.lag_max_ms == 0) {
      return absl::InvalidArgumentError("the lease and the lag bound must be positive");
    }
  }
  return absl::OkStatus();
}

// A socket, its RPC system and the connection state its capabilities share.
class ConnectionHolder {
 public:
  ConnectionHolder(ServiceState& state, kj::Own<kj::AsyncIoStream> stream,
                   capnp::ReaderOptions reader_options, std::unique_ptr<Admission::Place> place)
      : state_(state),
        stream_(kj::mv(stream)),
        place_(std::move(place)),
        messages_(kj::heap<internal::UnfinishedReplies>(*stream_, state.unfinished_reply_bytes,
                                                        [this] { CheckReplies(); })),
        network_(kj::heap<capnp::TwoPartyVatNetwork>(*messages_, capnp::rpc::twoparty::Side::SERVER,
                                                     reader_options)),
        connection_(kj::refcounted<Connection>()),
        rpc_(kj::heap<capnp::RpcSystem<capnp::rpc::twoparty::VatId>>(capnp::makeRpcServer(
            *network_,
            capnp::Capability::Client(internal::NewGateway(state, kj::addRef(*connection_)))))) {
    connection_->network = network_.get();
    connection_->replies = messages_.get();
    connection_->place = place_.get();
    // The RPC system stops reading a connection with this many bytes of calls unanswered:
    // per-connection back-pressure, two largest messages deep.
    rpc_->setFlowLimit(2 * reader_options.traversalLimitInWords);
    state_.connections.insert(connection_.get());
  }
  ~ConnectionHolder() { Detach(); }

  Connection& connection() { return *connection_; }
  capnp::TwoPartyVatNetwork& network() { return *network_; }
  Admission::Place& place() { return *place_; }

  // Ends the RPC system (the client's calls end with the connection) and gives back the socket,
  // to tell the client why.
  kj::Own<kj::AsyncIoStream> TakeStream() {
    Detach();
    return kj::mv(stream_);
  }

 private:
  void Detach() {
    if (rpc_.get() == nullptr) return;
    connection_->network = nullptr;
    connection_->replies = nullptr;
    state_.unsent_reply_bytes -= connection_->unsent_reply_bytes;
    connection_->unsent_reply_bytes = 0;
    connection_->place = nullptr;
    connection_->closed = true;
    state_.connections.erase(connection_.get());
    rpc_ = nullptr;  // before the network it uses, and the network before its stream
    network_ = nullptr;
    messages_ = nullptr;
    place_ = nullptr;
  }

  // Closes the connection, telling the client why, when the replies it holds pass a limit.
  void CheckReplies() {
    const std::string why = internal::ReplyLimitPassed(state_, *connection_);
    if (!why.empty()) connection_->CloseFor(why);
  }

  ServiceState& state_;
  kj::Own<kj::AsyncIoStream> stream_;
  std::unique_ptr<Admission::Place> place_;
  kj::Own<internal::UnfinishedReplies> messages_;
  kj::Own<capnp::TwoPartyVatNetwork> network_;
  kj::Own<Connection> connection_;
  kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc_;
};

// The bytes of a Cap'n Proto RPC Abort message carrying `reason`: a client's RPC system ends
// every call of the connection with it, so the client learns why it was refused rather than
// "Peer disconnected".
kj::Array<capnp::word> AbortMessage(const std::string& reason) {
  capnp::MallocMessageBuilder message(64);
  auto abort = message.initRoot<capnp::rpc::Message>().initAbort();
  abort.setType(capnp::rpc::Exception::Type::OVERLOADED);
  abort.setReason(reason);
  return capnp::messageToFlatArray(message);
}

class Listener final : private kj::TaskSet::ErrorHandler {
 public:
  // `tls`, when not null, secures every connection (and outlives the listener).
  // `admission` outlives the listener.
  Listener(ServiceState& state, Admission& admission, kj::Timer& timer, kj::TlsContext* tls,
           const std::function<void(std::string_view)>& log)
      : state_(state), admission_(admission), timer_(timer), tls_(tls), log_(log) {
    reader_options_.traversalLimitInWords =
        state.options.limits.message_bytes_max / sizeof(capnp::word);
  }

  kj::Promise<void> Accept(kj::ConnectionReceiver& receiver) {
    return receiver.accept().then([this, &receiver](kj::Own<kj::AsyncIoStream> stream) {
      Admission::Outcome outcome = admission_.Admit(PeerAddress(*stream));
      if (outcome.evicted.has_value()) {
        state_.metrics.ConnectionsEvicted(*outcome.evicted).Increment();
      }
      if (outcome.place == nullptr) {
        // Every connection is logged in. Told why over plain TCP; over TLS dropped at once,
        // rather than paying a handshake for a connection turned away.
        state_.metrics.connections_rejected_total.Increment();
        if (tls_ == nullptr) tasks_.add(Refuse(kj::mv(stream), outcome.refusal));
      } else {
        state_.metrics.connections_accepted_total.Increment();
        tasks_.add(tls_ != nullptr ? Handshake(kj::mv(stream), std::move(outcome.place))
                                   : Serve(kj::mv(stream), std::move(outcome.place)));
      }
      return Accept(receiver);
    });
  }

 private:
  // Refusals being told at once; more are closed without a word. Each holds a socket for at
  // most kRefusalLinger.
  static constexpr uint32_t kRefusalsMax = 32;
  // After the refusal the server reads (and drops) what the client still sends until it closes:
  // closing with unread bytes would reset the connection, and the client could lose the reason.
  static constexpr auto kRefusalLinger = 1 * kj::SECONDS;
  static constexpr uint64_t kRefusalDrainBytesMax = 64 << 10;

  static std::string PeerAddress(kj::AsyncIoStream& stream) {
    sockaddr_storage address{};
    kj::uint length = sizeof(address);
    KJ_IF_MAYBE (exception, kj::runCatchingExceptions([&]() {
                   stream.getpeername(reinterpret_cast<sockaddr*>(&address), &length);
                 })) {
      return "local";
    }
    return internal::AddressKey(reinterpret_cast<sockaddr*>(&address), length);
  }

  // A handshake gets the login timeout too, and counts as a connection not logged in (an
  // evicted one ends at once: the client learns no reason). A failure (a client without TLS, or
  // one that does not trust the certificate) is one line in the log, never a stack trace.
  kj::Promise<void> Handshake(kj::Own<kj::AsyncIoStream> stream,
                              std::unique_ptr<Admission::Place> place) {
    auto evicted = kj::newPromiseAndFulfiller<kj::AuthenticatedStream>();
    place->on_evicted = [fulfiller = evicted.fulfiller.get()](const std::string&) {
      fulfiller->reject(KJ_EXCEPTION(DISCONNECTED, "evicted: too many connections not logged in"));
    };
    Admission::Place& borrowed = *place;
    return timer_
        .timeoutAfter(state_.options.limits.login_timeout_ms * kj::MILLISECONDS,
                      tls_->wrapServer(kj::AuthenticatedStream{
                          kj::mv(stream), kj::UnknownPeerIdentity::newInstance()}))
        .exclusiveJoin(kj::mv(evicted.promise))
        .then(
            [this, place = std::move(place)](kj::AuthenticatedStream secured) mutable {
              place->on_evicted = nullptr;
              // With --tls-client-ca the handshake verified it: its name finds its grant.
              auto& peer = kj::downcast<kj::TlsPeerIdentity>(*secured.peerIdentity);
              std::string certificate_name =
                  peer.hasCertificate() ? std::string(peer.getCommonName().cStr()) : "";
              return Serve(kj::mv(secured.stream), std::move(place), std::move(certificate_name));
            },
            [this, &borrowed](kj::Exception&& exception) -> kj::Promise<void> {
              if (borrowed.evicted()) return kj::READY_NOW;
              state_.metrics.tls_handshakes_failed_total.Increment();
              log_(absl::StrCat("TLS handshake failed: ", internal::TlsFailureReason(exception)));
              return kj::READY_NOW;
            })
        .attach(kj::mv(evicted.fulfiller));
  }

  // Serves until the client goes, the connection is closed (Connection::Close), the login
  // timeout passes without a login, or the connection is evicted; the last two are told why.
  kj::Promise<void> Serve(kj::Own<kj::AsyncIoStream> stream,
                          std::unique_ptr<Admission::Place> place,
                          std::string certificate_name = "") {
    auto holder =
        kj::heap<ConnectionHolder>(state_, kj::mv(stream), reader_options_, std::move(place));
    holder->connection().certificate_name = std::move(certificate_name);
    auto closed = kj::newPromiseAndFulfiller<void>();
    auto evicted = kj::newPromiseAndFulfiller<std::string>();
    auto revoked = kj::newPromiseAndFulfiller<void>();
    Connection& connection = holder->connection();
    connection.closer = kj::mv(closed.fulfiller);
    connection.revoker = kj::mv(revoked.fulfiller);
    holder->place().on_evicted = [fulfiller = evicted.fulfiller.get()](const std::string& why) {
      fulfiller->fulfill(std::string(why));
    };
    const uint32_t timeout_ms = state_.options.limits.login_timeout_ms;
    auto login_deadline =
        timer_.afterDelay(timeout_ms * kj::MILLISECONDS)
            .then([&connection, timeout_ms]() -> kj::Promise<std::string> {
              if (connection.authenticated) return kj::NEVER_DONE;
              return absl::StrCat(internal::kRefusedMarker, "not logged in within ", timeout_ms,
                                  " ms (--login-timeout-ms)");
            });
    return holder->network()
        .onDisconnect()
        .then([] { return std::string(); })
        .exclusiveJoin(closed.promise.then([&connection] { return connection.close_reason; }))
        .exclusiveJoin(revoked.promise.then([this, timeout_ms]() -> kj::Promise<std::string> {
          // Its calls meanwhile are told why they fail; then it goes, as one not logged in.
          return timer_.afterDelay(timeout_ms * kj::MILLISECONDS).then([] {
            return absl::StrCat(internal::kTokenRevokedMarker, "; the connection is closed");
          });
        }))
        .exclusiveJoin(kj::mv(login_deadline))
        .exclusiveJoin(kj::mv(evicted.promise))
        .then([this, holder = kj::mv(holder)](std::string why) mutable -> kj::Promise<void> {
          if (why.empty()) return kj::READY_NOW;
          kj::Own<kj::AsyncIoStream> socket = holder->TakeStream();
          holder = nullptr;
          return Refuse(kj::mv(socket), why);
        })
        .attach(kj::mv(evicted.fulfiller));
  }

  // Tells a client why it is turned away (an RPC Abort), then closes once it has gone, or after
  // kRefusalLinger.
  kj::Promise<void> Refuse(kj::Own<kj::AsyncIoStream> stream, const std::string& why) {
    if (refusals_ >= kRefusalsMax) return kj::READY_NOW;  // dropping the stream closes it
    ++refusals_;
    kj::Array<capnp::word> message = AbortMessage(why);
    kj::AsyncIoStream& socket = *stream;
    auto bytes = message.asBytes();
    auto told = socket.write(bytes.begin(), bytes.size()).then([this, &socket] {
      socket.shutdownWrite();
      return Drain(socket, 0);
    });
    return timer_.timeoutAfter(kRefusalLinger, kj::mv(told))
        .then([] {}, [](kj::Exception&&) {})
        .attach(kj::mv(stream), kj::mv(message), kj::defer([this] { --refusals_; }));
  }

  kj::Promise<void> Drain(kj::AsyncIoStream& socket, uint64_t drained_bytes) {
    return socket.tryRead(drain_scratch_, 1, sizeof(drain_scratch_))
        .then([this, &socket, drained_bytes](size_t got) -> kj::Promise<void> {
          if (got == 0 || drained_bytes + got > kRefusalDrainBytesMax) return kj::READY_NOW;
          return Drain(socket, drained_bytes + got);
        });
  }

  void taskFailed(kj::Exception&& exception) override {
    log_(absl::StrCat("connection ended: ", exception.getDescription().cStr()));
  }

  ServiceState& state_;
  Admission& admission_;
  kj::Timer& timer_;
  kj::TlsContext* tls_;
  const std::function<void(std::string_view)>& log_;
  capnp::ReaderOptions reader_options_;
  uint32_t refusals_ = 0;         // connections being told they are refused
  kj::byte drain_scratch_[4096];  // what refused clients still send, dropped
  kj::TaskSet tasks_{*this};
};

// Waits until `done()` holds, looking every few milliseconds, for at most the drain deadline.
kj::Promise<bool> PollUntil(kj::Timer& timer, kj::TimePoint deadline, std::function<bool()> done) {
  if (done()) return true;
  if (timer.now() >= deadline) return false;
  return timer.afterDelay(kDrainPollInterval)
      .then([&timer, deadline, done = kj::mv(done)]() mutable {
        return PollUntil(timer, deadline, kj::mv(done));
      });
}

absl::Status WriteReadyFile(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write ", temporary));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", temporary));
  }
  return absl::OkStatus();
}

// Binds `address` (host:port; port 0 picks one); `bound` gets the address with the real port.
absl::StatusOr<kj::Own<kj::ConnectionReceiver>> Listen(kj::AsyncIoContext& io,
                                                       const std::string& address,
                                                       std::string* bound) {
  kj::Own<kj::ConnectionReceiver> receiver;
  KJ_IF_MAYBE (exception, kj::runCatchingExceptions([&]() {
                 receiver = io.provider->getNetwork()
                                .parseAddress(address.c_str())
                                .wait(io.waitScope)
                                ->listen();
               })) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address, ": ", exception->getDescription().cStr()));
  }
  *bound = absl::StrCat(address.substr(0, address.rfind(':')), ":", receiver->getPort());
  return receiver;
}

struct Tls {
  kj::Own<kj::TlsKeypair> keypair;
  kj::Vector<kj::TlsCertificate> client_cas;  // mutual TLS: the CA clients' certificates need
  kj::Own<kj::TlsContext> context;
};

absl::StatusOr<Tls> MakeTls(const ServerOptions& options) {
  LEDGER_ASSIGN_OR_RETURN(std::string certificate,
                          base::ReadFileToString(options.tls_certificate_file));
  LEDGER_ASSIGN_OR_RETURN(std::string key, base::ReadFileToString(options.tls_key_file));
  std::string client_ca;
  if (!options.tls_client_ca_file.empty()) {
    LEDGER_ASSIGN_OR_RETURN(client_ca, base::ReadFileToString(options.tls_client_ca_file));
  }
  Tls tls;
  KJ_IF_MAYBE (exception, kj::runCatchingExceptions([&]() {
                 tls.keypair = kj::heap<kj::TlsKeypair>(kj::TlsKeypair{
                     kj::TlsPrivateKey(key.c_str()), kj::TlsCertificate(certificate.c_str())});
                 kj::TlsContext::Options tls_options;
                 tls_options.defaultKeypair = *tls.keypair;
                 if (!client_ca.empty()) {
                   tls.client_cas.add(kj::TlsCertificate(client_ca.c_str()));
                   tls_options.useSystemTrustStore = false;
                   tls_options.verifyClients = true;
                   tls_options.trustedCertificates = tls.client_cas;
                 }
                 tls.context = kj::heap<kj::TlsContext>(kj::mv(tls_options));
               })) {
    return absl::InvalidArgumentError(
        absl::StrCat("TLS certificate or key: ", exception->getDescription().cStr()));
  }
  return tls;
}

// The replication port's bootstrap: a follower's follow() goes to the role, which answers only
// while it leads; snapshot() to any member.
class ReplicationSourceImpl final : public rpc::ReplicationSource::Server {
 public:
  explicit ReplicationSourceImpl(GroupRole& role) : role_(role) {}
  kj::Promise<void> follow(FollowContext context) override { return role_.Follow(context); }
  kj::Promise<void> snapshot(SnapshotContext context) override { return role_.Snapshot(context); }

 private:
  GroupRole& role_;  // outlives the replication server
};

// A replica group's member: its replication port and its role, for the server's life.
struct Membership {
  kj::Own<kj::ConnectionReceiver> receiver;
  std::unique_ptr<GroupRole> role;
  std::unique_ptr<capnp::TwoPartyServer> server;
  kj::Promise<void> serving = nullptr;
};

absl::StatusOr<std::unique_ptr<Membership>> JoinGroup(
    const ServerOptions& options, kj::AsyncIoContext& io, Core& core,
    const std::string& client_address, const std::function<void(std::string_view)>& log) {
  auto membership = std::make_unique<Membership>();
  std::string bound;
  LEDGER_ASSIGN_OR_RETURN(membership->receiver,
                          Listen(io, options.group.replication_listen, &bound));
  const std::string advertise =
      options.group.replication_advertise.empty() ? bound : options.group.replication_advertise;
  membership->role = std::make_unique<GroupRole>(core, *io.provider, options.group, advertise,
                                                 client_address, log);
  membership->server =
      std::make_unique<capnp::TwoPartyServer>(kj::heap<ReplicationSourceImpl>(*membership->role));
  membership->serving =
      membership->server->listen(*membership->receiver)
          .eagerlyEvaluate([&log](kj::Exception&& exception) {
            log(absl::StrCat("replication port stopped: ", exception.getDescription().cStr()));
          });
  log(absl::StrCat("replication on ", bound, " (group ", options.group.name, ", member ",
                   options.group.member, ")"));
  return membership;
}

// The tokens clients may log in with: the tokens file's and the admin token (either may be
// absent, not both).
absl::StatusOr<std::shared_ptr<const TokenSet>> LoadTokens(const ServerOptions& options) {
  std::string admin_token = options.token;
  if (!options.token_file.empty()) {
    LEDGER_ASSIGN_OR_RETURN(admin_token, ReadPrivateTokenFile(options.token_file));
  }
  if (options.tokens_file.empty()) {
    return std::make_shared<const TokenSet>(
        std::vector<TokenGrant>{TokenGrant{admin_token, "", Role::kAdmin, {}}});
  }
  LEDGER_ASSIGN_OR_RETURN(TokenSet tokens, ReadTokensFile(options.tokens_file, admin_token));
  return std::make_shared<const TokenSet>(std::move(tokens));
}

// On each SIGHUP, re-reads the tokens file and the admin token's file; a file that cannot be
// read or parsed leaves the tokens in use as they are.
kj::Promise<void> ReloadTokensOnHangup(kj::UnixEventPort& port, ServiceState& state,
                                       const std::function<void(std::string_view)>& log) {
  return port.onSignal(SIGHUP).then([&port, &state, &log](siginfo_t) {
    const ServerOptions& options = state.options;
    if (options.tokens_file.empty() && options.token_file.empty()) {
      log("SIGHUP: no --tokens-file or --token-file to re-read");
    } else if (absl::StatusOr<std::shared_ptr<const TokenSet>> tokens = LoadTokens(options);
               !tokens.ok()) {
      state.metrics.token_reloads_failed_total.Increment();
      log(absl::StrCat("SIGHUP: kept the ", state.tokens->grants().size(),
                       " tokens in use: ", tokens.status().message()));
    } else {
      const size_t count = (*tokens)->grants().size();
      const size_t closed = state.ReplaceTokens(std::move(*tokens));
      state.metrics.token_reloads_total.Increment();
      log(absl::StrCat("SIGHUP: tokens reloaded: ", count, " tokens; revoked ", closed,
                       " connections of tokens no longer listed"));
    }
    return ReloadTokensOnHangup(port, state, log);
  });
}

absl::Status Serve(const ServerOptions& options, kj::AsyncIoContext& io,
                   const std::function<void(std::string_view)>& log, GroupStop* group_stop) {
  // The console's files first: a wrong directory is found before the log is read.
  std::unique_ptr<const internal::ConsoleFiles> console;
  if (!options.console_dir.empty()) {
    LEDGER_ASSIGN_OR_RETURN(console, internal::ConsoleFiles::Load(options.console_dir));
    log(absl::StrCat("console: ", console->file_count(), " files (", console->total_bytes(),
                     " bytes) from ", options.console_dir));
  }
  Registry registry;
  ServerMetrics metrics(registry);
  LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<Core> core,
                          Core::Open(options, io.unixEventPort, log, metrics));
  internal::LogVerifier log_verifier(options.data_dir, options.verify_log_bytes_per_second_max,
                                     metrics);
  ServiceState state(*core, options, io.provider->getTimer(), metrics);
  state.log_verifier = &log_verifier;
  state.log = log;
  LEDGER_ASSIGN_OR_RETURN(state.tokens, LoadTokens(options));
  metrics.accounts_max.Set(static_cast<int64_t>(options.accounts_max));
  metrics.transfers_max.Set(static_cast<int64_t>(options.transfers_max));

  Tls tls;  // before the listener, which borrows the context
  std::string bound;
  LEDGER_ASSIGN_OR_RETURN(kj::Own<kj::ConnectionReceiver> receiver,
                          Listen(io, options.listen_address, &bound));
  std::unique_ptr<Membership> membership;
  kj::Promise<absl::Status> role_stopped = kj::NEVER_DONE;
  if (!options.group.name.empty()) {
    LEDGER_ASSIGN_OR_RETURN(membership, JoinGroup(options, io, *core, bound, log));
    state.role = membership->role.get();
    role_stopped = membership->role->Run();
  }
  GroupRole* role = membership != nullptr ? membership->role.get() : nullptr;
  core->set_on_durable([&state, role] {
    if (role != nullptr) role->OnLocalDurable();
    state.PumpSubscriptions();
  });
  core->set_on_checkpoints([&state] { state.PumpSubscriptions(); });
  core->set_on_published([role] {
    if (role != nullptr) role->OnPublished();
  });
  if (!options.tls_certificate_file.empty()) {
    LEDGER_ASSIGN_OR_RETURN(tls, MakeTls(options));
  }
  log(absl::StrCat("listening on ", bound, tls.context ? " (TLS)" : ""));

  // Gauges of the engine's state are set after each change (Core::AfterChange); the rest are
  // read when scraped, on this thread.
  Admission admission(options.limits);
  MetricsHttpServer* scraped = nullptr;     // the server below, once built
  const internal::HttpApi* http = nullptr;  // the HTTP API, once built
  // What both the --metrics listener and the HTTP API's GET /v1/metrics serve.
  const std::function<std::string()> render_metrics = [&] {
    metrics.last_op.Set(static_cast<int64_t>(core->last_op()));
    metrics.durable_op.Set(static_cast<int64_t>(core->durable_op()));
    metrics.storage_full.Set(core->has_room() ? 0 : 1);
    metrics.connections.Set(static_cast<int64_t>(state.connections.size()));
    if (http != nullptr) metrics.http_connections.Set(http->open_connections());
    metrics.connections_unauthenticated.Set(static_cast<int64_t>(admission.unauthenticated()));
    metrics.held_reply_bytes.Set(
        static_cast<int64_t>(state.unsent_reply_bytes + state.unfinished_reply_bytes));
    if (scraped != nullptr) {
      Counter& unauthorized = metrics.metrics_requests_unauthorized_total;
      unauthorized.Add(scraped->unauthorized_requests() - unauthorized.Value());
    }
    if (role != nullptr) {
      metrics.group_leader.Set(role->leading() ? 1 : 0);
      metrics.group_epoch.Set(static_cast<int64_t>(role->epoch()));
      metrics.group_in_sync.Set(static_cast<int64_t>(role->in_sync_count()));
      metrics.group_committed_op.Set(static_cast<int64_t>(core->group_committed_op()));
    }
    metrics.UpdateProcessMetrics();
    return registry.Render();
  };
  MetricsHttpServer metrics_server(io.provider->getTimer(), render_metrics, options.metrics_token);
  scraped = &metrics_server;
  kj::Own<kj::ConnectionReceiver> metrics_receiver;
  std::string metrics_bound;
  kj::Promise<void> serving_metrics = kj::NEVER_DONE;
  if (!options.metrics_address.empty()) {
    LEDGER_ASSIGN_OR_RETURN(metrics_receiver, Listen(io, options.metrics_address, &metrics_bound));
    serving_metrics =
        metrics_server.Listen(*metrics_receiver).eagerlyEvaluate([&log](kj::Exception&& exception) {
          log(absl::StrCat("metrics endpoint stopped: ", exception.getDescription().cStr()));
        });
    log(absl::StrCat("metrics at http://", metrics_bound, "/metrics",
                     options.metrics_token.empty() ? "" : " (bearer token required)"));
  }
  internal::HttpApi http_api(state, console.get(), render_metrics);
  http = &http_api;
  kj::Own<kj::ConnectionReceiver> http_receiver;
  std::string http_bound;
  kj::Promise<void> serving_http = kj::NEVER_DONE;
  if (!options.http_address.empty()) {
    LEDGER_ASSIGN_OR_RETURN(http_receiver, Listen(io, options.http_address, &http_bound));
    serving_http =
        http_api.Listen(*http_receiver).eagerlyEvaluate([&log](kj::Exception&& exception) {
          log(absl::StrCat("HTTP API stopped: ", exception.getDescription().cStr()));
        });
    log(absl::StrCat(
        "HTTP API at http://", http_bound, "/v1/",
        console != nullptr ? absl::StrCat(", console at http://", http_bound, "/console/") : ""));
  }
  if (!options.ready_file.empty()) {
    LEDGER_RETURN_IF_ERROR(WriteReadyFile(
        options.ready_file, absl::StrCat(bound, "\n", metrics_bound, "\n", http_bound, "\n")));
  }

  kj::Promise<void> reloading =
      ReloadTokensOnHangup(io.unixEventPort, state, log)
          .eagerlyEvaluate([&log](kj::Exception&& exception) {
            log(absl::StrCat("token reloads stopped: ", exception.getDescription().cStr()));
          });
  Listener listener(state, admission, io.provider->getTimer(), tls.context.get(), log);
  kj::Promise<void> accepting =
      listener.Accept(*receiver).eagerlyEvaluate([&log](kj::Exception&& exception) {
        log(absl::StrCat("stopped accepting connections: ", exception.getDescription().cStr()));
      });
  kj::ForkedPromise<void> watching = core->WatchDurability().fork();
  kj::Promise<void> expiring =
      core->ExpireOnTime(io.provider->getTimer(),
                         [role] { return role == nullptr || role->leading(); })
          .eagerlyEvaluate([&log](kj::Exception&& exception) {
            log(absl::StrCat("expiry stopped: ", exception.getDescription().cStr()));
          });
  absl::Status role_status;  // why the role stopped the member, if it did
  auto stop = io.unixEventPort.onSignal(SIGTERM)
                  .exclusiveJoin(io.unixEventPort.onSignal(SIGINT))
                  .then([&log](siginfo_t signal) {
                    log(absl::StrCat("signal ", signal.si_signo, ": shutting down"));
                  })
                  .exclusiveJoin(watching.addBranch())
                  .exclusiveJoin(role_stopped.then([&log, &role_status](absl::Status why) {
                    log(absl::StrCat("group: ", why.ToString(), ": shutting down"));
                    role_status = why;
                  }));
  KJ_IF_MAYBE (exception, kj::runCatchingExceptions([&]() { stop.wait(io.waitScope); })) {
    return absl::DataLossError(
        absl::StrCat("the log failed: ", exception->getDescription().cStr()));
  }
  if (role != nullptr && role_status.ok()) {
    // Hands the lead over at once rather than after the lease; bounded, etcd may be away.
    io.provider->getTimer()
        .timeoutAfter(kStepDownDeadline, role->StepDown())
        .then([] {}, [](kj::Exception&&) {})
        .wait(io.waitScope);
  }

  // A member whose role stopped (it lost the lead, or must cut its log) will see no more
  // commits: the calls waiting for one end now, their outcome unknown, rather than at the
  // drain's deadline.
  if (!role_status.ok()) core->AbandonWaiters();
  // Graceful: stop accepting, refuse new calls, let the calls in flight finish and their
  // replies leave, then snapshot.
  accepting = nullptr;
  serving_http = nullptr;  // requests on open connections are refused: shutting down
  expiring = nullptr;
  state.shutting_down = true;
  state.EndSubscriptions("the server is shutting down");
  log_verifier.Stop();  // a check in progress is abandoned between two entries
  kj::Timer& timer = io.provider->getTimer();
  const kj::TimePoint deadline = timer.now() + kDrainDeadline;
  auto pending =
      watching.addBranch().then([] { return false; }).exclusiveJoin(PollUntil(timer, deadline, [&] {
        if (state.inflight_calls > 0 || !core->Idle()) return false;
        for (Connection* connection : state.connections) {
          if (connection->network != nullptr && connection->network->getCurrentQueueSize() > 0) {
            return false;
          }
        }
        return true;
      }));
  bool drained = false;
  KJ_IF_MAYBE (exception,
               kj::runCatchingExceptions([&]() { drained = pending.wait(io.waitScope); })) {
    return absl::DataLossError(
        absl::StrCat("the log failed: ", exception->getDescription().cStr()));
  }
  if (!drained) {
    log("shutdown: some replies were still unsent at the deadline");
    // Their calls end now, before what they refer to (on this stack) goes; a reply waiting for
    // an acknowledgement that will not come says its outcome is unknown.
    core->AbandonWaiters();
    io.waitScope.poll();
  }
  LEDGER_RETURN_IF_ERROR(core->log_status());
  // A batch of a call that went away may still be applying: the snapshot waits for it.
  kj::Own<EngineTurn> engine = core->TakeEngine().wait(io.waitScope);
  if (options.snapshot_on_shutdown && core->last_op() > 0) {
    const absl::Status snapshot = core->SnapshotNow();
    // Only a failed log fails the stop. A snapshot that could not be written (a full disk; in
    // a group, last ops not yet committed) leaves nothing behind, and the next start replays
    // the log instead.
    LEDGER_RETURN_IF_ERROR(core->log_status());
    log(snapshot.ok() ? absl::StrCat("snapshot written at op ", core->last_op())
                      : absl::StrCat("no snapshot (the next start replays the log instead): ",
                                     snapshot.message()));
  }
  log(absl::StrCat("stopped at op ", core->last_op()));
  if (!role_status.ok() && group_stop != nullptr) {
    group_stop->restart = true;
    if (role->cut().has_value()) {
      group_stop->cut = true;
      group_stop->cut_after_op = role->cut()->op;
      group_stop->cut_chain_hash = role->cut()->chain_hash;
    }
    if (role->install_from().has_value()) group_stop->install_from = *role->install_from();
  }
  return role_status;
}

// Operator messages: options.log, or stderr.
std::function<void(std::string_view)> LogOf(const ServerOptions& options) {
  if (options.log) return options.log;
  return [](std::string_view message) {
    std::fprintf(stderr, "ledgerd: %.*s\n", static_cast<int>(message.size()), message.data());
  };
}

}  // namespace

absl::Status RunServer(const ServerOptions& options_in, GroupStop* stop) {
  ServerOptions options = options_in;
  options.log = LogOf(options);
  LEDGER_RETURN_IF_ERROR(CheckOptions(options));
  // Before any thread exists: the signals then reach only the event loop, never a worker.
  kj::UnixEventPort::captureSignal(SIGTERM);
  kj::UnixEventPort::captureSignal(SIGINT);
  kj::UnixEventPort::captureSignal(SIGHUP);  // re-reads the tokens file
  signal(SIGPIPE, SIG_IGN);
  if (options.reply_slice_ns != 0) base::SetThisThreadSliceNs(options.reply_slice_ns);
  kj::AsyncIoContext io = kj::setupAsyncIo();
  return Serve(options, io, options.log, stop);
}

absl::Status InstallSnapshotFrom(const ServerOptions& options, const std::string& address) {
  const std::function<void(std::string_view)> log = LogOf(options);
  LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<wal::Directory> directory,
                          wal::Directory::Open(options.data_dir, /*writable=*/true));
  kj::AsyncIoContext io = kj::setupAsyncIo();
  return internal::FetchAndInstall(*io.provider, address, options.group.token, *directory,
                                   internal::EngineOptionsOf(options), log)
      .wait(io.waitScope);
}

}  // namespace ledger::net
