#include "net/internal/unfinished_replies.h"

#include <utility>

#include "capnp/rpc.capnp.h"

namespace ledger::net::internal {

UnfinishedReplies::UnfinishedReplies(kj::AsyncIoStream& stream, uint64_t& server_bytes,
                                     std::function<void()> on_held)
    : inner_(stream), server_bytes_(server_bytes), on_held_(std::move(on_held)) {}

kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> UnfinishedReplies::tryReadMessage(
    kj::ArrayPtr<kj::AutoCloseFd> fd_space, capnp::ReaderOptions options,
    kj::ArrayPtr<capnp::word> scratch_space) {
  return inner_.tryReadMessage(fd_space, options, scratch_space)
      .then([this](kj::Maybe<capnp::MessageReaderAndFds> result) {
        KJ_IF_MAYBE (message, result) {
          NoteIncoming(*message->reader);
        }
        return kj::mv(result);
      });
}

kj::Promise<void> UnfinishedReplies::writeMessage(
    kj::ArrayPtr<const int> fds, kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) {
  NoteOutgoing(segments);
  return inner_.writeMessage(fds, segments);
}

kj::Promise<void> UnfinishedReplies::writeMessages(
    kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> messages) {
  for (const auto& segments : messages) NoteOutgoing(segments);
  return inner_.writeMessages(messages);
}

// A message the RPC system cannot read is its to refuse (it aborts the connection): this only
// counts what it can read, and never throws.
void UnfinishedReplies::NoteIncoming(capnp::MessageReader& message) {
  kj::runCatchingExceptions([&] {
    const capnp::rpc::Message::Reader root = message.getRoot<capnp::rpc::Message>();
    switch (root.which()) {
      case capnp::rpc::Message::CALL:
        answers_.try_emplace(root.getCall().getQuestionId(), 0);
        break;
      case capnp::rpc::Message::BOOTSTRAP:
        answers_.try_emplace(root.getBootstrap().getQuestionId(), 0);
        break;
      case capnp::rpc::Message::FINISH:
        Release(root.getFinish().getQuestionId());
        break;
      default:
        break;
    }
  });
}

void UnfinishedReplies::NoteOutgoing(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) {
  uint64_t words = 0;
  for (const auto& segment : segments) words += segment.size();
  kj::runCatchingExceptions([&] {
    capnp::SegmentArrayMessageReader message(segments);
    const capnp::rpc::Message::Reader root = message.getRoot<capnp::rpc::Message>();
    if (root.which() == capnp::rpc::Message::RETURN) {
      Hold(root.getReturn().getAnswerId(), words * sizeof(capnp::word) + kHeldReplyOverheadBytes);
    }
  });
}

void UnfinishedReplies::Hold(uint32_t answer_id, uint64_t bytes) {
  const auto answer = answers_.find(answer_id);
  if (answer == answers_.end() || answer->second != 0) return;  // finished, or not a call's
  answer->second = bytes;
  held_bytes_ += bytes;
  server_bytes_ += bytes;
  ++held_replies_;
  if (on_held_) on_held_();
}

void UnfinishedReplies::Release(uint32_t question_id) {
  const auto answer = answers_.find(question_id);
  if (answer == answers_.end()) return;
  held_bytes_ -= answer->second;
  server_bytes_ -= answer->second;
  held_replies_ -= answer->second != 0;
  answers_.erase(answer);
}

}  // namespace ledger::net::internal
