#!/usr/bin/env bash
# Sets up, builds and passes the whole test suite: the format check, short fuzz runs, the
# release and ASan+UBSan builds with every test, ThreadSanitizer on the threaded parts, the
# AVX-512 build (compiled on every host, tested where the CPU has AVX-512), and the README's
# first command from a clean clone. Long soaks: LEDGER_PROPERTY_BATCHES=N and the others in
# the README.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
tools/check_format.sh
source tools/ccache_env.sh

# libFuzzer (clang) over everything that reads bytes from outside: RPC and HTTP/JSON decoding,
# the log, the snapshots, the cold store's runs; 10 s each; longer: LEDGER_FUZZ_SECONDS=N.
echo "== fuzz: rpc and json decoding, log, snapshots, cold runs" >&2
tests/fuzz/run.sh

jobs=$(nproc)
for preset in release asan; do
  echo "== ${preset}: build" >&2
  cmake --preset "${preset}" >/dev/null
  cmake --build --preset "${preset}" -j "${jobs}"
  echo "== ${preset}: test" >&2
  # The cluster harness (three members, etcd, faults for about 90 s) runs in the release build;
  # under ASan its members are too slow for 2 s leases on two cores. The random-workload tests
  # run their full length in the release build, shorter under the sanitizers (CMakePresets.json:
  # ASan 300 batches against the reference model, 50 shard logs, 20 kills of the log's writer;
  # TSan 30 shard logs, 20 kills): a memory error or a race shows in the first of them, and the
  # suite keeps within half an hour.
  skip=()
  [[ ${preset} == asan ]] && skip=(-LE harness)
  ctest --preset "${preset}" -j "${jobs}" "${skip[@]}"
done

# The TypeScript client (clients/node) against the release build's ledgerd: its types are
# generated from docs/openapi.json, which net_test keeps in step with the server.
echo "== clients/node: build and test" >&2
(cd clients/node && npm run --silent build && LEDGERD="${PWD}/../../build/release/tools/ledgerd" \
  npm test --silent)

# The operator console (console/): type-checked, bundled, then driven in Debian's Chromium by
# Playwright against the release build's ledgerd serving it.
echo "== console: build and test in Chromium" >&2
(cd console && npm run --silent build && npm run --silent check &&
  LEDGERD="${PWD}/../build/release/tools/ledgerd" npm test --silent)

# ThreadSanitizer for the threaded parts only: the sharded engine, the WAL's writer and
# snapshot threads, the server and the client library, replica groups.
echo "== tsan: build" >&2
cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "${jobs}" --target shard_test wal_test net_test bench_test \
  cluster_test cold_test
echo "== tsan: test" >&2
# Not the log-corruption sweeps: they flip and cut bytes of files the thread-free scanner and
# recovery read (release and ASan run them), and took half of ThreadSanitizer's time; the log
# writer's and snapshot threads run under it in every other wal_test. Nor the cut's crash at
# every step (158 s under TSan: the same cut replayed once per storage operation, on one
# thread but the writer's, which the other Cut tests run). Nor the overload benchmark (a memory
# bound, over a minute under TSan): the server's threads it drives run under TSan in every
# other net_test.
ctest --preset tsan -j "${jobs}" -L threaded \
  -E '^((Corruption(BitFlip|Cut|Snapshot)|Overload)\.|Cut\.ACrashAtAnyStep)'
# Of the cold store's tests, those with a thread of the store's own (the filter grown beside).
ctest --preset tsan -j "${jobs}" -R '^ColdStoreFilter\.'

# The release build for AVX-512 CPUs (-march=x86-64-v4), compiled whatever this CPU is: the
# compiler's and third-party headers' AVX-512 paths must pass -Werror on every host, not only
# on the ones that have AVX-512. Where the CPU runs it, every test runs on it too.
echo "== x86-64-v4: build" >&2
cmake --preset x86-64-v4 >/dev/null
cmake --build --preset x86-64-v4 -j "${jobs}"
if tools/cpu_level.sh x86-64-v4; then
  echo "== x86-64-v4: test (this CPU has AVX-512)" >&2
  # The code the CPU level changes: the hash (base_test, against libxxhash's plain functions),
  # the engine and its reference model (300 batches a test), the cold store, and the tools'
  # text. The threaded suites (log, server, groups) and the broker's run the same hashing and
  # engine code; the release and sanitizer builds run them, and the whole suite keeps CI under
  # its half hour.
  ctest --preset x86-64-v4 -j "${jobs}" -LE 'harness|threaded|broker'
else
  echo "== x86-64-v4: compiled only (this CPU has no AVX-512)" >&2
fi

echo "== smoke: tools/run.sh from a clean clone" >&2
tools/smoke_run.sh
