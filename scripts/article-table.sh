#!/usr/bin/env bash
# Runs the article's examples (cases seed_minmax and seed_np_on_tensor) in all five modes with
# the default seed and prints tfdiff's Markdown summary: the table in the README comes from here.
#
#   scripts/article-table.sh [-n INPUTS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
cargo run --release --quiet -- run --case seed_minmax --case seed_np_on_tensor \
  --modes numpy,eager,graph,xla,v1 --out "$out/run" --no-progress "$@" >/dev/null || status=$?
if [ "$status" -ge 2 ]; then
  exit "$status"
fi
cat "$out/run/summary.md"
