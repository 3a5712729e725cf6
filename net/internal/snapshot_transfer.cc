#include "net/internal/snapshot_transfer.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "capnp/rpc-twoparty.h"
#include "net/internal/replication.h"
#include "net/internal/service.h"
#include "replica/install.h"

namespace ledger::net::internal {
namespace {

constexpr auto kOpenTimeout = 120 * kj::SECONDS;  // the sender reads and checks its snapshot
constexpr auto kPieceTimeout = 30 * kj::SECONDS;

// What one snapshot() call serves, for as long as the receiver holds the image.
struct ImageSource {
  std::unique_ptr<replica::SnapshotImage> image;
  base::Hash128 sections_checksum;
  absl::Status status;
  Worker worker{"snapshot-send"};  // last: destroyed first, once the job it runs is done
};

class SnapshotImageImpl final : public rpc::SnapshotImage::Server {
 public:
  explicit SnapshotImageImpl(kj::Own<ImageSource> source) : source_(kj::mv(source)) {}

  kj::Promise<void> readSection(ReadSectionContext context) override {
    const auto params = context.getParams();
    const std::span<const engine::SnapshotSection> sections = source_->image->sections();
    if (params.getIndex() >= sections.size() ||
        params.getOffset() > sections[params.getIndex()].bytes.size()) {
      return KJ_EXCEPTION(FAILED, "readSection: no such section or offset");
    }
    const std::span<const std::byte> rest =
        sections[params.getIndex()].bytes.subspan(params.getOffset());
    const std::span<const std::byte> piece =
        rest.first(std::min<uint64_t>(rest.size(), kImagePieceBytesMax));
    // The copy runs off the loop: it may read the mapped snapshot from the disk.
    return Copy(
        context,
        [piece](std::span<std::byte> out) {
          std::memcpy(out.data(), piece.data(), piece.size());
          return absl::OkStatus();
        },
        piece.size());
  }

  kj::Promise<void> readColdRun(ReadColdRunContext context) override {
    const auto params = context.getParams();
    const auto& runs = source_->image->cold_runs();
    if (params.getIndex() >= runs.size() ||
        params.getOffset() > runs[params.getIndex()].size_bytes) {
      return KJ_EXCEPTION(FAILED, "readColdRun: no such run or offset");
    }
    const size_t index = params.getIndex();
    const uint64_t offset = params.getOffset();
    const uint64_t size_bytes =
        std::min<uint64_t>(runs[index].size_bytes - offset, kImagePieceBytesMax);
    const replica::SnapshotImage* image = source_->image.get();
    return Copy(
        context,
        [image, index, offset](std::span<std::byte> out) {
          return image->ReadColdRun(index, offset, out);
        },
        size_bytes);
  }

 private:
  // Fills `size_bytes` on the image's thread by `fill`, then answers with them.
  template <typename Context>
  kj::Promise<void> Copy(Context context, std::function<absl::Status(std::span<std::byte>)> fill,
                         uint64_t size_bytes) {
    // Shared with the job: the call may be cancelled while the thread copies.
    auto bytes = std::make_shared<std::vector<std::byte>>(size_bytes);
    auto status = std::make_shared<absl::Status>();
    return source_->worker.Run([bytes, status, fill = std::move(fill)] { *status = fill(*bytes); })
        .then([context, bytes, status]() mutable {
          if (!status->ok()) throw KJ_EXCEPTION(FAILED, status->ToString().c_str());
          context.getResults().setBytes(
              kj::arrayPtr(reinterpret_cast<const kj::byte*>(bytes->data()), bytes->size()));
        });
  }

