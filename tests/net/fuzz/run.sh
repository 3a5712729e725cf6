#!/usr/bin/env bash
# Builds the RPC decoding fuzz target (rpc_decode_fuzz.cc) with clang, libFuzzer, ASan and
# UBSan into build/fuzz, writes its seed corpus, and fuzzes for LEDGER_FUZZ_SECONDS (default
# 20). Exits non-zero on any crash, sanitizer report, leak or hang; the input that caused it is
# left in build/fuzz/artifacts/ (replay: build/fuzz/rpc_decode_fuzz <file>).
#
#   LEDGER_FUZZ_SECONDS=<n>  how long to fuzz (CI: the default; on demand: hours)
#   LEDGER_FUZZ_JOBS=<n>     build parallelism (default 2)
# The corpus grows in build/fuzz/corpus and is reused by the next run.
set -euo pipefail
cd "$(dirname "$0")/../../.."

seconds=${LEDGER_FUZZ_SECONDS:-20}
jobs=${LEDGER_FUZZ_JOBS:-2}
build=build/fuzz

cmake -S tests/net/fuzz -B "${build}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" >/dev/null
cmake --build "${build}" -j "${jobs}"

rm -rf "${build}/seeds"
mkdir -p "${build}/seeds" "${build}/corpus" "${build}/artifacts"
LEDGER_FUZZ_WRITE_SEEDS="${build}/seeds" "${build}/rpc_decode_fuzz"

# -timeout: one input taking this long is a hang. -rss_limit_mb: a bound on what one input
# may make the process hold (the engines it builds are small).
"${build}/rpc_decode_fuzz" -max_total_time="${seconds}" -timeout=10 -rss_limit_mb=2048 \
  -max_len=65536 -print_final_stats=1 -artifact_prefix="${build}/artifacts/" \
  "${build}/corpus" "${build}/seeds"
