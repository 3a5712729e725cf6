#include "cluster/group.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "cluster/internal/json.h"

namespace ledger::cluster {
namespace {

using internal::Int64Member;
using internal::Json;
using internal::Member;
using internal::StringMember;

std::string HashHex(const base::Hash128& hash) {
  char text[33];
  for (int i = 0; i < 32; ++i) {
    const uint64_t word = i < 16 ? hash.high : hash.low;
    const int shift = 60 - 4 * (i % 16);
    text[i] = "0123456789abcdef"[(word >> shift) & 0xf];
  }
  return std::string(text, 32);
}

std::optional<base::Hash128> ParseHashHex(std::string_view text) {
  if (text.size() != 32) return std::nullopt;
  base::Hash128 hash;
  for (int half = 0; half < 2; ++half) {
    uint64_t& word = half == 0 ? hash.high : hash.low;
    const char* begin = text.data() + 16 * half;
    auto [end, error] = std::from_chars(begin, begin + 16, word, 16);
    if (error != std::errc() || end != begin + 16) return std::nullopt;
  }
  return hash;
}

absl::StatusOr<base::Hash128> HashMember(Json::Reader object, std::string_view name) {
  LEDGER_ASSIGN_OR_RETURN(std::string text, StringMember(object, name));
  std::optional<base::Hash128> hash = ParseHashHex(text);
  if (!hash) {
    return absl::DataLossError(absl::StrCat("'", std::string(name), "' is not 32 hex digits"));
  }
  return *hash;
}

absl::StatusOr<GroupMember> DecodeMember(Json::Reader object) {
  GroupMember member;
  LEDGER_ASSIGN_OR_RETURN(member.name, StringMember(object, "name"));
  if (!IsValidMemberName(member.name)) {
    return absl::DataLossError(absl::StrCat("a member's name is not valid: '", member.name, "'"));
  }
  LEDGER_ASSIGN_OR_RETURN(member.directory_id, HashMember(object, "directory_id"));
  return member;
}

absl::StatusOr<GroupConfig> DecodeConfigObject(Json::Reader root) {
  GroupConfig config;
  LEDGER_ASSIGN_OR_RETURN(config.epoch, Int64Member(root, "epoch"));
  LEDGER_ASSIGN_OR_RETURN(config.leader, StringMember(root, "leader"));
  LEDGER_ASSIGN_OR_RETURN(int64_t start_op, Int64Member(root, "start_op"));
  LEDGER_ASSIGN_OR_RETURN(config.start_chain_hash, HashMember(root, "start_chain_hash"));
  if (config.epoch <= 0 || start_op < 0 || !IsValidMemberName(config.leader)) {
    return absl::DataLossError("the group configuration's epoch, start or leader is not valid");
  }
  config.start_op = static_cast<uint64_t>(start_op);
  std::optional<Json::Reader> in_sync = Member(root, "in_sync");
  if (!in_sync || !in_sync->isArray()) {
    return absl::DataLossError("the group configuration has no in_sync array");
  }
  for (Json::Reader member : in_sync->getArray()) {
    LEDGER_ASSIGN_OR_RETURN(GroupMember decoded, DecodeMember(member));
    const auto same_name = [&](const GroupMember& m) { return m.name == decoded.name; };
    if (std::any_of(config.in_sync.begin(), config.in_sync.end(), same_name)) {
      return absl::DataLossError(absl::StrCat("member '", decoded.name, "' is in sync twice"));
    }
    config.in_sync.push_back(std::move(decoded));
  }
  const auto is_leader = [&](const GroupMember& m) { return m.name == config.leader; };
  if (std::none_of(config.in_sync.begin(), config.in_sync.end(), is_leader)) {
    return absl::DataLossError("the group configuration's leader is not in sync");
  }
  return config;
}

EtcdCondition LeadershipStands(const EtcdLeadership& leadership) {
  return {leadership.key, EtcdCondition::Target::kCreateRevision, leadership.create_revision};
}

}  // namespace

bool IsValidMemberName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

bool GroupConfig::InSync(const GroupMember& member) const {
  return std::find(in_sync.begin(), in_sync.end(), member) != in_sync.end();
}

std::string EncodeGroupConfig(const GroupConfig& config) {
  // Names are checked to need no escaping; numbers as strings, as etcd's own JSON does.
  std::string members;
  for (const GroupMember& member : config.in_sync) {
    LEDGER_REQUIRE(IsValidMemberName(member.name), member.name);
    absl::StrAppend(&members, members.empty() ? "" : ",", R"({"name":")", member.name,
                    R"(","directory_id":")", HashHex(member.directory_id), R"("})");
  }
  LEDGER_REQUIRE(IsValidMemberName(config.leader), config.leader);
  return absl::StrCat(R"({"epoch":")", config.epoch, R"(","leader":")", config.leader,
                      R"(","start_op":")", config.start_op, R"(","start_chain_hash":")",
                      HashHex(config.start_chain_hash), R"(","in_sync":[)", members, "]}");
}

