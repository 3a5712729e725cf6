#!/usr/bin/env bash
# Sets up, builds (release) and runs the main job. Until the server lands, that is a short
# demo of the engine that prints what it did.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target ledger-demo
exec build/release/tools/ledger-demo "$@"
