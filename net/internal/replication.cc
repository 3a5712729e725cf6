#include "net/internal/replication.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "base/clock.h"
#include "capnp/rpc-twoparty.h"
#include "net/internal/service.h"
#include "replica/log_schema.h"
#include "wal/log_reader.h"

namespace ledger::net::internal {
namespace {

// One append carries about this much: large enough to amortise a call, small enough to keep a
// follower's apply and the leader's memory per follower short.

// The op of the last entry of a run the ring (or the log) gave.
uint64_t LastOpOf(std::span<const std::byte> entries) {
  uint64_t last_op = 0;
  while (!entries.empty()) {
    wal::EntryHeader header;
    std::memcpy(&header, entries.data(), sizeof(header));
    last_op = header.op;
    entries = entries.subspan(header.entry_size_bytes);
  }
  return last_op;
}

}  // namespace

absl::StatusOr<std::vector<EntryView>> SplitEntries(std::span<const std::byte> bytes) {
  std::vector<EntryView> entries;
  while (!bytes.empty()) {
    EntryView entry;
    if (bytes.size() < sizeof(entry.header)) {
      return absl::InvalidArgumentError("a replicated entry is cut short");
    }
    std::memcpy(&entry.header, bytes.data(), sizeof(entry.header));
    const uint64_t size_bytes = entry.header.entry_size_bytes;
    if (size_bytes < sizeof(entry.header) + entry.header.body_size_bytes ||
        size_bytes > bytes.size() || size_bytes % wal::kEntryAlignBytes != 0) {
      return absl::InvalidArgumentError("a replicated entry's sizes do not hold");
    }
    entry.body = bytes.subspan(sizeof(entry.header), entry.header.body_size_bytes);
    entries.push_back(entry);
    bytes = bytes.subspan(size_bytes);
  }
  return entries;
}

void PutHash(capnp::Data::Builder out, const base::Hash128& hash) {
  LEDGER_REQUIRE(out.size() == 16, out.size());
  std::memcpy(out.begin(), &hash.low, 8);
  std::memcpy(out.begin() + 8, &hash.high, 8);
}

std::optional<base::Hash128> GetHash(capnp::Data::Reader in) {
  if (in.size() != 16) return std::nullopt;
  base::Hash128 hash;
  std::memcpy(&hash.low, in.begin(), 8);
  std::memcpy(&hash.high, in.begin() + 8, 8);
  return hash;
}

// ---------------------------------------------------------------------------------------------
// Leader

struct LeaderReplication::Follower {
  cluster::GroupMember member;
  rpc::EntrySink::Client sink = nullptr;
  uint64_t next_op = 0;  // the next entry to send
  uint64_t durable_op = 0;
  uint64_t committed_sent = 0;
  uint64_t behind_since_ns = 0;
  bool sending = false;
  bool dropped = false;
  uint64_t session = 0;  // tells a reconnected member's new session from its old one
};

// A follower's reports. It may outlive the leader that made it (its connection stays open
// a moment longer): `alive` says whether the leader is still there.
class SessionImpl final : public rpc::FollowerSession::Server {
 public:
  SessionImpl(std::shared_ptr<const bool> alive, std::function<void(uint64_t)> on_durable)
      : alive_(std::move(alive)), on_durable_(std::move(on_durable)) {}
  kj::Promise<void> durable(DurableContext context) override {
    if (*alive_) on_durable_(context.getParams().getOp());
    return kj::READY_NOW;
  }

