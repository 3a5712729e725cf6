#!/usr/bin/env bash
# Fails when a C++ file of ours is not formatted as .clang-format says (Google, 100 columns).
# Fix with: tools/check_format.sh --fix
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t files < <(git ls-files --cached --others --exclude-standard -- \
  '*.h' '*.cc' | grep -E '^(base|engine|wal|replica|cold|cluster|feed|net|bench|tests|tools)/')
if [[ "${1:-}" == "--fix" ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
if ! clang-format --dry-run --Werror "${files[@]}"; then
  echo "check_format: run tools/check_format.sh --fix" >&2
  exit 1
fi
