// UnfinishedReplies (net/internal/unfinished_replies.h): the replies it counts as held, message by
// message, against frames written by hand on one end of a pipe and Returns written through it.
#include "net/internal/unfinished_replies.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "capnp/message.h"
#include "capnp/rpc.capnp.h"
#include "capnp/serialize-async.h"
#include "kj/async-io.h"

namespace ledger::net::internal {
namespace {

// KJ's objects may throw from their destructors, which a gtest fixture's must not: each test
// holds one of these instead.
struct Harness {
  Harness(kj::AsyncIoContext& io, uint64_t& server_bytes) : io_(io), server_bytes_(server_bytes) {}

  // A message from the client: read through the stream under test.
  void Receive(capnp::MessageBuilder& message) {
    capnp::writeMessage(*pipe_.ends[0], message).wait(io_.waitScope);
    auto read =
        replies_->tryReadMessage(nullptr, capnp::ReaderOptions(), nullptr).wait(io_.waitScope);
    ASSERT_TRUE(read != nullptr);
  }
  void ReceiveCall(uint32_t question_id) {
    capnp::MallocMessageBuilder message;
    message.initRoot<capnp::rpc::Message>().initCall().setQuestionId(question_id);
    Receive(message);
  }
  void ReceiveFinish(uint32_t question_id) {
    capnp::MallocMessageBuilder message;
    message.initRoot<capnp::rpc::Message>().initFinish().setQuestionId(question_id);
    Receive(message);
  }
  // A Return from the server, written through the stream under test and read off the pipe;
  // returns the bytes it holds (its size and the overhead).
  uint64_t SendReturn(uint32_t answer_id, uint32_t filler_bytes) {
    capnp::MallocMessageBuilder message;
    auto ret = message.initRoot<capnp::rpc::Message>().initReturn();
    ret.setAnswerId(answer_id);
    ret.initException().setReason(std::string(filler_bytes, 'x'));
    uint64_t words = 0;
    for (auto segment : message.getSegmentsForOutput()) words += segment.size();
    replies_->writeMessage(nullptr, message.getSegmentsForOutput()).wait(io_.waitScope);
    capnp::readMessage(*pipe_.ends[0]).wait(io_.waitScope);
    return words * sizeof(capnp::word) + kHeldReplyOverheadBytes;
  }

  kj::AsyncIoContext& io_;  // one event loop a thread
  kj::TwoWayPipe pipe_ = io_.provider->newTwoWayPipe();
  uint64_t& server_bytes_;  // every connection's
  int checks_ = 0;
  kj::Own<UnfinishedReplies> replies_ =
      kj::heap<UnfinishedReplies>(*pipe_.ends[1], server_bytes_, [this] { ++checks_; });
};

TEST(UnfinishedReplies, AReturnIsHeldFromWhenItIsWrittenUntilTheClientsFinish) {
  kj::AsyncIoContext io = kj::setupAsyncIo();
  uint64_t server_bytes = 0;
  Harness h(io, server_bytes);
  h.ReceiveCall(1);
  h.ReceiveCall(2);
  EXPECT_EQ(h.replies_->held_bytes(), 0u);  // nothing returned yet
  const uint64_t first = h.SendReturn(1, 1000);
  const uint64_t second = h.SendReturn(2, 50'000);
  EXPECT_GT(second, 50'000u);
  EXPECT_EQ(h.replies_->held_bytes(), first + second);
  EXPECT_EQ(h.replies_->held_replies(), 2u);
  EXPECT_EQ(h.server_bytes_, first + second);
  EXPECT_EQ(h.checks_, 2);
  h.ReceiveFinish(2);
  EXPECT_EQ(h.replies_->held_bytes(), first);
  EXPECT_EQ(h.server_bytes_, first);
  h.ReceiveFinish(1);
  EXPECT_EQ(h.replies_->held_bytes(), 0u);
  EXPECT_EQ(h.replies_->held_replies(), 0u);
  EXPECT_EQ(h.server_bytes_, 0u);
  // The question id is the client's to reuse once finished.
  h.ReceiveCall(1);
  EXPECT_EQ(h.replies_->held_bytes(), 0u);
  const uint64_t again = h.SendReturn(1, 10);
  EXPECT_EQ(h.replies_->held_bytes(), again);
}

TEST(UnfinishedReplies, AReturnAfterItsFinishOrForNoCallHoldsNothing) {
  kj::AsyncIoContext io = kj::setupAsyncIo();
  uint64_t server_bytes = 0;
  Harness h(io, server_bytes);
  h.ReceiveCall(7);
  h.ReceiveFinish(7);  // a cancelled call: its answer goes when it returns
  h.SendReturn(7, 1000);
  h.SendReturn(8, 1000);  // no such question
  h.ReceiveFinish(9);     // no such question either
  EXPECT_EQ(h.replies_->held_bytes(), 0u);
  EXPECT_EQ(h.server_bytes_, 0u);
  EXPECT_EQ(h.checks_, 0);
}

TEST(UnfinishedReplies, TheServersSumIsEveryConnectionsAndLosesOneThatGoes) {
  kj::AsyncIoContext io = kj::setupAsyncIo();
  uint64_t server_bytes = 0;
  Harness h(io, server_bytes);
  uint64_t other_bytes = 0;
  {
    Harness other(io, server_bytes);
    other.ReceiveCall(3);
    other_bytes = other.SendReturn(3, 5000);
    h.ReceiveCall(3);
    const uint64_t held = h.SendReturn(3, 100);
    EXPECT_EQ(server_bytes, other_bytes + held);
    EXPECT_EQ(h.replies_->held_bytes(), held);
  }
  EXPECT_EQ(server_bytes, h.replies_->held_bytes());  // the other connection went
  h.replies_ = nullptr;
  EXPECT_EQ(server_bytes, 0u);
}

TEST(UnfinishedReplies, AMessageThatIsNotAnRpcMessageIsPassedOnUncounted) {
  kj::AsyncIoContext io = kj::setupAsyncIo();
  uint64_t server_bytes = 0;
  Harness h(io, server_bytes);
  capnp::MallocMessageBuilder message;
  message.initRoot<capnp::AnyPointer>().initAsAnyList(capnp::ElementSize::BYTE, 64);
  ASSERT_NO_FATAL_FAILURE(h.Receive(message));  // the RPC system refuses it, not the counter
  h.ReceiveCall(4);
  const uint64_t held = h.SendReturn(4, 10);
  EXPECT_EQ(h.replies_->held_bytes(), held);
}

}  // namespace
}  // namespace ledger::net::internal
