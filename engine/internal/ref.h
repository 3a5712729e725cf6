// A record on any shard: its shard index in the bits above the engine's slot bits, its slot
// (index in that shard's table) below. Only State knows where the two meet (slot_bits_ depends
// on the shard count), so joining and splitting stay there (State::MakeRef, shard_index_of,
// slot_of); this type only keeps a ref from being passed where a local slot, an event index or
// a hash is meant, which as bare uint32_t values compiled silently. Private to engine/.
//
// Refs of one shard rise in its booking order (the slot is the low bits); across shards,
// timestamps order records, not refs.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"

namespace ledger::engine::internal {

class Ref {
 public:
  constexpr Ref() = default;  // kNoRef
  static constexpr Ref FromBits(uint32_t bits) {
    Ref ref;
    ref.bits_ = bits;
    return ref;
  }
  // For the containers that store refs as raw words beside other kinds of value (the
  // transfer index's payloads, the history arena's free lists), snapshots of one shard and
  // assertion messages.
  constexpr uint32_t bits() const { return bits_; }

  friend constexpr bool operator==(const Ref&, const Ref&) = default;
  friend constexpr std::strong_ordering operator<=>(const Ref&, const Ref&) = default;
  // For absl::Hash: the hash of its bits (RefMap below hashes the same, faster).
  template <typename H>
  friend H AbslHashValue(H state, const Ref& ref) {
    return H::combine(std::move(state), ref.bits_);
  }

 private:
  // Above any ref: refs are 31 bits (the transfer index's payloads keep bit 31 for failures).
  static constexpr uint32_t kNoneBits = ~uint32_t{0};
  uint32_t bits_ = kNoneBits;
};

// "No record": a lookup that found nothing, a reservation not yet resolved.
inline constexpr Ref kNoRef{};

// The maps keyed by ref (a shard's side tables, restore's working sets). Hashed through its
// bits as an integer: absl's integer fast path, where the generic AbslHashValue route costs a
// few more instructions per lookup on the reservation paths. Same hash values either way.
struct RefHash {
  size_t operator()(Ref ref) const { return absl::Hash<uint32_t>{}(ref.bits()); }
};
template <typename Value>
using RefMap = absl::flat_hash_map<Ref, Value, RefHash>;

// Stored in hash map entries, undo entries, held-back index inserts and the pending state:
// as small and as cheap to copy as the word it wraps.
static_assert(sizeof(Ref) == sizeof(uint32_t) && alignof(Ref) == alignof(uint32_t));
static_assert(std::is_trivially_copyable_v<Ref> && std::is_standard_layout_v<Ref>);

}  // namespace ledger::engine::internal
