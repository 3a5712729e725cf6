#!/usr/bin/env bash
# Exit 0 if this CPU runs code built for the x86-64 level named (x86-64-v2, -v3 or -v4), 1 if
# not. It asks glibc's dynamic loader, which reads CPUID itself: /proc/cpuinfo's flags can
# leave out a feature the CPU has (this project's KVM hosts do not list `abm` for LZCNT).
# Usage: tools/cpu_level.sh x86-64-v4
set -euo pipefail

level=${1:-}
if [[ ! "${level}" =~ ^x86-64-v[234]$ ]]; then
  echo "usage: tools/cpu_level.sh x86-64-v2|x86-64-v3|x86-64-v4" >&2
  exit 64
fi
loader=/lib64/ld-linux-x86-64.so.2
[[ -x "${loader}" ]] || exit 1
levels=$("${loader}" --help)
grep -q "^ *${level} (supported" <<<"${levels}"
