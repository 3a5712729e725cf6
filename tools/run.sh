#!/usr/bin/env bash
# Sets up, builds (release) and runs the main job: the ledger server, ledgerd, on the data
# directory data/ under the checkout (created with its login token on first run), listening on
# 127.0.0.1:7700 with Prometheus metrics on 127.0.0.1:7701 and the HTTP/JSON API on
# 127.0.0.1:7702, which also serves the operator console at http://127.0.0.1:7702/console/
# (docs/console.md). Stop it with Ctrl-C (SIGINT) or
# SIGTERM: it finishes the batches in flight, snapshots and exits 0. Extra arguments go to
# ledgerd (see `build/release/tools/ledgerd --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
source tools/ccache_env.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target ledgerd ledgerctl ledger-wal
(cd console && npm run --silent build)
if [[ ! -e data ]]; then
  build/release/tools/ledgerd init --data-dir data
fi
exec build/release/tools/ledgerd --data-dir data --metrics 127.0.0.1:7701 --http 127.0.0.1:7702 \
  --console-dir console/dist "$@"
