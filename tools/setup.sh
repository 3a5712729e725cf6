#!/usr/bin/env bash
# Installs the build and test dependencies from Debian's packages, only those missing.
# Idempotent; meant for a fresh Debian bookworm machine, run as root (or with sudo available).
set -euo pipefail

packages=(
  cmake ninja-build g++ ccache clang-format
  libboost-dev liburing-dev libxxhash-dev libabsl-dev
  libbenchmark-dev libgtest-dev libgmock-dev
  libcapnp-dev capnproto libssl-dev openssl
  clang libclang-rt-14-dev
  etcd-server
  iproute2 iptables  # the cluster harness: hosts as network namespaces, faults as rules
  e2fsprogs util-linux  # the full-disk test: an ext4 image (mkfs.ext4), mount -o loop, fallocate
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  sudo_cmd=(sudo)
fi

echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