  kj::Own<ImageSource> source_;
};

// The receiving side: the image read piece by piece into an installation.
struct Fetch {
  kj::Timer& timer;
  rpc::SnapshotImage::Client image;
  std::unique_ptr<replica::Installation> installation;
  std::vector<replica::SnapshotImage::ColdRun> cold_runs;
  std::vector<engine::SnapshotSection> sections;  // bytes point into section_bytes
  std::vector<std::vector<std::byte>> section_bytes;
  absl::Status failure;  // why it stopped, when an installation step refused
};

// Throws (ending the fetch) when a step of the installation refused.
void Check(Fetch& fetch, absl::Status status) {
  if (status.ok()) return;
  fetch.failure = std::move(status);
  throw KJ_EXCEPTION(FAILED, fetch.failure.ToString().c_str());
}

kj::Promise<void> FetchColdRun(Fetch& fetch, uint32_t index, uint64_t offset) {
  if (index == fetch.cold_runs.size()) return kj::READY_NOW;
  const replica::SnapshotImage::ColdRun run = fetch.cold_runs[index];
  if (offset == 0) Check(fetch, fetch.installation->StartColdRun(run.sequence, run.size_bytes));
  if (offset == run.size_bytes) {
    Check(fetch, fetch.installation->EndColdRun());
    return FetchColdRun(fetch, index + 1, 0);
  }
  auto request = fetch.image.readColdRunRequest();
  request.setIndex(index);
  request.setOffset(offset);
  return fetch.timer.timeoutAfter(kPieceTimeout, request.send())
      .then([&fetch, index, offset, run](auto response) {
        const capnp::Data::Reader bytes = response.getBytes();
        if (bytes.size() == 0 || bytes.size() > run.size_bytes - offset) {
          Check(fetch, absl::DataLossError("a cold run's piece has the wrong size"));
        }
        Check(fetch, fetch.installation->WriteColdRun(
                         std::as_bytes(std::span(bytes.begin(), bytes.size()))));
        return FetchColdRun(fetch, index, offset + bytes.size());
      });
}

kj::Promise<void> FetchSection(Fetch& fetch, uint32_t index, uint64_t offset) {
  if (index == fetch.sections.size()) return kj::READY_NOW;
  std::vector<std::byte>& into = fetch.section_bytes[index];
  if (offset == into.size()) return FetchSection(fetch, index + 1, 0);
  auto request = fetch.image.readSectionRequest();
  request.setIndex(index);
  request.setOffset(offset);
  return fetch.timer.timeoutAfter(kPieceTimeout, request.send())
      .then([&fetch, &into, index, offset](auto response) {
        const capnp::Data::Reader bytes = response.getBytes();
        if (bytes.size() == 0 || bytes.size() > into.size() - offset) {
          Check(fetch, absl::DataLossError("a section's piece has the wrong size"));
        }
        std::memcpy(into.data() + offset, bytes.begin(), bytes.size());
        return FetchSection(fetch, index, offset + bytes.size());
      });
}

// The image's description, checked: sizes that fit this machine's memory, whole records.
absl::Status TakeInfo(rpc::ImageInfo::Reader about, Fetch& fetch) {
  const uint64_t memory_bytes =
      static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  uint64_t total_bytes = 0;
  for (const rpc::SectionInfo::Reader section : about.getSections()) {
    const uint64_t size_bytes = section.getSizeBytes();
    if (section.getRecordSizeBytes() == 0 || size_bytes % section.getRecordSizeBytes() != 0 ||
        size_bytes > memory_bytes - total_bytes) {
      return absl::DataLossError("the image's sections are malformed or larger than memory");
    }
    total_bytes += size_bytes;
  }
  for (const rpc::SectionInfo::Reader section : about.getSections()) {
    fetch.section_bytes.emplace_back(section.getSizeBytes());
    fetch.sections.push_back({static_cast<engine::SnapshotSectionKind>(section.getKind()),
                              section.getRecordSizeBytes(), fetch.section_bytes.back()});
  }
  for (const rpc::ColdRunInfo::Reader run : about.getColdRuns()) {
    fetch.cold_runs.push_back({run.getSequence(), run.getSizeBytes()});
  }
  return absl::OkStatus();
}

absl::Status Unavailable(const kj::Exception& exception) {
  return absl::UnavailableError(
      absl::StrCat("installing a snapshot: ", exception.getDescription().cStr()));
}

}  // namespace

kj::Promise<void> ServeSnapshot(const wal::Directory& directory, const std::string& token,
                                SnapshotContext context) {
  if (!TokenMatches(context.getParams().getGroupToken().asBytes(), token)) {
    return KJ_EXCEPTION(FAILED, "snapshot: wrong group token");
  }
  auto source = kj::heap<ImageSource>();
  ImageSource* raw = source.get();
  return raw->worker
      .Run([raw, &directory] {
        absl::StatusOr<std::unique_ptr<replica::SnapshotImage>> image =
            replica::SnapshotImage::Open(directory);
        if (!image.ok()) {
          raw->status = image.status();
          return;
        }
        raw->sections_checksum = replica::SectionsChecksum((*image)->sections());
        raw->image = std::move(*image);
      })
      .then([context, source = kj::mv(source)]() mutable {
        if (!source->status.ok()) {
          throw KJ_EXCEPTION(FAILED, absl::StrCat("snapshot: ", source->status.ToString()).c_str());
        }
        const replica::SnapshotImage& image = *source->image;
        auto about = context.getResults().initAbout();
        about.setOp(image.op());
        PutHash(about.initChainHash(16), image.chain_hash());
        PutHash(about.initSectionsChecksum(16), source->sections_checksum);
        auto sections = about.initSections(static_cast<unsigned>(image.sections().size()));
        for (size_t i = 0; i < image.sections().size(); ++i) {
          const engine::SnapshotSection& section = image.sections()[i];
          sections[static_cast<unsigned>(i)].setKind(static_cast<uint32_t>(section.kind));
          sections[static_cast<unsigned>(i)].setRecordSizeBytes(section.record_size_bytes);
          sections[static_cast<unsigned>(i)].setSizeBytes(section.bytes.size());
        }
        auto runs = about.initColdRuns(static_cast<unsigned>(image.cold_runs().size()));
        for (size_t i = 0; i < image.cold_runs().size(); ++i) {
          runs[static_cast<unsigned>(i)].setSequence(image.cold_runs()[i].sequence);
          runs[static_cast<unsigned>(i)].setSizeBytes(image.cold_runs()[i].size_bytes);
        }
        context.getResults().setImage(kj::heap<SnapshotImageImpl>(kj::mv(source)));
      });
}

kj::Promise<absl::Status> FetchAndInstall(kj::AsyncIoProvider& io, const std::string& address,
                                          const std::string& token, const wal::Directory& directory,
                                          const engine::EngineOptions& engine_options,
                                          std::function<void(std::string_view)> log) {
  kj::Timer& timer = io.getTimer();
  auto fetch = std::make_shared<std::unique_ptr<Fetch>>();
  return io.getNetwork()
      .parseAddress(address.c_str())
      .then([](kj::Own<kj::NetworkAddress> resolved) { return resolved->connect(); })
      .then([&timer, &directory, token, engine_options, log, fetch,
             address](kj::Own<kj::AsyncIoStream> stream) {
        auto client = kj::heap<capnp::TwoPartyClient>(*stream);
        auto request = client->bootstrap().castAs<rpc::ReplicationSource>().snapshotRequest();
        request.setGroupToken(token);
        return timer.timeoutAfter(kOpenTimeout, request.send())
            .then([&timer, &directory, engine_options, log, fetch,
                   address](capnp::Response<rpc::ReplicationSource::SnapshotResults> response) {
              auto about = response.getAbout();
              const std::optional<base::Hash128> chain_hash = GetHash(about.getChainHash());
              const std::optional<base::Hash128> checksum = GetHash(about.getSectionsChecksum());
              *fetch =
                  std::make_unique<Fetch>(Fetch{timer, response.getImage(), {}, {}, {}, {}, {}});
              Fetch& state = **fetch;
              if (!chain_hash || !checksum || about.getOp() == 0) {
                Check(state, absl::DataLossError("the image's description is malformed"));
              }
              Check(state, TakeInfo(about, state));
              absl::StatusOr<std::unique_ptr<replica::Installation>> installation =
                  replica::Installation::Begin(directory);
              Check(state, installation.status());
              state.installation = std::move(*installation);
              uint64_t run_bytes = 0;
              for (const auto& run : state.cold_runs) run_bytes += run.size_bytes;
              uint64_t section_bytes = 0;
              for (const auto& bytes : state.section_bytes) section_bytes += bytes.size();
              log(absl::StrCat("installing the snapshot at op ", about.getOp(), " from ", address,
                               ": ", section_bytes >> 20, " MiB of state, ", state.cold_runs.size(),
                               " cold runs (", run_bytes >> 20, " MiB)"));
              const uint64_t op = about.getOp();
              return FetchColdRun(state, 0, 0)
                  .then([&state] { return FetchSection(state, 0, 0); })
                  .then(
                      [&state, op, chain_hash = *chain_hash, checksum = *checksum, engine_options] {
                        Check(state, state.installation->Finish(op, chain_hash, state.sections,
                                                                checksum, engine_options));
                      });
            })
            .then([] { return absl::OkStatus(); },
                  [fetch](kj::Exception&& exception) {
                    return *fetch != nullptr && !(*fetch)->failure.ok() ? (*fetch)->failure
                                                                        : Unavailable(exception);
                  })
            .then([fetch](absl::Status status) {
              fetch->reset();  // the image's capability goes before its connection
              return status;
            })
            .attach(kj::mv(client), kj::mv(stream));
      })
      .then(
          [log](absl::Status status) {
            if (status.ok()) log("snapshot installed");
            return status;
          },
          [](kj::Exception&& exception) { return Unavailable(exception); });
}

}  // namespace ledger::net::internal
