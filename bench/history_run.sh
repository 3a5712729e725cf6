#!/usr/bin/env bash
# The history-beyond-memory figures (docs/benchmarks.md, "History beyond memory"): a long
# ledger-bench run against a server with a window of transfers in memory, its resident memory
# sampled every 5 s, then a SIGKILL and the time to recover, and the cold store's sizes.
#
#   bench/history_run.sh OUT_DIR TRANSFERS [HOT_TRANSFERS] [extra ledger-bench flags...]
#
# SNAPSHOT_OPS (default 250: about 2M transfers in batches of 8,190) sets the server's snapshot
# interval, which bounds what recovery replays. SERVER_FLAGS adds flags of ledgerd's own.
# OUT_DIR (created) holds the data directory, ledgerd's log, rss.tsv, the bench report
# (report.txt, report.json) and summary.txt. Check the disk first: about 400 bytes per transfer
# (the log, the cold store, two snapshots of the window).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?OUT_DIR}
transfers=${2:?TRANSFERS}
hot=${3:-8000000}
shift 3 || shift $#
build=build/release
mkdir -p "$out"
data="$out/data"
[[ -e "$data" ]] || "$build/tools/ledgerd" init --data-dir "$data" >/dev/null

start_server() {
  rm -f "$out/ready"
  "$build/tools/ledgerd" --data-dir "$data" --listen 127.0.0.1:0 --metrics 127.0.0.1:0 \
    --ready-file "$out/ready" --hot-transfers "$hot" \
    --snapshot-interval-ops "${SNAPSHOT_OPS:-250}" ${SERVER_FLAGS:-} >>"$out/ledgerd.log" 2>&1 &
  server=$!
  # Up to 10 minutes: a recovery without a recent snapshot replays the whole log.
  for _ in $(seq 1 60000); do [[ -s "$out/ready" ]] && return 0; sleep 0.01; done
  echo "ledgerd did not start; see $out/ledgerd.log" >&2
  kill -KILL "$server" 2>/dev/null || true
  return 1
}

# Whatever fails below, no server or sampler outlives the script.
trap 'kill -KILL "$server" "${sampler:-}" 2>/dev/null || true' EXIT
start_server
address=$(sed -n 1p "$out/ready")
metrics=$(sed -n 2p "$out/ready")
(
  echo -e "seconds\trss_bytes"
  begin=$(date +%s)
  while kill -0 "$server" 2>/dev/null; do
    rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$server/status" 2>/dev/null || echo 0)
    echo -e "$(($(date +%s) - begin))\t$((rss_kib * 1024))"
    sleep 5
  done
) >"$out/rss.tsv" &
sampler=$!

"$build/bench/ledger_bench/ledger-bench" --address "$address" --token-file "$data/token" \
  --metrics "$metrics" --transfers "$transfers" --no-progress --json "$out/report.json" "$@" \
  | tee "$out/report.txt"

# The crash: SIGKILL under no load, then the time until the server listens again.
kill -KILL "$server"
wait "$server" 2>/dev/null || true
kill "$sampler" 2>/dev/null || true
begin_ns=$(date +%s%N)
start_server
recovery_ms=$((($(date +%s%N) - begin_ns) / 1000000))
kill -TERM "$server"
wait "$server" 2>/dev/null || true

{
  echo "transfers: $transfers, hot window: $hot"
  echo "recovery after SIGKILL: $recovery_ms ms (until the server listened again)"
  echo "rss max: $(awk 'NR > 1 && $2 > m {m = $2} END {print m}' "$out/rss.tsv") bytes"
  echo "disk: $(du -sb "$data" | cut -f1) bytes in all, $(du -sb "$data/cold" | cut -f1) in the cold store"
  echo "cold runs: $(ls "$data/cold" | grep -c '\.cold$')"
  grep -E "recovered through" "$out/ledgerd.log" | tail -1
} | tee "$out/summary.txt"
