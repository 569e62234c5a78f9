#!/usr/bin/env bash
# Throughput benchmark. Prints, for the shipped cases in the default modes with shrinking off:
# tfdiff with --jobs 1 and with --jobs = CPUs, and a plain Python loop that runs the same cases
# in the same modes on the same inputs in one process with no harness (scripts/bench_loop.py,
# the single-process limit), as inputs/s and ratios; then inputs/s per TensorFlow mode (each
# beside numpy), with what the mode built (traces, TFLite conversions, SavedModel exports).
# Each is measured twice: cold (an empty XLA cache: every program compiled, as on a fresh
# machine) and warm (the cache its cold run filled: programs loaded, as in every later run).
# Asserts nothing. Rates count evaluation only: worker and interpreter start-up are left out
# on both sides (a worker starts in about 2.5 s). Each figure is the median of REPEATS
# measurements (runs on a shared 2-core machine vary by about 10% from one to the next), the
# three contenders taking turns so that a slow minute does not fall on one alone.
#
#   scripts/bench.sh [-n INPUTS] [-r REPEATS]   (default: -n 200, as a default run; -r 3)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
cargo build --release --quiet
n=200
repeats=3
while [ $# -gt 0 ]; do
  case $1 in
    -n) n=$2; shift 2 ;;
    -r) repeats=$2; shift 2 ;;
    *) echo "usage: scripts/bench.sh [-n INPUTS] [-r REPEATS]" >&2; exit 2 ;;
  esac
done
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
loop() { # cache-dir -> "inputs/s seconds"
  local count seconds rate result
  result=$(TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python scripts/bench_loop.py \
    --xla-cache "$1" "$out/inputs" "$modes" cases/[!_]*.py 2>/dev/null)
  read -r count seconds rate <<<"$result"
  echo "$rate $seconds"
}
declare -A rates seconds
measure() { # name, then a command that prints "inputs/s seconds"; appends to the name's list
  local name=$1 result rate second
  shift
  result=$("$@")
  read -r rate second <<<"$result"
  rates[$name]+="$rate "
  seconds[$name]+="$second "
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
tfdiff_rate() { # out-dir, cache-dir, jobs
  run "$1" --xla-cache "$2" --jobs "$3"
  rate "$1/run.json"
}
for repeat in $(seq "$repeats"); do
  # Cold: a new empty cache per contender and repeat; warm: the one its cold run filled.
  for temperature in cold warm; do
    measure "loop-$temperature" loop "$out/cache-loop-$repeat"
    measure "j1-$temperature" tfdiff_rate "$out/j1-$temperature" "$out/cache-j1-$repeat" 1
    measure "jn-$temperature" tfdiff_rate "$out/jn-$temperature" "$out/cache-jn-$repeat" "$cpus"
    rm -rf "$out/j1-$temperature" "$out/jn-$temperature"
  done
done
for name in "${!rates[@]}"; do
  rates[$name]=$(median <<<"${rates[$name]}")
  seconds[$name]=$(median <<<"${seconds[$name]}")
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "median of $repeats:"
printf '%-26s %14s %9s %14s %9s\n' "what ($n inputs per case)" "cold inputs/s" seconds \
  "warm inputs/s" seconds
for row in "loop:plain Python loop" "j1:tfdiff --jobs 1" "jn:tfdiff --jobs $cpus"; do
  key=${row%%:*}
  printf '%-26s %14s %9s %14s %9s\n' "${row#*:}" "${rates[$key-cold]}" "${seconds[$key-cold]}" \
    "${rates[$key-warm]}" "${seconds[$key-warm]}"
done
echo
printf '%-26s %6s %6s  %s\n' ratio cold warm target
printf '%-26s %6s %6s  %s\n' "--jobs $cpus / --jobs 1" "$(ratio "${rates[jn-cold]}" "${rates[j1-cold]}")" \
  "$(ratio "${rates[jn-warm]}" "${rates[j1-warm]}")" ">= 1.7 on 2 CPUs"
printf '%-26s %6s %6s  %s\n' "--jobs 1 / plain loop" "$(ratio "${rates[j1-cold]}" "${rates[loop-cold]}")" \
  "$(ratio "${rates[j1-warm]}" "${rates[loop-warm]}")" ">= 0.9 (the protocol's cost)"
printf '%-26s %6s %6s  %s\n' "--jobs $cpus / plain loop" "$(ratio "${rates[jn-cold]}" "${rates[loop-cold]}")" \
  "$(ratio "${rates[jn-warm]}" "${rates[loop-warm]}")" ">= 1.5"
echo
echo "per mode, with numpy, --jobs $cpus, no XLA cache:"
printf '%-11s %12s %12s %s\n' mode inputs/s seconds built
for mode in eager graph xla v1 tflite saved_model tfdata; do
  run "$out/$mode" --modes "numpy,$mode" --no-xla-cache
  .venv/bin/python - "$out/$mode/run.json" "$mode" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
mode = sys.argv[2]
traces = sum(case.get(mode, 0) for case in run["traces"].values())
print("%-11s %12.1f %12.1f %d" % (mode, run["inputs_per_second"], run["elapsed_seconds"], traces))
PY
done
