#include "net/internal/admission.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/assert.h"

namespace ledger::net::internal {

Admission::Place::Place(Admission& admission, std::string address)
    : admission_(admission), address_(std::move(address)) {}

Admission::Place::~Place() {
  if (evicted_) return;
  if (!logged_in_) admission_.Unlist(*this);
  --admission_.connections_;
}

void Admission::Place::LoggedIn() {
  LEDGER_REQUIRE(!evicted_ && !logged_in_, evicted_, logged_in_);
  admission_.Unlist(*this);
  logged_in_ = true;
}

Admission::Admission(const ServerLimits& limits)
    : connections_max_(limits.connections_max),
      unauthenticated_max_(std::min(limits.unauthenticated_max, limits.connections_max)),
      per_address_max_(std::min(limits.unauthenticated_per_address_max,
                                std::min(limits.unauthenticated_max, limits.connections_max))) {
  LEDGER_REQUIRE(connections_max_ > 0 && per_address_max_ > 0, connections_max_, per_address_max_);
}

Admission::Outcome Admission::Admit(const std::string& address) {
  Outcome outcome;
  const auto found = per_address_.find(address);
  const uint32_t from_address = found == per_address_.end() ? 0 : found->second;
  if (from_address >= per_address_max_) {
    Evict(*OldestFrom(address),
          absl::StrCat(kRefusedMarker, "too many connections not logged in from ", address,
                       " (limit ", per_address_max_, "); the oldest was closed for a newer one"));
    outcome.evicted = EvictReason::kUnauthenticatedPerAddress;
  } else if (unauthenticated() >= unauthenticated_max_) {
    Evict(*OldestFrom(BusiestAddress()),
          absl::StrCat(kRefusedMarker, "too many connections not logged in (limit ",
                       unauthenticated_max_, "); the oldest was closed for a newer one"));
    outcome.evicted = EvictReason::kUnauthenticated;
  } else if (connections_ >= connections_max_) {
    if (unauthenticated_.empty()) {
      outcome.refusal = absl::StrCat(kRefusedMarker, "too many connections (limit ",
                                     connections_max_, "), all logged in");
      return outcome;
    }
    Evict(*OldestFrom(BusiestAddress()),
          absl::StrCat(kRefusedMarker, "too many connections (limit ", connections_max_,
                       "); the oldest not logged in was closed for a newer one"));
    outcome.evicted = EvictReason::kConnections;
  }
  LEDGER_ASSERT(connections_ < connections_max_ && unauthenticated() < unauthenticated_max_,
                connections_, unauthenticated());
  outcome.place = std::unique_ptr<Place>(new Place(*this, address));
  outcome.place->position_ = unauthenticated_.insert(unauthenticated_.end(), outcome.place.get());
  ++per_address_[address];
  ++connections_;
  return outcome;
}

void Admission::Unlist(Place& place) {
  unauthenticated_.erase(place.position_);
  const auto found = per_address_.find(place.address_);
  LEDGER_ASSERT(found != per_address_.end() && found->second > 0, place.address_);
  if (--found->second == 0) per_address_.erase(found);
}

void Admission::Evict(Place& place, const std::string& message) {
  LEDGER_REQUIRE(!place.logged_in_ && !place.evicted_);
  Unlist(place);
  --connections_;
  place.evicted_ = true;
  if (place.on_evicted) place.on_evicted(message);
}

Admission::Place* Admission::OldestFrom(const std::string& address) const {
  for (Place* place : unauthenticated_) {
    if (place->address_ == address) return place;
  }
  LEDGER_ASSERT(false, address);
  return nullptr;
}

const std::string& Admission::BusiestAddress() const {
  LEDGER_REQUIRE(!per_address_.empty());
  auto busiest = per_address_.begin();
  for (auto it = per_address_.begin(); it != per_address_.end(); ++it) {
    if (it->second > busiest->second) busiest = it;
  }
  return busiest->first;
}

std::string AddressKey(const sockaddr* address, unsigned length) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address->sa_family == AF_INET && length >= sizeof(sockaddr_in)) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    return text;
  }
  if (address->sa_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], text, sizeof(text));
      return text;
    }
    in6_addr prefix{};
    std::memcpy(prefix.s6_addr, in6->sin6_addr.s6_addr, 8);
    inet_ntop(AF_INET6, &prefix, text, sizeof(text));
    return absl::StrCat(text, "/64");
  }
  return "local";
}

}  // namespace ledger::net::internal