absl::StatusOr<GroupConfig> DecodeGroupConfig(std::string_view text) {
  LEDGER_ASSIGN_OR_RETURN(
      internal::JsonDocument document,
      internal::ParseJsonObject(kj::arrayPtr(text.data(), text.size()), "the group configuration"));
  absl::StatusOr<GroupConfig> config = DecodeConfigObject(document.root);
  if (!config.ok()) {
    return absl::DataLossError(
        absl::StrCat("the group configuration is not valid: ", config.status().message()));
  }
  return config;
}

GroupCoordinator::GroupCoordinator(EtcdClient& etcd, kj::Timer& timer, GroupOptions options)
    : etcd_(etcd), timer_(timer), options_(std::move(options)), lease_sure_until_(timer.now()) {
  LEDGER_REQUIRE(IsValidMemberName(options_.group), options_.group);
  LEDGER_REQUIRE(IsValidMemberName(options_.self.name), options_.self.name);
  LEDGER_REQUIRE(options_.lease_ttl_s >= 1, options_.lease_ttl_s);
}

GroupCoordinator::~GroupCoordinator() = default;

std::string GroupCoordinator::ConfigKey() const {
  return absl::StrCat("/ledger/", options_.group, "/config");
}
std::string GroupCoordinator::ElectionName() const { return GroupElectionName(options_.group); }

std::string GroupElectionName(const std::string& group) {
  return absl::StrCat("/ledger/", group, "/election");
}

AdvertisedAddresses ParseAdvertised(const std::string& value) {
  const size_t space = value.find(' ');
  if (space == std::string::npos) return {value, ""};
  return {value.substr(0, space), value.substr(space + 1)};
}

kj::Promise<absl::Status> GroupCoordinator::Start() {
  const kj::TimePoint asked = timer_.now();
  return etcd_.GrantLease(options_.lease_ttl_s)
      .then([this, asked](absl::StatusOr<int64_t> lease) -> absl::Status {
        LEDGER_RETURN_IF_ERROR(lease.status());
        lease_ = *lease;
        lease_sure_until_ = asked + options_.lease_ttl_s * kj::SECONDS;
        renewing_ = RenewLoop().eagerlyEvaluate(nullptr);
        return absl::OkStatus();
      });
}

bool GroupCoordinator::LeaseSurelyAlive() const {
  return lease_ != 0 && timer_.now() < lease_sure_until_;
}

kj::Promise<void> GroupCoordinator::RenewLoop() {
  const kj::Duration interval = options_.lease_ttl_s * kj::SECONDS / 3;
  return timer_.afterDelay(interval).then([this] {
    const kj::TimePoint asked = timer_.now();
    return etcd_.KeepAlive(lease_).then([this, asked](absl::StatusOr<int64_t> ttl_s) {
      if (ttl_s.ok() && *ttl_s == 0) {
        lease_sure_until_ = asked;  // expired: whatever it held is gone, for good
        return kj::Promise<void>(kj::READY_NOW);
      }
      // Counted from when the renewal was asked: etcd may have renewed it at any moment
      // since. A failed renewal leaves the previous bound to run out.
      if (ttl_s.ok()) lease_sure_until_ = asked + *ttl_s * kj::SECONDS;
      return RenewLoop();
    });
  });
}

kj::Promise<absl::StatusOr<StoredGroupConfig>> GroupCoordinator::ReadConfig() {
  return etcd_.Get(ConfigKey())
      .then([](absl::StatusOr<std::optional<EtcdKeyValue>> stored)
                -> absl::StatusOr<StoredGroupConfig> {
        LEDGER_RETURN_IF_ERROR(stored.status());
        StoredGroupConfig result;
        if (!stored->has_value()) return result;
        LEDGER_ASSIGN_OR_RETURN(GroupConfig config, DecodeGroupConfig((*stored)->value));
        result.config = std::move(config);
        result.mod_revision = (*stored)->mod_revision;
        return result;
      });
}

kj::Promise<absl::StatusOr<EtcdLeadership>> GroupCoordinator::Campaign(uint64_t wait_ns) {
  return etcd_.Campaign(ElectionName(), lease_, options_.advertise, wait_ns);
}

kj::Promise<absl::StatusOr<GroupConfig>> GroupCoordinator::WriteIfStill(
    const EtcdLeadership& leadership, const StoredGroupConfig& seen, GroupConfig next) {
  std::vector<EtcdCondition> conditions = {
      {ConfigKey(), EtcdCondition::Target::kModRevision, seen.mod_revision},
      LeadershipStands(leadership)};
  return etcd_.PutIf(std::move(conditions), ConfigKey(), EncodeGroupConfig(next))
      .then([next = std::move(next)](
                absl::StatusOr<bool> written) mutable -> absl::StatusOr<GroupConfig> {
        LEDGER_RETURN_IF_ERROR(written.status());
        if (!*written) {
          return absl::AbortedError(
              "the group configuration changed meanwhile, or the leadership ended");
        }
        return std::move(next);
      });
}

