#!/usr/bin/env bash
# Sets up, builds and passes the whole test suite: the format check, then the release build
# and the ASan+UBSan build, each with every test. Long soaks: LEDGER_PROPERTY_BATCHES=N.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
tools/check_format.sh

# libFuzzer (clang) over the RPC decoding path, briefly; longer: LEDGER_FUZZ_SECONDS=N.
echo "== fuzz: rpc decoding" >&2
tests/net/fuzz/run.sh

jobs=$(nproc)
for preset in release asan; do
  echo "== ${preset}: build" >&2
  cmake --preset "${preset}" >/dev/null
  cmake --build --preset "${preset}" -j "${jobs}"
  echo "== ${preset}: test" >&2
  ctest --preset "${preset}" -j "${jobs}"
done

# ThreadSanitizer for the threaded parts only: the sharded engine, the WAL's writer and
# snapshot threads, the server and the client library.
echo "== tsan: build" >&2
cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "${jobs}" --target shard_test wal_test net_test bench_test
echo "== tsan: test" >&2
ctest --preset tsan -j "${jobs}" -L threaded
