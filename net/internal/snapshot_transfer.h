// A member's snapshot and cold store sent to a new member (replica/install.h,
// docs/replication.md "A new member"): the sending side serves ReplicationSource.snapshot on its
// replication port; the receiving side reads the image piece by piece and installs it, before
// its server starts again (ledgerd).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "engine/engine.h"
#include "kj/async-io.h"
#include "net/internal/core.h"
#include "net/replication.capnp.h"
#include "wal/directory.h"

namespace ledger::net::internal {

// The most one read of an image returns.
inline constexpr uint64_t kImagePieceBytesMax = uint64_t{4} << 20;

// Answers a snapshot() call: checks the group token, reads the newest snapshot and the cold
// runs (on a thread of the image's own, as every later read) and returns the image.
using SnapshotContext = capnp::CallContext<rpc::ReplicationSource::SnapshotParams,
                                           rpc::ReplicationSource::SnapshotResults>;
kj::Promise<void> ServeSnapshot(const wal::Directory& directory, const std::string& token,
                                SnapshotContext context);

// Connects to the replication port at `address`, reads its image and installs it in
// `directory` (writable, no replica open on it), which must hold nothing yet. Each read is
// bounded in time; what does not arrive whole is refused, and the directory then stays marked
// for replica::AbandonInstall.
kj::Promise<absl::Status> FetchAndInstall(kj::AsyncIoProvider& io, const std::string& address,
                                          const std::string& token, const wal::Directory& directory,
                                          const engine::EngineOptions& engine_options,
                                          std::function<void(std::string_view)> log);

}  // namespace ledger::net::internal
