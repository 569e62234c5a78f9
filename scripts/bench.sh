#!/usr/bin/env bash
# Throughput benchmark: inputs evaluated per second for each TensorFlow mode (each run against
# the NumPy reference), on the shipped cases. Prints a table; asserts nothing.
#
#   scripts/bench.sh [-n INPUTS] [--case NAME ...]   (default: -n 300, every case)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
cargo build --release --quiet
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(-n 300)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

printf '%-8s %12s %12s %s\n' mode inputs/s seconds traces
for mode in eager graph xla v1; do
  ./target/release/tfdiff run --modes "numpy,$mode" --out "$out/$mode" --no-progress "${args[@]}" \
    >/dev/null 2>"$out/$mode.err" || [ $? -eq 1 ] || { cat "$out/$mode.err" >&2; exit 2; }
  .venv/bin/python - "$out/$mode/run.json" "$mode" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
mode = sys.argv[2]
traces = sum(case.get(mode, 0) for case in run["traces"].values())
print("%-8s %12.1f %12.1f %d" % (mode, run["inputs_per_second"], run["elapsed_seconds"], traces))
PY
done
