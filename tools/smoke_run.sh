#!/usr/bin/env bash
# Smoke test of the README's first command, as a new user runs it: in a clean clone of the
# committed HEAD, `tools/run.sh` sets up, builds and starts ledgerd on the clone's data/;
# `ledgerctl info` must answer, the console's page must be served, and SIGTERM must stop the
# server with exit 0. Ephemeral
# loopback ports, so a server already running on 7700/7701 does not matter.
set -euo pipefail
cd "$(dirname "$0")/.."

start_timeout_s=${LEDGER_SMOKE_START_TIMEOUT_S:-900}  # a cold build of the three tools
work=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n "${server_pid}" ]] && kill -0 "${server_pid}" 2>/dev/null; then
    kill -KILL "${server_pid}" 2>/dev/null || true
  fi
  rm -rf "${work}"
}
trap cleanup EXIT
fail() {
  echo "smoke_run: $*" >&2
  echo "--- tools/run.sh output:" >&2
  cat "${work}/run.log" >&2 || true
  exit 1
}

git clone --quiet --shared . "${work}/clone"
(cd "${work}/clone" &&
  exec tools/run.sh --listen 127.0.0.1:0 --metrics 127.0.0.1:0 --http 127.0.0.1:0 \
    --ready-file "${work}/ready") \
  >"${work}/run.log" 2>&1 &
server_pid=$!  # run.sh execs ledgerd: this is the server's pid once it runs

for ((waited_s = 0; ; waited_s++)); do
  [[ -s "${work}/ready" ]] && break
  kill -0 "${server_pid}" 2>/dev/null || fail "tools/run.sh exited before the server was ready"
  ((waited_s < start_timeout_s)) || fail "no ready file after ${start_timeout_s} s"
  sleep 1
done

address=$(head -n 1 "${work}/ready")
"${work}/clone/build/release/tools/ledgerctl" --address "${address}" \
  --token-file "${work}/clone/data/token" info >"${work}/info.txt" ||
  fail "ledgerctl info failed against ${address}"
grep -q . "${work}/info.txt" || fail "ledgerctl info printed nothing"

# The console, as a browser asks for it (bash's /dev/tcp: a fresh machine may lack curl).
http_address=$(sed -n 3p "${work}/ready")
exec 3<>"/dev/tcp/${http_address%:*}/${http_address##*:}"
printf 'GET /console/ HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "${http_address}" >&3
cat <&3 >"${work}/console.txt"
exec 3<&-
grep -q "^HTTP/1.1 200" "${work}/console.txt" && grep -q "<title>Ledger console</title>" \
  "${work}/console.txt" || fail "GET /console/ did not answer the console's page"

kill -TERM "${server_pid}"
status=0
wait "${server_pid}" || status=$?
server_pid=
((status == 0)) || fail "ledgerd exited ${status} on SIGTERM, not 0"
echo "smoke_run: tools/run.sh served ${address} and the console, ledgerctl info answered," \
  "SIGTERM exited 0" >&2
