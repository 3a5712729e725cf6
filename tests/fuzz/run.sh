#!/usr/bin/env bash
# Builds the fuzz targets (tests/fuzz/CMakeLists.txt) with clang, libFuzzer, ASan and UBSan,
# writes each one's seed corpus (the target writes it itself: LEDGER_FUZZ_WRITE_SEEDS) and
# fuzzes each for LEDGER_FUZZ_SECONDS (default 10), one after another. Exits non-zero on the
# first crash, sanitizer report, leak or hang; the input that caused it is left in
# <build>/artifacts/<target>/ (replay: <build>/<target> <file>).
#
#   tests/fuzz/run.sh [target...]   the targets to run (default: all of them, below)
#   LEDGER_FUZZ_SECONDS=<n>  how long to fuzz each target (CI: the default; on demand: hours)
#   LEDGER_FUZZ_JOBS=<n>     build parallelism (default 2)
#   LEDGER_FUZZ_BUILD=<dir>  the build directory (default build/fuzz)
#   LEDGER_FUZZ_TIMEOUT=<s>  one input taking this long is a hang (default 10; raise it on a
#                            machine busy with other work, where a slow input is only starved)
# Each target's corpus grows in <build>/corpus/<target> and is reused by the next run.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${LEDGER_FUZZ_SECONDS:-10}
timeout=${LEDGER_FUZZ_TIMEOUT:-10}
jobs=${LEDGER_FUZZ_JOBS:-2}
build=${LEDGER_FUZZ_BUILD:-build/fuzz}
# Each target and the largest input it takes (bytes): a request (RPC, or an HTTP body); a log of
# two 64 KiB segments;
# a snapshot and its extent; a cold run and its saved filter (64 KiB at least).
declare -A max_len=([rpc_decode_fuzz]=65536 [json_decode_fuzz]=65536 [log_reader_fuzz]=131073
                    [snapshot_fuzz]=65536 [cold_run_fuzz]=131072)
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] &&
  targets=(rpc_decode_fuzz json_decode_fuzz log_reader_fuzz snapshot_fuzz cold_run_fuzz)

cmake -S tests/fuzz -B "${build}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" >/dev/null
cmake --build "${build}" -j "${jobs}" --target "${targets[@]}"

for target in "${targets[@]}"; do
  echo "== fuzz: ${target} (${seconds} s)" >&2
  seeds=${build}/seeds/${target}
  rm -rf "${seeds}"
  mkdir -p "${seeds}" "${build}/corpus/${target}" "${build}/artifacts/${target}"
  LEDGER_FUZZ_WRITE_SEEDS="${seeds}" "${build}/${target}"
  # -timeout: one input taking this long is a hang. -rss_limit_mb: a bound on what one input
  # may make the process hold (an allocation sized by a length field shows here).
  "${build}/${target}" -max_total_time="${seconds}" -timeout="${timeout}" -rss_limit_mb=2048 \
    -max_len="${max_len[${target}]}" -print_final_stats=1 \
    -artifact_prefix="${build}/artifacts/${target}/" "${build}/corpus/${target}" "${seeds}"
done
