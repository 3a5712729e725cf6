# The replication contract between the members of a replica group (docs/replication.md). Not a
# client API: members speak it on their replication address, with the group's token.
#
# A follower connects to the leader's replication address, takes the bootstrap capability (a
# ReplicationSource) and calls `follow` with its head and a sink; the leader pushes whole
# sealed entries into the sink, in op order from the follower's head on, and the follower
# reports what its own log has made durable through the session it got back. The leader
# acknowledges a batch to its client once every in-sync member has it durable.
#
# Every message carries the sender's epoch: a member refuses anything from an older epoch than
# the highest it has seen (fencing), and a leader that meets a newer one steps down.
@0xce84972a3f3c5b8d;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ledger::net::rpc");

interface ReplicationSource {
  follow @0 (hello :FollowerHello, sink :EntrySink) -> (session :FollowerSession, start :LeaderHello);
  # The member's newest snapshot and the runs of its cold store, for a member that must install
  # them before it can follow (LeaderHello.mustInstall): read piece by piece from `image`.
  snapshot @1 (groupToken :Text) -> (image :SnapshotImage, about :ImageInfo);
}

struct ImageInfo {
  op @0 :UInt64;                # the snapshot follows this op
  chainHash @1 :Data;           # its chain hash, 16 bytes
  sectionsChecksum @2 :Data;    # XXH3-128 of the sections (replica::SectionsChecksum)
  sections @3 :List(SectionInfo);
  coldRuns @4 :List(ColdRunInfo);
}

struct SectionInfo {
  kind @0 :UInt32;              # engine/snapshot.h's SnapshotSectionKind
  recordSizeBytes @1 :UInt32;
  sizeBytes @2 :UInt64;
}

struct ColdRunInfo {
  sequence @0 :UInt64;          # runs 1, 2, ... in order
  sizeBytes @1 :UInt64;
}

interface SnapshotImage {
  # At most about 4 MiB of section `index` (of ImageInfo.sections) or cold run `index` (of
  # ImageInfo.coldRuns), from `offset`.
  readSection @0 (index :UInt32, offset :UInt64) -> (bytes :Data);
  readColdRun @1 (index :UInt32, offset :UInt64) -> (bytes :Data);
}

struct FollowerHello {
  groupToken @0 :Text;     # the group's shared secret
  member @1 :Text;         # the follower's name in the group
  directoryId @2 :Data;    # its data directory's identity, 16 bytes (low word, then high)
  epoch @3 :UInt64;        # the highest epoch it has seen
  headOp @4 :UInt64;       # its log's last op
  headChainHash @5 :Data;  # that op's chain hash, 16 bytes (zero when headOp is 0)
}

struct LeaderHello {
  epoch @0 :UInt64;
  leaderOp @1 :UInt64;     # the leader's last op when the follower was taken on
  # The follower's log holds entries the leader does not have (written under an older epoch,
  # never acknowledged): it must cut its log and follow again. No entries come. When its head
  # is past the leader's epoch start, it cuts after `cutAfterOp`, whose chain hash must be
  # `cutChainHash`. When its head is not, its log differs from the leader's before that start
  # (the tail of an epoch between the one the leader's log continues and the leader's own):
  # `cutChainHashes` then holds the leader's chain hashes at ops cutFromOp, cutFromOp + 1, ...
  # through the follower's head (16 bytes each), and the follower cuts after the last of those
  # ops where its own chain hash is the same.
  mustCut @2 :Bool;
  cutAfterOp @3 :UInt64;
  cutChainHash @4 :Data;
  # The follower holds nothing yet and the leader's log no longer starts at op 1 (older
  # segments archived): it must install the leader's snapshot and cold store first
  # (ReplicationSource.snapshot), and follow again. No entries come.
  mustInstall @5 :Bool;
  cutFromOp @6 :UInt64;
  cutChainHashes @7 :Data;
}

interface EntrySink {
  # Whole sealed entries (wal/format.h: header, body, padding), concatenated, the first one
  # following the follower's head. `committedOp`: the group's committed op when sent.
  append @0 (epoch :UInt64, committedOp :UInt64, entries :Data) -> stream;
  # The group's committed op moved, and no entry is on its way.
  commit @1 (epoch :UInt64, committedOp :UInt64);
}

interface FollowerSession {
  # Every entry through `op` is durable in the follower's log.
  durable @0 (op :UInt64);
}