 private:
  std::shared_ptr<const bool> alive_;
  std::function<void(uint64_t)> on_durable_;
};

LeaderReplication::LeaderReplication(Core& core, kj::Timer& timer, std::string self, uint64_t epoch,
                                     uint64_t start_op, const base::Hash128& start_chain_hash,
                                     std::string token, std::function<void(std::string_view)> log)
    : core_(core),
      timer_(timer),
      self_(std::move(self)),
      epoch_(epoch),
      start_op_(start_op),
      start_chain_hash_(start_chain_hash),
      token_(std::move(token)),
      log_(std::move(log)) {}

LeaderReplication::~LeaderReplication() {
  *alive_ = false;
  log_reader_.Stop();
}

void LeaderReplication::taskFailed(kj::Exception&& exception) {
  log_(absl::StrCat("replication: ", exception.getDescription().cStr()));
}

kj::Promise<LeaderReplication::HeadCheck> LeaderReplication::CheckHead(uint64_t op) {
  const EntryRing& ring = core_.entry_ring();
  HeadCheck check;
  if (op == 0) check.chain_hash = base::Hash128{};
  if (op == start_op_) check.chain_hash = start_chain_hash_;
  if (!check.chain_hash) check.chain_hash = ring.ChainHashAt(op);
  if (op > core_.last_op()) {
    check.chain_hash.reset();  // entries we never had
    return check;
  }
  // Nothing to send yet, or the next entry in the ring.
  check.next_held =
      op == core_.last_op() || (ring.first_op() <= op + 1 && op + 1 <= ring.last_op());
  if (check.chain_hash && check.next_held) return check;
  // Read the log at op: its hash there (or, when op's segment is archived, the next entry's
  // link to it), and whether the next entry is still here.
  auto found = std::make_shared<HeadCheck>(check);
  const wal::Directory& directory = core_.replica().directory();
  return log_reader_
      .Run([&directory, op, found] {
        wal::ScanOptions options = replica::LogScanOptions();
        options.from_op = op;
        (void)wal::ScanLog(directory, options,
                           [op, found](const wal::EntryHeader& header, std::span<const std::byte>) {
                             if (header.op < op) return absl::OkStatus();
                             if (header.op == op) {
                               found->chain_hash = header.chain_hash;
                               return absl::OkStatus();
                             }
                             if (header.op == op + 1) {
                               if (!found->chain_hash) {
                                 found->chain_hash = header.previous_chain_hash;
                               }
                               found->next_held = true;
                             }
                             return absl::CancelledError("found");  // read no further
                           });
      })
      .then([found] { return *found; });
}

namespace {

// This log's chain hashes at ops from_op, from_op + 1, ... through through_op, as far as it
// holds them in a row (none when from_op's segment is archived). Read on a worker.
std::vector<base::Hash128> ReadChainHashes(const wal::Directory& directory, uint64_t from_op,
                                           uint64_t through_op) {
  std::vector<base::Hash128> hashes;
  wal::ScanOptions options = replica::LogScanOptions();
  options.from_op = from_op;
  (void)wal::ScanLog(directory, options,
                     [&](const wal::EntryHeader& header, std::span<const std::byte>) {
                       if (header.op < from_op) return absl::OkStatus();
                       if (header.op > through_op || header.op != from_op + hashes.size()) {
                         return absl::CancelledError("done");
                       }
                       hashes.push_back(header.chain_hash);
                       return absl::OkStatus();
                     });
  return hashes;
}

}  // namespace

kj::Promise<std::optional<std::vector<base::Hash128>>> LeaderReplication::ChainHashes(
    uint64_t from_op, uint64_t through_op) {
  LEDGER_REQUIRE(from_op >= 1 && from_op <= through_op, from_op, through_op);
  const EntryRing& ring = core_.entry_ring();
  if (ring.first_op() <= from_op && through_op <= ring.last_op()) {
    std::vector<base::Hash128> hashes;
    hashes.reserve(through_op - from_op + 1);
    for (uint64_t op = from_op; op <= through_op; ++op) hashes.push_back(*ring.ChainHashAt(op));
    return std::optional<std::vector<base::Hash128>>(std::move(hashes));
  }
  auto hashes = std::make_shared<std::vector<base::Hash128>>();
  const wal::Directory& directory = core_.replica().directory();
  return log_reader_
      .Run([&directory, from_op, through_op, hashes] {
        *hashes = ReadChainHashes(directory, from_op, through_op);
      })
      .then([hashes, from_op, through_op]() -> std::optional<std::vector<base::Hash128>> {
        if (hashes->size() != through_op - from_op + 1) return std::nullopt;
        return std::move(*hashes);
      });
}

kj::Promise<void> LeaderReplication::Follow(FollowContext context) {
  auto hello = context.getParams().getHello();
  if (!TokenMatches(hello.getGroupToken().asBytes(), token_)) {
    return KJ_EXCEPTION(FAILED, "follow: wrong group token");
  }
  cluster::GroupMember member;
  member.name = hello.getMember().cStr();
  const std::optional<base::Hash128> directory_id = GetHash(hello.getDirectoryId());
  const std::optional<base::Hash128> head_hash = GetHash(hello.getHeadChainHash());
  if (!cluster::IsValidMemberName(member.name) || !directory_id || !head_hash ||
      member.name == self_) {
    return KJ_EXCEPTION(FAILED, "follow: malformed hello");
  }
  member.directory_id = *directory_id;
  if (hello.getEpoch() > epoch_) {
    return KJ_EXCEPTION(FAILED, "follow: the follower has seen a newer epoch than this leader's");
  }
  const uint64_t head_op = hello.getHeadOp();
  return CheckHead(head_op).then([this, alive = alive_, context, member = std::move(member),
                                  head_op, head_hash = *head_hash](
                                     HeadCheck ours) mutable -> kj::Promise<void> {
    if (!*alive) throw KJ_EXCEPTION(DISCONNECTED, "follow: no longer the leader");
    auto start = context.getResults().initStart();
    start.setEpoch(epoch_);
    start.setLeaderOp(core_.last_op());
    if (!ours.next_held) {
      // Older segments were archived (ledger-wal archive): a member that holds nothing
      // installs our snapshot and cold store first; one that holds an older history cannot.
      if (head_op > 0) {
        throw KJ_EXCEPTION(FAILED, absl::StrCat("follow: the follower's next op, ", head_op + 1,
                                                ", is no longer in the leader's log (older "
                                                "segments archived); rebuild it on a new "
                                                "directory")
                                       .c_str());
      }
      start.setMustInstall(true);
      log_(absl::StrCat("replication: ", member.name, " must install a snapshot first"));
      return kj::READY_NOW;
    }
    if (!ours.chain_hash.has_value() || *ours.chain_hash != head_hash) {
      // Entries we do not have, written under an older epoch and never acknowledged.
      if (head_op <= start_op_) return AskForCutBeforeStart(start, member.name, head_op);
      start.setMustCut(true);
      start.setCutAfterOp(start_op_);
      PutHash(start.initCutChainHash(16), start_chain_hash_);
      log_(absl::StrCat("replication: ", member.name, " must cut its log after op ", start_op_));
      return kj::READY_NOW;
    }
    auto follower = std::make_unique<Follower>();
    follower->member = member;
    follower->sink = context.getParams().getSink();
    follower->next_op = head_op + 1;
    follower->session = ++sessions_;
    const std::string name = member.name;
    const uint64_t session = follower->session;
    if (auto old = followers_.find(name); old != followers_.end()) old->second->dropped = true;
    followers_[name] = std::move(follower);
    context.getResults().setSession(
        kj::heap<SessionImpl>(alive_, [this, name, session](uint64_t op) {
          auto found = followers_.find(name);
          if (found == followers_.end() || found->second->session != session) return;
          found->second->durable_op = std::max(found->second->durable_op, op);
          Recommit();
        }));
    log_(absl::StrCat("replication: ", name, " follows from op ", head_op + 1));
    Send(*followers_[name]);
    return kj::READY_NOW;
  });
}

kj::Promise<void> LeaderReplication::AskForCutBeforeStart(rpc::LeaderHello::Builder start,
                                                          const std::string& name,
                                                          uint64_t head_op) {
  // The follower's log differs before our start: it holds the tail of an epoch between the
  // one our log continues and ours (its leader was cut off before any of it was acknowledged,
  // and we were elected from the older tail). It keeps what both logs share.
  if (head_op == 0) {
    return KJ_EXCEPTION(FAILED, "follow: the follower's log differs from the leader's at op 0");
  }
  const uint64_t from_op = head_op > kCutSearchOps ? head_op - kCutSearchOps + 1 : 1;
  return ChainHashes(from_op, head_op)
      .then([this, alive = alive_, start, name, from_op,
             head_op](std::optional<std::vector<base::Hash128>> hashes) mutable {
        if (!*alive) throw KJ_EXCEPTION(DISCONNECTED, "follow: no longer the leader");
        if (!hashes) {
          throw KJ_EXCEPTION(FAILED,
                             "follow: the follower's log differs from the leader's before "
                             "ops the leader still holds; rebuild it on a new directory");
        }
        start.setMustCut(true);
        start.setCutFromOp(from_op);
        capnp::Data::Builder out =
            start.initCutChainHashes(static_cast<uint32_t>(hashes->size() * 16));
        for (size_t i = 0; i < hashes->size(); ++i) {
          PutHash(out.slice(16 * i, 16 * (i + 1)), (*hashes)[i]);
        }
        log_(absl::StrCat("replication: ", name,
                          " must cut its log where it last agrees with "
                          "ours, in ops ",
                          from_op, " to ", head_op));
      });
}

void LeaderReplication::Send(Follower& follower) {
  if (follower.sending || follower.dropped) return;
  const EntryRing& ring = core_.entry_ring();
  if (follower.next_op > ring.last_op()) {
    // Nothing new: the commit may have moved since the last append.
    if (core_.group_committed_op() > follower.committed_sent) SendCommit(follower);
    return;
  }
  if (follower.next_op < ring.first_op()) return SendFromLog(follower);
  const std::span<const std::byte> entries =
      ring.EntriesFrom(follower.next_op, kReplicationChunkBytesMax);
  SendChunk(follower, entries, LastOpOf(entries));
}

void LeaderReplication::SendFromLog(Follower& follower) {
  follower.sending = true;
  auto bytes = std::make_shared<std::vector<std::byte>>();
  const uint64_t from_op = follower.next_op;
  const uint64_t until_op = core_.entry_ring().first_op();  // the ring has the rest
  const wal::Directory& directory = core_.replica().directory();
  auto last_op = std::make_shared<uint64_t>(0);
  const std::string name = follower.member.name;
  const uint64_t session = follower.session;
  tasks_.add(log_reader_
                 .Run([&directory, from_op, until_op, bytes, last_op] {
                   wal::ScanOptions options = replica::LogScanOptions();
                   options.from_op = from_op;
                   (void)wal::ScanLog(
                       directory, options,
                       [&](const wal::EntryHeader& header, std::span<const std::byte> body) {
                         if (header.op < from_op) return absl::OkStatus();
                         if (*last_op == 0 && header.op != from_op) {
                           return absl::CancelledError("older segments were archived");
                         }
                         if (header.op >= until_op || bytes->size() >= kReplicationChunkBytesMax) {
                           return absl::CancelledError("enough");
                         }
                         const size_t at = bytes->size();
                         bytes->resize(at + header.entry_size_bytes);  // zero padding
                         std::memcpy(bytes->data() + at, &header, sizeof(header));
                         std::memcpy(bytes->data() + at + sizeof(header), body.data(), body.size());
                         *last_op = header.op;
                         return absl::OkStatus();
                       });
                 })
                 .then([this, name, session, bytes, last_op] {
                   auto found = followers_.find(name);
                   if (found == followers_.end() || found->second->session != session) return;
                   Follower& again = *found->second;
                   again.sending = false;
                   if (*last_op == 0) {
                     // Archived since the follower was taken on (CheckHead saw it here).
                     Drop(again, absl::StrCat("its next entry, op ", again.next_op,
                                              ", is in neither the ring nor the log (older "
                                              "segments archived?)"));
                     return;
                   }
                   SendChunk(again, *bytes, *last_op);
                 }));
}

void LeaderReplication::SendChunk(Follower& follower, std::span<const std::byte> entries,
                                  uint64_t last_op) {
  auto request =
      follower.sink.appendRequest(capnp::MessageSize{entries.size() / sizeof(capnp::word) + 16, 0});
  request.setEpoch(epoch_);
  const uint64_t committed = core_.group_committed_op();
  request.setCommittedOp(committed);
  request.setEntries(
      kj::arrayPtr(reinterpret_cast<const kj::byte*>(entries.data()), entries.size()));
  follower.sending = true;
  follower.committed_sent = committed;
  follower.next_op = last_op + 1;
  const std::string name = follower.member.name;
  const uint64_t session = follower.session;
  // A stream: the promise resolves when the flow window has room for more, not when the
  // follower has applied it.
  tasks_.add(request.send().then(
      [this, name, session] {
        auto found = followers_.find(name);
        if (found == followers_.end() || found->second->session != session) return;
        found->second->sending = false;
        Send(*found->second);
      },
      [this, name, session](kj::Exception&& exception) {
        auto found = followers_.find(name);
        if (found == followers_.end() || found->second->session != session) return;
        Drop(*found->second, exception.getDescription().cStr());
      }));
}

void LeaderReplication::Drop(Follower& follower, std::string_view why) {
  log_(absl::StrCat("replication: ", follower.member.name, " dropped: ", std::string(why)));
  follower.dropped = true;
  followers_.erase(follower.member.name);  // `follower` is gone
}

void LeaderReplication::SendCommit(Follower& follower) {
  const uint64_t committed = core_.group_committed_op();
  auto request = follower.sink.commitRequest();
  request.setEpoch(epoch_);
  request.setCommittedOp(committed);
  follower.committed_sent = std::max(follower.committed_sent, committed);
  const std::string name = follower.member.name;
  const uint64_t session = follower.session;
  // A follower that does not answer is gone.
  tasks_.add(request.send().then([](auto) {},
                                 [this, name, session](kj::Exception&& exception) {
                                   auto found = followers_.find(name);
                                   if (found == followers_.end() ||
                                       found->second->session != session)
                                     return;
                                   Drop(*found->second, exception.getDescription().cStr());
                                 }));
}

void LeaderReplication::Heartbeat() {
  for (auto& [name, follower] : followers_) {
    if (!follower->sending) SendCommit(*follower);  // an append in flight tells as much
  }
}

void LeaderReplication::OnPublished() {
  for (auto& [name, follower] : followers_) Send(*follower);
}

void LeaderReplication::OnLocalDurable() { Recommit(); }

void LeaderReplication::SetInSync(std::vector<cluster::GroupMember> in_sync) {
  in_sync_ = std::move(in_sync);
  Recommit();
}

void LeaderReplication::Recommit() {
  const uint64_t durable = core_.durable_op();
  const uint64_t now_ns = base::MonotonicNs();
  for (auto& [name, follower] : followers_) {
    if (follower->durable_op >= durable) {
      follower->behind_since_ns = 0;
    } else if (follower->behind_since_ns == 0) {
      follower->behind_since_ns = now_ns;
    }
  }
  // Below two copies nothing is acknowledged (writes are refused before they get here).
  if (in_sync_.size() < 2) return;
  uint64_t committed = durable;
  for (const cluster::GroupMember& member : in_sync_) {
    if (member.name == self_) continue;
    auto found = followers_.find(member.name);
    if (found == followers_.end() || found->second->member.directory_id != member.directory_id) {
      return;  // an in-sync member that is not here holds the commit back
    }
    committed = std::min(committed, found->second->durable_op);
  }
  if (committed <= core_.group_committed_op()) return;
  core_.NoteGroupCommitted(committed);
  for (auto& [name, follower] : followers_) Send(*follower);  // idle ones hear of the commit
}

std::vector<FollowerView> LeaderReplication::Followers() const {
  std::vector<FollowerView> views;
  for (const auto& [name, follower] : followers_) {
    views.push_back({follower->member, follower->durable_op, follower->behind_since_ns});
  }
  return views;
}

// ---------------------------------------------------------------------------------------------
// Follower

class FollowerReplication::Sink final : public rpc::EntrySink::Server {
 public:
  Sink(FollowerReplication& follower, std::shared_ptr<const bool> alive)
      : follower_(follower), alive_(std::move(alive)) {}
  kj::Promise<void> append(AppendContext context) override {
    if (!*alive_) return KJ_EXCEPTION(DISCONNECTED, "not following");
    auto params = context.getParams();
    // Kept until applied: the entries are read on the apply thread.
    kj::Array<const kj::byte> entries = kj::heapArray<const kj::byte>(params.getEntries());
    return follower_.Append(params.getEpoch(), params.getCommittedOp(), kj::mv(entries));
  }
  kj::Promise<void> commit(CommitContext context) override {
    auto params = context.getParams();
    if (*alive_ && params.getEpoch() == follower_.leader_epoch_ && !follower_.closed_) {
      follower_.core_.NoteGroupCommitted(params.getCommittedOp());
    }
    return kj::READY_NOW;
  }

