#include "wal/format.h"

#include <algorithm>

namespace ledger::wal {

namespace {

Hash128 EntryChainHash(const EntryHeader& header) {
  return HashBytes(std::as_bytes(std::span(&header, 1)).first(offsetof(EntryHeader, chain_hash)));
}

}  // namespace

bool IsAllZero(std::span<const std::byte> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

uint64_t EntrySchema::entry_size_max_bytes() const {
  const uint32_t record_max = *std::max_element(record_size_bytes.begin(), record_size_bytes.end());
  return EntrySizeBytes(uint64_t{kEventsPerEntryMax} * record_max);
}

void SealEntry(EntryHeader& header, std::span<const std::byte> body) {
  header.magic = kEntryMagic;
  header.format_version = kFormatVersion;
  header.body_size_bytes = static_cast<uint32_t>(body.size());
  header.entry_size_bytes = static_cast<uint32_t>(EntrySizeBytes(body.size()));
  header.body_checksum = HashBytes(body);
  header.chain_hash = EntryChainHash(header);
}

bool IsWellFormedEntryHeader(const EntryHeader& header, const EntrySchema& schema) {
  const uint32_t event_size = schema.record_size_bytes[header.operation];
  return header.magic == kEntryMagic && header.format_version == kFormatVersion &&
         event_size != 0 && header.reserved0 == 0 && header.reserved1 == 0 &&
         IsAllZero(std::as_bytes(std::span(header.reserved2))) &&
         header.event_count <= kEventsPerEntryMax &&
         uint64_t{header.body_size_bytes} == uint64_t{header.event_count} * event_size &&
         header.entry_size_bytes == EntrySizeBytes(header.body_size_bytes) && header.op != 0 &&
         header.chain_hash == EntryChainHash(header);
}

bool IsValid(const IdentityFile& identity) {
  return identity.magic == kIdentityMagic && identity.format_version == kFormatVersion &&
         identity.reserved0 == 0 && identity.reserved1 == 0 &&
         IsAllZero(std::as_bytes(std::span(identity.reserved2))) &&
         identity.checksum == HeaderChecksum(identity);
}

bool IsValid(const EpochFile& file) {
  return file.magic == kEpochMagic && file.format_version == kFormatVersion &&
         file.reserved0 == 0 && file.reserved1 == 0 &&
         IsAllZero(std::as_bytes(std::span(file.reserved2))) &&
         file.checksum == HeaderChecksum(file);
}

bool IsValid(const CutHeader& header) {
  return header.magic == kCutMagic && header.format_version == kFormatVersion &&
         header.reserved0 == 0 && header.reserved1 == 0 &&
         IsAllZero(std::as_bytes(std::span(header.reserved2))) &&
         header.checksum == HeaderChecksum(header);
}

bool IsValid(const DurableRecord& record) {
  return record.magic == kDurableMagic && record.format_version == kFormatVersion &&
         record.reserved0 == 0 && record.reserved1 == 0 &&
         IsAllZero(std::as_bytes(std::span(record.reserved2))) &&
         record.checksum == HeaderChecksum(record);
}

bool IsValid(const SegmentHeader& header) {
  return header.magic == kSegmentMagic && header.format_version == kFormatVersion &&
         header.reserved0 == 0 && header.reserved1 == 0 &&
         IsAllZero(std::as_bytes(std::span(header.reserved2))) &&
         header.checksum == HeaderChecksum(header);
}

Hash128 GroupChecksum(const GroupHeader& header, const Hash128& directory_id) {
  return base::HashBytes128(
      std::as_bytes(std::span(&header, 1)).first(offsetof(GroupHeader, checksum)),
      directory_id.low ^ directory_id.high);
}

bool IsValid(const GroupHeader& header, const Hash128& directory_id) {
  return header.magic == kGroupMagic && header.reserved0 == 0 &&
         header.checksum == GroupChecksum(header, directory_id);
}

bool IsValid(const SnapshotHeader& header) {
  return header.magic == kSnapshotMagic && header.format_version == kFormatVersion &&
         header.reserved0 == 0 && IsAllZero(std::as_bytes(std::span(header.reserved1))) &&
         header.checksum == HeaderChecksum(header);
}

}  // namespace ledger::wal
