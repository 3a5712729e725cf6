// Which connections the server admits, and which not-yet-logged-in connection leaves to make
// room: connections that never log in must not lock logged-in clients out.
//
// Connections not logged in (TLS handshakes included) have budgets of their own: at most
// unauthenticated_max in all and unauthenticated_per_address_max from one address. When a new
// connection would pass one, the server does not refuse the newcomer (an attacker who holds
// the budget and reconnects before the login timeout would then keep every client out); it
// evicts the oldest connection not logged in, of the newcomer's address when that address's
// budget is full, else of the address that holds the most. To keep a client out, an attacker
// must open a budget's worth of connections within the client's login round trip, and one from
// a few addresses never evicts a lone client elsewhere. Logged-in connections are never
// evicted; only when all of connections_max are logged in is a newcomer refused.
//
// Loop thread only. Pure bookkeeping: the server closes what it is told to.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "net/internal/codec.h"
#include "net/server.h"
#include "net/server_metrics.h"

namespace ledger::net::internal {

class Admission {
 public:
  // `limits` is borrowed for the admission's lifetime. The budgets of connections not logged
  // in are at most connections_max.
  explicit Admission(const ServerLimits& limits);
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  // One connection's place: not logged in until LoggedIn(). Destroying it frees the place
  // (an evicted one's was freed at eviction). Must not outlive the admission.
  class Place {
   public:
    ~Place();
    Place(const Place&) = delete;
    Place& operator=(const Place&) = delete;

    void LoggedIn();  // leaves the budgets of connections not logged in
    bool logged_in() const { return logged_in_; }
    bool evicted() const { return evicted_; }
    const std::string& address() const { return address_; }

    // Called once if the place is evicted, with what to tell the client (kRefusedMarker...):
    // the owner closes the connection. It must not destroy the place from within the call.
    std::function<void(const std::string& message)> on_evicted;

   private:
    friend class Admission;
    Place(Admission& admission, std::string address);

    Admission& admission_;
    const std::string address_;
    bool logged_in_ = false;
    bool evicted_ = false;
    std::list<Place*>::iterator position_;  // in admission_.unauthenticated_ while not logged in
  };

  struct Outcome {
    std::unique_ptr<Place> place;        // null: refused
    std::string refusal;                 // what to tell a refused client
    std::optional<EvictReason> evicted;  // which budget made room by evicting another
  };

  // A new connection from `address` (its host; for IPv6 its /64: see AddressKey). Evicts at
  // most one connection not logged in (through its on_evicted) before admitting it.
  Outcome Admit(const std::string& address);

  uint32_t connections() const { return connections_; }  // admitted, not yet closed
  uint32_t unauthenticated() const { return static_cast<uint32_t>(unauthenticated_.size()); }
  uint32_t unauthenticated_max() const { return unauthenticated_max_; }
  uint32_t unauthenticated_per_address_max() const { return per_address_max_; }

 private:
  void Unlist(Place& place);
  void Evict(Place& place, const std::string& message);
  Place* OldestFrom(const std::string& address) const;
  const std::string& BusiestAddress() const;

  const uint32_t connections_max_;
  const uint32_t unauthenticated_max_;
  const uint32_t per_address_max_;
  uint32_t connections_ = 0;
  std::list<Place*> unauthenticated_;  // oldest first
  std::map<std::string, uint32_t> per_address_;
};

// The key a peer's address counts under: an IPv4 address as text, an IPv6 one by its /64
// ("2001:db8:1:2::/64"; one host holds a whole /64), anything else "local".
std::string AddressKey(const sockaddr* address, unsigned length);

}  // namespace ledger::net::internal
