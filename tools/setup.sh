#!/usr/bin/env bash
# Installs the build and test dependencies from Debian's packages, only those missing, and the
# npm packages of the TypeScript client (clients/node) and the operator console (console/).
# Idempotent; meant for a fresh Debian bookworm machine, run as root (or with sudo available).
set -euo pipefail

packages=(
  cmake ninja-build g++ ccache clang-format
  libboost-dev liburing-dev libxxhash-dev libabsl-dev
  libbenchmark-dev libgtest-dev libgmock-dev
  libcapnp-dev capnproto libssl-dev openssl
  clang libclang-rt-14-dev
  etcd-server
  rabbitmq-server librabbitmq-dev  # the change feed on a broker (ledger-feed and its tests)
  iproute2 iptables  # the cluster harness: hosts as network namespaces, faults as rules
  e2fsprogs util-linux  # the full-disk test: an ext4 image (mkfs.ext4), mount -o loop, fallocate
  chromium  # the console's tests: Playwright drives it headless (a test tool's own download fails)
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

# The TypeScript client (clients/node) needs Node.js 20 or later with npm: the machine's, or
# else Debian's (Node 18, which runs it too).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if ((${#missing[@]} > 0)); then
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then
    sudo_cmd=(sudo)
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The npm packages of the client and the console, as their lock files pin them, each into its
# own node_modules only.
root="$(cd "$(dirname "$0")/.." && pwd)"
for project in clients/node console; do
  cd "${root}/${project}"
  if ! cmp -s package-lock.json node_modules/.installed-lock.json 2>/dev/null; then
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.installed-lock.json
  fi
done
