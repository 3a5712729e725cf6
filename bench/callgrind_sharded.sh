#!/bin/sh
# Instructions per transfer of BM_ApplySharded (docs/benchmarks.md, "Shards"), from callgrind:
# the work of every thread that applies batches, with waiting left out. Counted: everything
# under the engine's CreateTransfers (the calling thread's phases and serial steps) and under
# the shard pool's worker loops, except under WaitUntil (spinning or sleeping; never inlined,
# for this).
#
# Usage: bench/callgrind_sharded.sh [build dir] [benchmark filter regex]
#   e.g. bench/callgrind_sharded.sh build/release 'shards:2/cross_percent:0/'
# LEDGER_BENCH_BATCHES (default 30) batches of 8,190 transfers per configuration.
set -eu
build=${1:-build/release}
filter=${2:-.}
batches=${LEDGER_BENCH_BATCHES:-30}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

configs=$("$build/bench/engine_bench" --benchmark_list_tests --benchmark_filter="Sharded" |
  grep -E -- "$filter" | sed -E 's|^BM_ApplySharded/||; s|/iterations:.*||')
printf '%-28s %s\n' configuration instructions/transfer
for config in $configs; do
  # Collection toggles on entering (and back on leaving) each function, per thread: on in the
  # apply entry point and the workers' loop, off again inside every wait.
  LEDGER_BENCH_BASELINE=0 LEDGER_BENCH_BATCHES=$batches valgrind --tool=callgrind --callgrind-out-file="$out/cg" \
    --collect-atstart=no --toggle-collect='*State::CreateTransfers(std::span*' \
    --toggle-collect='*ShardPool::WorkerLoop(*' --toggle-collect='*WaitUntil<*' \
    "$build/bench/engine_bench" --benchmark_filter="Sharded/$config/" >/dev/null 2>&1
  callgrind_annotate "$out/cg" 2>/dev/null |
    awk -v transfers=$((batches * 8190)) -v config="$config" '
      /PROGRAM TOTALS/ { gsub(",", "", $1); printf "%-28s %.0f\n", config, $1 / transfers }'
done