absl::StatusOr<GroupConfig> GroupCoordinator::NextEpoch(const StoredGroupConfig& seen,
                                                        const EtcdLeadership& leadership,
                                                        uint64_t last_op,
                                                        const base::Hash128& chain_hash,
                                                        bool may_bootstrap) const {
  GroupConfig next;
  if (seen.config.has_value()) {
    if (!seen.config->InSync(options_.self)) {
      return absl::FailedPreconditionError(absl::StrCat("member '", options_.self.name,
                                                        "' is not in sync in epoch ",
                                                        seen.config->epoch, ": it must not lead"));
    }
    if (seen.config->epoch >= leadership.create_revision) {
      return absl::FailedPreconditionError(absl::StrCat("epoch ", seen.config->epoch,
                                                        " is sealed already, not older than ",
                                                        leadership.create_revision));
    }
    next = *seen.config;
    // The old leader lost its lease: dead, paused or cut off. Waiting for it would hold every
    // write for the lag bound; it rejoins once it has cut its tail and caught up.
    std::erase_if(next.in_sync, [&](const GroupMember& member) {
      return member.name == seen.config->leader && member.name != options_.self.name;
    });
  } else if (!may_bootstrap) {
    return absl::FailedPreconditionError(
        absl::StrCat("group '", options_.group, "' has no configuration"));
  } else {
    next.in_sync = {options_.self};
  }
  next.epoch = leadership.create_revision;
  next.leader = options_.self.name;
  next.start_op = last_op;
  next.start_chain_hash = chain_hash;
  return next;
}

kj::Promise<absl::StatusOr<GroupConfig>> GroupCoordinator::SealEpoch(
    const EtcdLeadership& leadership, uint64_t last_op, const base::Hash128& chain_hash,
    bool may_bootstrap, int attempts_left) {
  return ReadConfig().then([this, leadership, last_op, chain_hash, may_bootstrap,
                            attempts_left](absl::StatusOr<StoredGroupConfig> seen)
                               -> kj::Promise<absl::StatusOr<GroupConfig>> {
    if (!seen.ok()) return absl::StatusOr<GroupConfig>(seen.status());
    absl::StatusOr<GroupConfig> next =
        NextEpoch(*seen, leadership, last_op, chain_hash, may_bootstrap);
    if (!next.ok()) return kj::mv(next);
    return WriteIfStill(leadership, *seen, *std::move(next))
        .then([this, leadership, last_op, chain_hash, may_bootstrap, attempts_left](
                  absl::StatusOr<GroupConfig> sealed) -> kj::Promise<absl::StatusOr<GroupConfig>> {
          if (absl::IsAborted(sealed.status()) && attempts_left > 1) {
            return SealEpoch(leadership, last_op, chain_hash, may_bootstrap, attempts_left - 1);
          }
          return kj::mv(sealed);
        });
  });
}

kj::Promise<absl::StatusOr<GroupConfig>> GroupCoordinator::SetInSync(
    const EtcdLeadership& leadership, std::vector<GroupMember> in_sync) {
  return ReadConfig().then([this, leadership, in_sync = std::move(in_sync)](
                               absl::StatusOr<StoredGroupConfig> seen) mutable
                           -> kj::Promise<absl::StatusOr<GroupConfig>> {
    if (!seen.ok()) return absl::StatusOr<GroupConfig>(seen.status());
    if (!seen->config.has_value() || seen->config->epoch != leadership.create_revision) {
      return absl::StatusOr<GroupConfig>(absl::FailedPreconditionError(
          absl::StrCat("epoch ", leadership.create_revision, " is not the group's any more")));
    }
    GroupConfig next = *seen->config;
    next.in_sync = std::move(in_sync);
    if (!next.InSync(options_.self)) {
      return absl::StatusOr<GroupConfig>(
          absl::FailedPreconditionError("the in-sync set must hold its leader"));
    }
    return WriteIfStill(leadership, *seen, std::move(next));
  });
}

kj::Promise<absl::Status> GroupCoordinator::Resign(const EtcdLeadership& leadership) {
  return etcd_.Resign(leadership);
}

kj::Promise<absl::StatusOr<std::optional<ElectionLeader>>> GroupCoordinator::Leader() {
  return etcd_.Leader(ElectionName())
      .then([election = ElectionName()](absl::StatusOr<std::optional<EtcdKeyValue>> leader)
                -> absl::StatusOr<std::optional<ElectionLeader>> {
        LEDGER_RETURN_IF_ERROR(leader.status());
        if (!leader->has_value()) return std::optional<ElectionLeader>();
        EtcdKeyValue& kv = **leader;
        return std::optional<ElectionLeader>(
            ElectionLeader{.advertised = std::move(kv.value),
                           .leadership = {.election = election,
                                          .key = std::move(kv.key),
                                          .create_revision = kv.create_revision,
                                          .lease = kv.lease}});
      });
}

}  // namespace ledger::cluster
