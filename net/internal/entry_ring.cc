#include "net/internal/entry_ring.h"

#include <cstring>

#include "base/assert.h"

namespace ledger::net::internal {

EntryRing::EntryRing(uint64_t capacity_bytes, uint64_t entries_max, uint64_t last_op)
    : capacity_bytes_(capacity_bytes),
      slots_max_(entries_max),
      bytes_(new std::byte[capacity_bytes]),
      slots_(new Slot[entries_max]),
      last_published_op_(last_op),
      last_appended_op_(last_op) {
  LEDGER_REQUIRE(capacity_bytes > 0 && entries_max > 0, capacity_bytes, entries_max);
}

std::optional<uint64_t> EntryRing::PlaceFor(uint64_t bytes) const {
  if (count_ == 0) return bytes <= capacity_bytes_ ? std::optional<uint64_t>(0) : std::nullopt;
  const uint64_t begin = SlotAt(0).offset;
  if (end_offset_ > begin) {
    // Used: [begin, end). Free: past end to the ring's end, then before begin.
    if (end_offset_ + bytes <= capacity_bytes_) return end_offset_;
    if (bytes <= begin) return 0;  // wraps: the gap at the ring's end stays unused
    return std::nullopt;
  }
  // Wrapped. Used: [begin, ring end) and [0, end); free: [end, begin).
  if (end_offset_ + bytes <= begin) return end_offset_;
  return std::nullopt;
}

void EntryRing::DropOldest() {
  LEDGER_ASSERT(published_count_ > 0 && count_ == published_count_, published_count_, count_);
  first_slot_ = (first_slot_ + 1) % slots_max_;
  --published_count_;
  --count_;
  if (count_ == 0) end_offset_ = 0;
}

void EntryRing::MakeRoom(uint64_t bytes, uint64_t entries) {
  LEDGER_REQUIRE(bytes * 2 <= capacity_bytes_ && entries <= slots_max_, bytes, capacity_bytes_,
                 entries, slots_max_);
  // One contiguous place for all of them: appended one by one, each then fits where the last
  // ended, or from the ring's start after a wrap.
  while (count_ + entries > slots_max_ || !PlaceFor(bytes).has_value()) DropOldest();
}

void EntryRing::Append(const wal::EntryHeader& header, std::span<const std::byte> body) {
  const uint64_t size_bytes = header.entry_size_bytes;
  LEDGER_REQUIRE(sizeof(header) + body.size() <= size_bytes, body.size(), size_bytes);
  LEDGER_REQUIRE(header.op == last_appended_op_ + 1, header.op, last_appended_op_);
  const std::optional<uint64_t> offset = PlaceFor(size_bytes);
  LEDGER_REQUIRE(offset.has_value() && count_ < slots_max_, size_bytes, count_);  // MakeRoom
  std::byte* at = bytes_.get() + *offset;
  std::memcpy(at, &header, sizeof(header));
  if (!body.empty()) std::memcpy(at + sizeof(header), body.data(), body.size());
  std::memset(at + sizeof(header) + body.size(), 0, size_bytes - sizeof(header) - body.size());
  slots_[(first_slot_ + count_) % slots_max_] = Slot{header.op, *offset, size_bytes};
  ++count_;
  end_offset_ = *offset + size_bytes;
  last_appended_op_ = header.op;
}

void EntryRing::Publish() {
  published_count_ = count_;
  last_published_op_ = last_appended_op_;
}

uint64_t EntryRing::first_op() const {
  return published_count_ == 0 ? last_published_op_ + 1 : SlotAt(0).op;
}

std::span<const std::byte> EntryRing::EntriesFrom(uint64_t op, uint64_t bytes_max) const {
  if (published_count_ == 0 || op < first_op() || op > last_op()) return {};
  const uint64_t first_index = op - first_op();
  const Slot& first = SlotAt(first_index);
  uint64_t size_bytes = first.size_bytes;
  for (uint64_t index = first_index + 1; index < published_count_; ++index) {
    const Slot& next = SlotAt(index);
    // Contiguous only: the next one starts where this run ends (not wrapped to the start).
    if (next.offset != first.offset + size_bytes || size_bytes + next.size_bytes > bytes_max) {
      break;
    }
    size_bytes += next.size_bytes;
  }
  return {bytes_.get() + first.offset, size_bytes};
}

std::optional<wal::Hash128> EntryRing::ChainHashAt(uint64_t op) const {
  if (published_count_ == 0 || op < first_op() || op > last_op()) return std::nullopt;
  wal::EntryHeader header;
  std::memcpy(&header, bytes_.get() + SlotAt(op - first_op()).offset, sizeof(header));
  return header.chain_hash;
}

}  // namespace ledger::net::internal
