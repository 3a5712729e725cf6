// Cap'n Proto RPC without our client library, on the calling thread's own event loop: for
// tests that must send what the client library never would.
#pragma once

#include <string>

#include "capnp/rpc-twoparty.h"
#include "kj/async-io.h"
#include "kj/timer.h"
#include "net/ledger.capnp.h"

namespace ledger::net::testing {

inline constexpr auto kCallTimeout = 30 * kj::SECONDS;

class RpcConnection {
 public:
  explicit RpcConnection(const std::string& address) : io_(kj::setupAsyncIo()) {
    stream_ = io_.provider->getNetwork()
                  .parseAddress(address.c_str())
                  .wait(io_.waitScope)
                  ->connect()
                  .wait(io_.waitScope);
    network_ = kj::heap<capnp::TwoPartyVatNetwork>(*stream_, capnp::rpc::twoparty::Side::CLIENT);
    rpc_ = kj::heap<capnp::RpcSystem<capnp::rpc::twoparty::VatId>>(capnp::makeRpcClient(*network_));
    capnp::MallocMessageBuilder vat_message;
    auto vat_id = vat_message.initRoot<capnp::rpc::twoparty::VatId>();
    vat_id.setSide(capnp::rpc::twoparty::Side::SERVER);
    gateway_ = kj::heap<rpc::Gateway::Client>(rpc_->bootstrap(vat_id).castAs<rpc::Gateway>());
  }

  rpc::Gateway::Client& gateway() { return *gateway_; }
  kj::WaitScope& wait_scope() { return io_.waitScope; }

  kj::Promise<capnp::Response<rpc::Gateway::LoginResults>> Login(const std::string& token) {
    auto request = gateway_->loginRequest();
    request.setToken(kj::arrayPtr(reinterpret_cast<const kj::byte*>(token.data()), token.size()));
    return request.send();
  }

  // Waits for `promise`; the exception it failed with (a timeout counts), or null.
  template <typename T>
  kj::Maybe<kj::Exception> Failure(kj::Promise<T>&& promise) {
    auto bounded = io_.provider->getTimer().timeoutAfter(kCallTimeout, kj::mv(promise));
    KJ_IF_MAYBE (exception, kj::runCatchingExceptions([&]() { bounded.wait(io_.waitScope); })) {
      return kj::mv(*exception);
    }
    return nullptr;
  }

 private:
  kj::AsyncIoContext io_;
  kj::Own<kj::AsyncIoStream> stream_;
  kj::Own<capnp::TwoPartyVatNetwork> network_;
  kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc_;
  kj::Own<rpc::Gateway::Client> gateway_;
};

inline std::string Describe(const kj::Maybe<kj::Exception>& failure) {
  KJ_IF_MAYBE (exception, failure) {
    return exception->getDescription().cStr();
  }
  return "(no failure)";
}

}  // namespace ledger::net::testing
