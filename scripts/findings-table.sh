#!/usr/bin/env bash
# Runs every shipped case in every mode (--modes all) with the default seed and prints the
# findings as a Markdown matrix, case by mode, each cell what the mode gave against NumPy (see
# scripts/findings_table.py): the README's table of what each API does in each mode comes
# from here.
#
#   scripts/findings-table.sh [tfdiff run options, e.g. -n 100]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
cargo run --release --quiet -- run --modes all --out "$out/run" --no-progress \
  --no-save-regressions "$@" >/dev/null || status=$?
if [ "$status" -ge 2 ]; then
  exit "$status"
fi
.venv/bin/python scripts/findings_table.py "$out/run"
