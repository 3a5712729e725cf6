// The replies the RPC system holds for a client until its Finish. Cap'n Proto keeps each
// answer's results after the Return went out, for promise pipelining, until the client sends
// Finish for it: a client that never does (or never reads, so never gets to) holds the server's
// memory for as long as it stays connected, and version 0.9 counts none of it. This stream,
// between the RPC system and the socket, counts it: a Call or Bootstrap from the client opens an
// answer, its Return, once written, holds the Return's size, and the client's Finish lets it go.
// Replies still queued for writing are the network's to count (TwoPartyVatNetwork's queue).
#pragma once

#include <cstdint>
#include <functional>

#include "absl/container/flat_hash_map.h"
#include "capnp/serialize-async.h"
#include "kj/async-io.h"

namespace ledger::net::internal {

// What a held reply costs beyond its bytes on the wire: the answer's entry and its message's
// bookkeeping in the RPC system (~125 bytes a call measured for empty replies never finished).
inline constexpr uint64_t kHeldReplyOverheadBytes = 128;

class UnfinishedReplies final : public capnp::MessageStream {
 public:
  // `server_bytes`: the sum over every connection's stream (one event loop: no lock), which
  // each keeps up to date. `on_held` runs after each Return it counts: the caller's limits.
  UnfinishedReplies(kj::AsyncIoStream& stream, uint64_t& server_bytes,
                    std::function<void()> on_held);
  ~UnfinishedReplies() { server_bytes_ -= held_bytes_; }
  UnfinishedReplies(const UnfinishedReplies&) = delete;
  UnfinishedReplies& operator=(const UnfinishedReplies&) = delete;

  uint64_t held_bytes() const { return held_bytes_; }
  uint64_t held_replies() const { return held_replies_; }

  kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> tryReadMessage(
      kj::ArrayPtr<kj::AutoCloseFd> fd_space, capnp::ReaderOptions options,
      kj::ArrayPtr<capnp::word> scratch_space) override;
  kj::Promise<void> writeMessage(
      kj::ArrayPtr<const int> fds,
      kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) override;
  kj::Promise<void> writeMessages(
      kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> messages) override;
  kj::Maybe<int> getSendBufferSize() override { return inner_.getSendBufferSize(); }
  kj::Promise<void> end() override { return inner_.end(); }

 private:
  void NoteIncoming(capnp::MessageReader& message);
  void NoteOutgoing(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments);
  void Hold(uint32_t answer_id, uint64_t bytes);
  void Release(uint32_t question_id);

  capnp::AsyncIoMessageStream inner_;
  uint64_t& server_bytes_;
  std::function<void()> on_held_;
  // The client's questions not finished yet: bytes held for each (0 until its Return is
  // written). A Finish before the Return (a cancelled call) removes it, so its Return holds
  // nothing. Bounded by the calls the connection's limits let in, and by on_held's closing.
  absl::flat_hash_map<uint32_t, uint64_t> answers_;
  uint64_t held_bytes_ = 0;
  uint64_t held_replies_ = 0;
};

}  // namespace ledger::net::internal
