#!/usr/bin/env bash
# The change feed on RabbitMQ under load (docs/benchmarks.md): starts a RabbitMQ of its own
# (loopback ports, a data directory under OUT), a ledgerd, feed-lag (the consumer, which
# declares its queue first) and ledger-feed, drives the ledger with ledger-bench, and prints
# what feed-lag measured: delivery rate and lag from booking to delivery. Everything it
# started is stopped at the end.
#
#   bench/feed_run.sh OUT [ledger-bench flags...]      e.g. --transfers 1000000
#   bench/feed_run.sh OUT --transfers 1000000 --rate 20000   (open loop below the feed's rate)
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1
shift
build=build/release
rm -rf "${out}"
mkdir -p "${out}/rabbitmq/mnesia" "${out}/rabbitmq/log"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM -- "-${pid}" 2>/dev/null || kill -TERM "${pid}" 2>/dev/null || true; done
  sleep 2
  for pid in "${pids[@]}"; do kill -KILL -- "-${pid}" 2>/dev/null || true; done
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
amqp_port=$(free_port) dist_port=$(free_port) epmd_port=$(free_port)
base=${out}/rabbitmq
echo "[]." > "${base}/enabled_plugins"
: > "${base}/rabbitmq.conf"
setsid /usr/bin/epmd -port "${epmd_port}" > "${base}/epmd.log" 2>&1 &
pids+=($!)
HOME=${base} ERL_EPMD_PORT=${epmd_port} RABBITMQ_NODENAME=ledger-bench-${amqp_port}@localhost \
  RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=${amqp_port} RABBITMQ_DIST_PORT=${dist_port} \
  RABBITMQ_MNESIA_BASE=${base}/mnesia RABBITMQ_LOG_BASE=${base}/log \
  RABBITMQ_CONFIG_FILE=${base}/rabbitmq RABBITMQ_ENABLED_PLUGINS_FILE=${base}/enabled_plugins \
  RABBITMQ_FEATURE_FLAGS_FILE=${base}/feature_flags RABBITMQ_PLUGINS_EXPAND_DIR=${base}/expand \
  setsid /usr/lib/rabbitmq/bin/rabbitmq-server < /dev/null > "${base}/rabbitmq.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do (echo > "/dev/tcp/127.0.0.1/${amqp_port}") 2>/dev/null && break; sleep 0.2; done
sleep 2  # the listener opens a moment before the broker takes logins

"${build}/tools/ledgerd" init --data-dir "${out}/data" > /dev/null
setsid "${build}/tools/ledgerd" --data-dir "${out}/data" --listen 127.0.0.1:0 \
  --metrics 127.0.0.1:0 --ready-file "${out}/ready" > "${out}/ledgerd.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do [[ -s ${out}/ready ]] && break; sleep 0.1; done
address=$(sed -n 1p "${out}/ready")
metrics=$(sed -n 2p "${out}/ready")

setsid "${build}/bench/feed-lag" --amqp "127.0.0.1:${amqp_port}" --queue bench \
  > "${out}/feed-lag.out" 2> "${out}/feed-lag.log" &
lag_pid=$!
pids+=("${lag_pid}")
for _ in $(seq 1 100); do grep -q consuming "${out}/feed-lag.log" 2>/dev/null && break; sleep 0.1; done
setsid "${build}/tools/ledger-feed" --cursor-file "${out}/cursor" --ledger "${address}" \
  --token-file "${out}/data/token" --amqp "127.0.0.1:${amqp_port}" > "${out}/ledger-feed.log" 2>&1 &
pids+=($!)

"${build}/bench/ledger_bench/ledger-bench" --address "${address}" --metrics "${metrics}" \
  --token-file "${out}/data/token" --no-progress "$@" | tee "${out}/ledger-bench.out"
wait "${lag_pid}" || true
cat "${out}/feed-lag.out"
