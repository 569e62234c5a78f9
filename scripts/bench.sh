#!/usr/bin/env bash
# Throughput benchmark. Prints, for the shipped cases in the default modes with shrinking off:
# tfdiff with --jobs 1 and with --jobs = CPUs, and a plain Python loop that runs the same cases
# in the same modes on the same inputs in one process with no harness (scripts/bench_loop.py,
# the single-process limit), as inputs/s and ratios; then inputs/s per TensorFlow mode.
# Asserts nothing. Rates count evaluation only: worker and interpreter start-up are left out
# on both sides (a worker starts in about 2.5 s).
#
#   scripts/bench.sh [-n INPUTS]   (default: -n 200, as a default run)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
cargo build --release --quiet
n=200
if [ "${1:-}" = "-n" ] && [ -n "${2:-}" ]; then n=$2; fi
cpus=$(nproc)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
tfdiff=./target/release/tfdiff
modes=numpy,eager,graph,xla

rate() { # run.json -> "inputs/s seconds"
  .venv/bin/python -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.1f %.2f" % (r["inputs_per_second"], r["elapsed_seconds"]))' "$1"
}
run() { # out-dir, then tfdiff options
  local dir=$1; shift
  "$tfdiff" run -n "$n" --shrink-time 0 --no-save-regressions --no-progress --out "$dir" "$@" \
    >/dev/null 2>"$dir.err" || [ $? -eq 1 ] || { cat "$dir.err" >&2; exit 2; }
}

"$tfdiff" inputs --out "$out/inputs" -n "$n" 2>/dev/null
read -r _ loop_seconds loop_rate < <(TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python scripts/bench_loop.py \
  "$out/inputs" "$modes" cases/[!_]*.py 2>/dev/null)
run "$out/j1" --jobs 1
read -r j1_rate j1_seconds < <(rate "$out/j1/run.json")
run "$out/jn" --jobs "$cpus"
read -r jn_rate jn_seconds < <(rate "$out/jn/run.json")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '%-26s %10s %9s\n' "what ($n inputs per case)" inputs/s seconds
printf '%-26s %10s %9s\n' "plain Python loop" "$loop_rate" "$loop_seconds"
printf '%-26s %10s %9s\n' "tfdiff --jobs 1" "$j1_rate" "$j1_seconds"
printf '%-26s %10s %9s\n' "tfdiff --jobs $cpus" "$jn_rate" "$jn_seconds"
echo
echo "--jobs $cpus / --jobs 1:      $(ratio "$jn_rate" "$j1_rate")  (target >= 1.7 on 2 CPUs)"
echo "--jobs 1 / plain loop:     $(ratio "$j1_rate" "$loop_rate")  (target >= 0.9: the protocol's cost)"
echo "--jobs $cpus / plain loop:     $(ratio "$jn_rate" "$loop_rate")  (target >= 1.5)"
echo
printf '%-8s %12s %12s %s\n' mode inputs/s seconds traces
for mode in eager graph xla v1; do
  run "$out/$mode" --modes "numpy,$mode"
  .venv/bin/python - "$out/$mode/run.json" "$mode" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
mode = sys.argv[2]
traces = sum(case.get(mode, 0) for case in run["traces"].values())
print("%-8s %12.1f %12.1f %d" % (mode, run["inputs_per_second"], run["elapsed_seconds"], traces))
PY
done
