#!/usr/bin/env bash
# The replica-group figures (docs/benchmarks.md, "Replica groups"): ledger-bench against one
# ledgerd, then against a group of three (etcd and three ledgerd on this machine's loopback),
# round after round in the same window, with the CPU each process spent per transfer.
#
#   bench/replication_run.sh OUT_DIR [TRANSFERS] [ROUNDS] [extra ledger-bench flags...]
#
# On one machine the members share its cores: the group's figures are a floor, and the CPU per
# transfer of the leader and of a follower is what predicts a group of separate machines.
# OUT_DIR (created) holds the data directories, the logs and each run's report.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?OUT_DIR}
transfers=${2:-2000000}
rounds=${3:-2}
shift 3 || shift $#
build=build/release
ledgerd=$build/tools/ledgerd
bench=$build/bench/ledger_bench/ledger-bench
mkdir -p "$out"
printf 'client-token-of-the-replication-run\n' >"$out/client.token"
printf 'group-token-of-the-replication-run\n' >"$out/group.token"
chmod 600 "$out/client.token" "$out/group.token"  # ledgerd refuses tokens others may read

pids=()
trap 'kill -KILL "${pids[@]}" 2>/dev/null || true' EXIT

cpu_ticks() {  # utime + stime of a process, in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat"
}

# Starts ledgerd on port 77<i>, metrics on 91<i>; extra flags follow.
start_member() {
  local i=$1 dir=$out/$2
  shift 2
  rm -rf "$dir" && "$ledgerd" init --data-dir "$dir" >/dev/null
  "$ledgerd" --data-dir "$dir" --token-file "$out/client.token" --listen "127.0.0.1:771$i" \
    --metrics "127.0.0.1:911$i" "$@" >>"$dir.log" 2>&1 &
  pids+=($!)
}

gauge() {  # the value of an unlabelled gauge on a metrics endpoint (0 when absent)
  curl -s "http://$1/metrics" | awk -v name="$2" '$1 == name {print $2; found=1} END {if (!found) print 0}'
}

run_bench() {  # label, metrics endpoint, then ledger-bench's server flags
  local label=$1 metrics=$2
  shift 2
  "$bench" --token-file "$out/client.token" --metrics "$metrics" --transfers "$transfers" \
    --no-progress --json "$out/$label.json" "$@" "${extra[@]}" >"$out/$label.txt"
  grep -E "accepted:|batch latency:|server usage:|validation" "$out/$label.txt" | sed "s/^/$label: /"
}

extra=("$@")
etcd --name bench --data-dir "$out/etcd" --listen-client-urls http://127.0.0.1:23790 \
  --advertise-client-urls http://127.0.0.1:23790 --listen-peer-urls http://127.0.0.1:23800 \
  --initial-advertise-peer-urls http://127.0.0.1:23800 \
  --initial-cluster bench=http://127.0.0.1:23800 >"$out/etcd.log" 2>&1 &
pids+=($!)
until curl -s http://127.0.0.1:23790/health | grep -q true; do sleep 0.1; done

for round in $(seq 1 "$rounds"); do
  # One server.
  start_member 0 alone
  until [[ $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9110/metrics) == 200 ]]; do
    sleep 0.1
  done
  run_bench "alone-$round" 127.0.0.1:9110 --address 127.0.0.1:7710
  kill -TERM "${pids[-1]}" && wait "${pids[-1]}" || true
  unset 'pids[-1]'

  # A group of three; m0 starts it and leads.
  first=${#pids[@]}
  for i in 0 1 2; do
    flags=(--replica-group "bench$round" --etcd 127.0.0.1:23790 --member "m$i"
      --replication-listen "127.0.0.1:781$i" --group-token-file "$out/group.token")
    [[ $i == 0 ]] && flags+=(--bootstrap-group)
    start_member "$i" "member$i" "${flags[@]}"
    if [[ $i == 0 ]]; then
      until [[ $(gauge 127.0.0.1:9110 ledger_group_leader) == 1 ]]; do sleep 0.1; done
    fi
  done
  until [[ $(gauge 127.0.0.1:9110 ledger_group_in_sync_members) == 3 ]]; do sleep 0.1; done
  leader=${pids[$first]}
  follower=${pids[$((first + 1))]}
  leader_before=$(cpu_ticks "$leader")
  follower_before=$(cpu_ticks "$follower")
  run_bench "group-$round" 127.0.0.1:9110 \
    --address 127.0.0.1:7710,127.0.0.1:7711,127.0.0.1:7712 \
    --etcd 127.0.0.1:23790 --replica-group "bench$round"
  ticks_per_s=$(getconf CLK_TCK)
  echo "group-$round: leader CPU $(((($(cpu_ticks "$leader") - leader_before) * 1000000000 / ticks_per_s) / transfers)) ns/transfer," \
    "follower CPU $(((($(cpu_ticks "$follower") - follower_before) * 1000000000 / ticks_per_s) / transfers)) ns/transfer"
  for pid in "${pids[@]:$first}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]:$first}"; do wait "$pid" 2>/dev/null || true; done
  pids=("${pids[@]:0:$first}")
done