 private:
  FollowerReplication& follower_;  // valid while *alive_
  std::shared_ptr<const bool> alive_;
};

FollowerReplication::FollowerReplication(Core& core, kj::AsyncIoProvider& io,
                                         FollowerIdentity identity, uint64_t epoch,
                                         std::function<void(std::string_view)> log)
    : core_(core), io_(io), identity_(std::move(identity)), epoch_(epoch), log_(std::move(log)) {
  auto started = kj::newPromiseAndFulfiller<void>();
  started_ = started.promise.fork();
  started_fulfiller_ = kj::mv(started.fulfiller);
}

FollowerReplication::~FollowerReplication() { *alive_ = false; }

void FollowerReplication::taskFailed(kj::Exception&& exception) {
  log_(absl::StrCat("following: ", exception.getDescription().cStr()));
}

kj::Promise<FollowerReplication::Outcome> FollowerReplication::Run(std::string address) {
  return io_.getNetwork()
      .parseAddress(address.c_str())
      .then([](kj::Own<kj::NetworkAddress> resolved) { return resolved->connect(); })
      .then([this](kj::Own<kj::AsyncIoStream> stream) {
        auto client = kj::heap<capnp::TwoPartyClient>(*stream);
        rpc::ReplicationSource::Client source =
            client->bootstrap().castAs<rpc::ReplicationSource>();
        kj::Promise<Outcome> disconnected = client->onDisconnect().then([] {
          return Outcome{absl::UnavailableError("the leader's connection ended"), {}};
        });
        // Follow resolves only when following ends: an entry refused, or a refusal to start.
        return Follow(kj::mv(source))
            .exclusiveJoin(kj::mv(disconnected))
            .attach(kj::mv(client), kj::mv(stream));
      })
      .catch_([](kj::Exception&& exception) {
        return Outcome{
            absl::UnavailableError(absl::StrCat("following: ", exception.getDescription().cStr())),
            {}};
      });
}

kj::Promise<FollowerReplication::Outcome> FollowerReplication::Follow(
    rpc::ReplicationSource::Client source) {
  // The head, read with the engine taken: no append of an earlier leader is under way.
  return core_.TakeEngine().then([this, source = kj::mv(source)](kj::Own<EngineTurn> turn) mutable {
    auto request = source.followRequest();
    auto hello = request.initHello();
    hello.setGroupToken(identity_.token);
    hello.setMember(identity_.member.name);
    PutHash(hello.initDirectoryId(16), identity_.member.directory_id);
    hello.setEpoch(epoch_);
    hello.setHeadOp(core_.replica().last_op());
    PutHash(hello.initHeadChainHash(16), core_.replica().chain_hash());
    request.setSink(kj::heap<Sink>(*this, alive_));
    turn = nullptr;
    auto failed = kj::newPromiseAndFulfiller<absl::Status>();
    failed_ = kj::mv(failed.fulfiller);
    return request.send().then([this, failed = kj::mv(failed.promise)](
                                   capnp::Response<rpc::ReplicationSource::FollowResults>
                                       response) mutable -> kj::Promise<Outcome> {
      auto start = response.getStart();
      if (start.getEpoch() < epoch_) {
        return Outcome{
            absl::FailedPreconditionError(absl::StrCat("the leader's epoch ", start.getEpoch(),
                                                       " is older than this member's ", epoch_)),
            {}};
      }
      if (start.getMustInstall()) {
        return Outcome{absl::FailedPreconditionError(
                           "this member holds nothing and the leader's log no longer starts at "
                           "op 1: it installs the leader's snapshot first"),
                       {},
                       /*install=*/true};
      }
      if (start.getMustCut() && start.hasCutChainHashes()) {
        return FindCutPoint(start.getCutFromOp(), start.getCutChainHashes());
      }
      if (start.getMustCut()) {
        std::optional<base::Hash128> hash = GetHash(start.getCutChainHash());
        if (!hash) return Outcome{absl::DataLossError("a cut without a chain hash"), {}};
        return MustCut(CutPoint{start.getCutAfterOp(), *hash});
      }
      if (start.getEpoch() > epoch_) {
        const absl::Status written = core_.replica().directory().WriteEpoch(start.getEpoch());
        if (!written.ok()) return Outcome{written, {}};
        epoch_ = start.getEpoch();
      }
      leader_epoch_ = start.getEpoch();
      session_ = response.getSession();
      started_fulfiller_->fulfill();
      log_(absl::StrCat("following the leader of epoch ", leader_epoch_, " from op ",
                        core_.last_op() + 1));
      Report();
      return failed.then([](absl::Status status) { return Outcome{status, {}}; });
    });
  });
}

kj::Promise<FollowerReplication::Outcome> FollowerReplication::FindCutPoint(
    uint64_t from_op, capnp::Data::Reader leader_hashes) {
  const uint64_t count = leader_hashes.size() / 16;
  if (from_op == 0 || count == 0 || leader_hashes.size() % 16 != 0 || count > kCutSearchOps) {
    return Outcome{absl::DataLossError("a cut with malformed chain hashes"), {}};
  }
  auto theirs = std::make_shared<std::vector<base::Hash128>>();
  for (uint64_t i = 0; i < count; ++i) {
    theirs->push_back(*GetHash(leader_hashes.slice(16 * i, 16 * (i + 1))));
  }
  auto ours = std::make_shared<std::vector<base::Hash128>>();
  const wal::Directory& directory = core_.replica().directory();
  return log_reader_
      .Run([&directory, from_op, count, ours] {
        *ours = ReadChainHashes(directory, from_op, from_op + count - 1);
      })
      .then([this, theirs, ours, from_op]() -> Outcome {
        // Hashes chain: the logs agree through an op exactly when their hashes there are the
        // same, and differ from the first op where they do not on.
        std::optional<CutPoint> agreed;
        for (size_t i = 0; i < ours->size() && (*ours)[i] == (*theirs)[i]; ++i) {
          agreed = CutPoint{from_op + i, (*ours)[i]};
        }
        if (!agreed.has_value()) {
          return Outcome{absl::DataLossError(absl::StrCat(
                             "this log differs from the leader's from op ", from_op,
                             " on, or earlier: rebuild this member on a new directory")),
                         {}};
        }
        log_(absl::StrCat("following: this log last agrees with the leader's at op ", agreed->op));
        return MustCut(*agreed);
      });
}

kj::Promise<void> FollowerReplication::Append(uint64_t epoch, uint64_t committed_op,
                                              kj::Array<const kj::byte> entries) {
  // The leader sends entries as soon as it took this follower on: the first may arrive before
  // the answer to follow() was read here.
  return started_.addBranch().then(
      [this, epoch, committed_op, entries = kj::mv(entries)]() mutable {
        return AppendStarted(epoch, committed_op, kj::mv(entries));
      });
}

kj::Promise<void> FollowerReplication::AppendStarted(uint64_t epoch, uint64_t committed_op,
                                                     kj::Array<const kj::byte> entries) {
  if (closed_ || epoch != leader_epoch_) {
    return KJ_EXCEPTION(DISCONNECTED, "not following this leader");
  }
  auto split = std::make_shared<absl::StatusOr<std::vector<EntryView>>>(
      SplitEntries(std::as_bytes(std::span(entries.begin(), entries.size()))));
  if (!split->ok()) {
    Fail(split->status());
    return KJ_EXCEPTION(FAILED, split->status().ToString());
  }
  // Before the apply: making room in a full window exports what the group committed, and a
  // member that just started knows nothing committed yet (it would wait for a commit that the
  // leader sends only once this append is done).
  core_.NoteGroupCommitted(committed_op);
  // The call may outlive this follower (its connection's calls end after it): `alive` says
  // whether it is still here; the core always is.
  return core_.TakeEngine().then([this, alive = alive_, split, entries = kj::mv(entries)](
                                     kj::Own<EngineTurn> turn) mutable -> kj::Promise<void> {
    if (!*alive || closed_) return KJ_EXCEPTION(DISCONNECTED, "no longer following");
    auto receipt = std::make_shared<absl::StatusOr<replica::BatchReceipt>>(
        absl::FailedPreconditionError("no entry"));
    auto status = std::make_shared<absl::Status>();
    const EntryRoom room{.bytes = entries.size(), .entries = (*split)->size()};
    return core_
        .Apply(
            kj::mv(turn),
            [&core = core_, split, receipt, status] {
              for (const EntryView& entry : **split) {
                absl::StatusOr<replica::BatchReceipt> applied =
                    core.replica().AppendReplicated(entry.header, entry.body);
                if (!applied.ok()) {
                  *status = applied.status();
                  return;
                }
                *receipt = *applied;
              }
            },
            room)
        .then([this, alive, &core = core_, receipt,
               status](kj::Own<EngineTurn> back) -> kj::Promise<void> {
          if (receipt->ok()) core.NoteApplied(**receipt);  // applied, whoever follows now
          back = nullptr;
          if (!*alive) return KJ_EXCEPTION(DISCONNECTED, "no longer following");
          if (!status->ok()) {
            log_(absl::StrCat("following: an entry was refused: ", status->ToString()));
            Fail(*status);
            return KJ_EXCEPTION(FAILED, status->ToString());
          }
          return kj::READY_NOW;
        })
        .attach(kj::mv(entries));
  });
}

void FollowerReplication::Fail(const absl::Status& status) {
  if (failed_ && failed_->isWaiting()) failed_->fulfill(absl::Status(status));
}

void FollowerReplication::OnLocalDurable() { Report(); }

void FollowerReplication::Report() {
  KJ_IF_MAYBE (session, session_) {
    if (reporting_ || closed_) return;
    const uint64_t durable = core_.durable_op();
    if (durable <= reported_op_) return;
    reporting_ = true;
    auto request = session->durableRequest();
    request.setOp(durable);
    tasks_.add(request.send().then(
        [this, durable](auto) {
          reported_op_ = durable;
          reporting_ = false;
          Report();
        },
        [this](kj::Exception&&) { reporting_ = false; }));
  }
}

}  // namespace ledger::net::internal
