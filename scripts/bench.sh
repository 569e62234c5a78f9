#!/usr/bin/env bash
# Throughput benchmark. Prints, for the shipped cases in the default modes with shrinking off:
# tfdiff with --jobs 1 and with --jobs = CPUs, and a plain Python loop that runs the same cases
# in the same modes on the same inputs in one process with no harness (scripts/bench_loop.py,
# the single-process limit), as inputs/s and ratios; then inputs/s per TensorFlow mode (each
# beside numpy), with what the mode built (traces, TFLite conversions, SavedModel exports).
# Beside them, what the machine itself allows: as many plain loops at once as there are CPUs,
# each on every input with a cache of its own, their rates summed. No harness is in the way
# there, so their ratio to one loop is the most --jobs = CPUs / --jobs 1 could reach (cold, a
# lone process also keeps the spare CPU partly busy, compiling; two at once cannot).
# Each is measured twice: cold (an empty XLA cache: every program compiled, as on a fresh
# machine) and warm (the cache its cold run filled: programs loaded, as in every later run).
# Asserts nothing. Rates count evaluation only, as run.json's inputs_per_second: worker and
# interpreter start-up are left out on both sides (a worker starts in about 2.5 s), and so is
# the end of a tfdiff run (the contamination probe's last stage, the workers' shutdown and the
# final reports: about 0.25 s).
#
# A machine's speed drifts: on a shared 2-core VM the same run measures 10-30% apart from one
# minute to the next (CPU time the host took is printed as "stolen"; most of the drift is not
# that). So the three contenders are measured in rounds, back to back, their order rotated from
# one round to the next, and each ratio is the median over rounds of that round's ratio, whose
# two sides met the same minute; rates are medians over rounds.
#
#   scripts/bench.sh [-n INPUTS] [-r ROUNDS]   (default: -n 200, as a default run; -r 5)
#
# With -p PAIRS it measures only --jobs = CPUs / --jobs 1, sharper: PAIRS pairs of the two run
# back to back (the order alternating from pair to pair, so neither side always runs first),
# warm (each on a cache its first, uncounted, run filled), then cold (an empty cache per run),
# and prints each pair's ratio and their median and quartiles. In the full bench the two sides
# are minutes apart and five rounds leave the median at the drift's mercy.
#
#   scripts/bench.sh -p PAIRS [-n INPUTS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage="scripts/bench.sh [-n INPUTS] [-r ROUNDS] | -p PAIRS [-n INPUTS]"
n=200
rounds= # empty unless -r is given, and so is pairs: giving both is an error
pairs=
while [ $# -gt 0 ]; do
  case $1 in
    -n | -r | -p)
      if [ $# -lt 2 ] || [ -z "$2" ]; then
        echo "bench.sh: $1 needs a number; usage: $usage" >&2
        exit 2
      fi
      case $1 in -n) n=$2 ;; -r) rounds=$2 ;; -p) pairs=$2 ;; esac
      shift 2 ;;
    *) echo "usage: $usage" >&2; exit 2 ;;
  esac
done
for value in "$n" "${rounds:-1}" "${pairs:-1}"; do # an option not given passes
  case $value in
    *[!0-9]*)
      echo "bench.sh: '$value' is not a whole number; usage: $usage" >&2
      exit 2 ;;
  esac
  if [ $((10#$value)) = 0 ]; then
    echo "bench.sh: -n, -r and -p take 1 or more; usage: $usage" >&2
    exit 2
  fi
done
if [ -n "$rounds" ] && [ -n "$pairs" ]; then
  # -p runs pairs, not rounds: a -r beside it would be ignored, and silently is worse.
  echo "bench.sh: -r (rounds of the full bench) and -p (pairs) are two different benches; give one; usage: $usage" >&2
  exit 2
fi
repeats=${rounds:-5}
scripts/setup.sh
cargo build --release --quiet
cpus=$(nproc)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
tfdiff=./target/release/tfdiff
modes=numpy,eager,graph,xla

rate() { # run.json -> "inputs/s seconds" (of evaluation: the run less its start and end)
  .venv/bin/python -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.1f %.2f" % (r["inputs_per_second"], r["evaluation_seconds"]))' "$1"
}
run() { # out-dir, then tfdiff options
  local dir=$1; shift
  "$tfdiff" run -n "$n" --shrink-time 0 --no-save-regressions --no-progress --out "$dir" "$@" \
    >/dev/null 2>"$dir.err" || [ $? -eq 1 ] || { cat "$dir.err" >&2; exit 2; }
}

loop() { # cache-dir -> "inputs/s seconds"
  local count seconds rate result
  result=$(TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python scripts/bench_loop.py \
    --xla-cache "$1" "$out/inputs" "$modes" cases/[!_]*.py 2>/dev/null)
  read -r count seconds rate <<<"$result"
  echo "$rate $seconds"
}
loops() { # cache-dir prefix -> "inputs/s seconds": $cpus loops at once, rates summed
  local i
  for i in $(seq "$cpus"); do loop "$1-$i" >"$out/loops-$i" & done
  wait
  cat "$out"/loops-* | awk '{ rate += $1; if ($2 > seconds) seconds = $2 }
    END { printf "%.1f %.2f\n", rate, seconds }'
  rm -f "$out"/loops-*
}
declare -A rates seconds ratios
measure() { # name, then a command that prints "inputs/s seconds"; appends to the name's list
  local name=$1 result rate second
  shift
  result=$("$@")
  read -r rate second <<<"$result"
  rates[$name]+="$rate "
  seconds[$name]+="$second "
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
last() { tr ' ' '\n' | grep . | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
tfdiff_rate() { # out-dir, cache-dir, jobs -> "inputs/s seconds"; the out-dir is removed after
  run "$1" --xla-cache "$2" --jobs "$3"
  rate "$1/run.json"
  rm -rf "$1"
}
contender() { # loop|j1|jn|loops, temperature, round
  case $1 in
    loop) measure "loop-$2" loop "$out/cache-loop-$3" ;;
    loops) measure "loops-$2" loops "$out/cache-loops-$3" ;;
    j1) measure "j1-$2" tfdiff_rate "$out/j1-$2" "$out/cache-j1-$3" 1 ;;
    jn) measure "jn-$2" tfdiff_rate "$out/jn-$2" "$out/cache-jn-$3" "$cpus" ;;
  esac
}
quartiles() { # ratios -> "median M, quartiles Q1-Q3, K of N at 1.7 or more"
  .venv/bin/python -c 'import statistics as s, sys
r = [float(x) for x in sys.argv[1:]]
q = s.quantiles(r, n=4) if len(r) > 1 else [r[0]] * 3
print("median %.2f, quartiles %.2f-%.2f, %d of %d at 1.7 or more" % (s.median(r), q[0], q[2], sum(x >= 1.7 for x in r), len(r)))' "$@"
}
pairs_bench() { # --jobs 1 and --jobs $cpus back to back, $pairs times warm, then cold
  local temperature i first second jobs rates j1 jn ratio list
  pair_rate() { # cache-dir, jobs -> inputs/s of one run
    local result
    result=$(tfdiff_rate "$out/pair" "$1" "$2")
    echo "${result%% *}"
  }
  echo "--jobs $cpus / --jobs 1 in $pairs back-to-back pairs (target >= 1.7 on 2 CPUs):"
  for temperature in warm cold; do
    list=()
    if [ "$temperature" = warm ]; then # fill each side's cache; these runs do not count
      pair_rate "$out/pair-cache-1" 1 >/dev/null
      pair_rate "$out/pair-cache-$cpus" "$cpus" >/dev/null
    fi
    for i in $(seq "$pairs"); do
      if [ $((i % 2)) = 1 ]; then first=1 second=$cpus; else first=$cpus second=1; fi
      rates=()
      for jobs in "$first" "$second"; do
        [ "$temperature" = cold ] && rm -rf "$out/pair-cache-$jobs"
        rates+=("$(pair_rate "$out/pair-cache-$jobs" "$jobs")")
      done
      if [ "$first" = 1 ]; then j1=${rates[0]} jn=${rates[1]}; else jn=${rates[0]} j1=${rates[1]}; fi
      ratio=$(ratio "$jn" "$j1")
      list+=("$ratio")
      echo "  $temperature pair $i: --jobs 1 $j1, --jobs $cpus $jn inputs/s: $ratio"
    done
    echo "$temperature: $(quartiles "${list[@]}")"
  done
}
if [ -n "$pairs" ]; then
  pairs_bench
  exit 0
fi
# The inputs the plain loops run, as tfdiff generates them.
"$tfdiff" inputs --out "$out/inputs" -n "$n" 2>/dev/null
stolen() { awk '/^cpu / { print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
read -r stolen_before total_before < <(stolen)
order=(loop j1 jn loops)
for round in $(seq "$repeats"); do
  # Cold: a new empty cache per contender and round; warm: the one its cold run filled.
  for temperature in cold warm; do
    for who in "${order[@]}"; do
      contender "$who" "$temperature" "$round"
    done
    for pair in jn-j1 j1-loop jn-loop loops-loop; do
      ratios[$pair-$temperature]+="$(ratio "$(last <<<"${rates[${pair%-*}-$temperature]}")" \
        "$(last <<<"${rates[${pair#*-}-$temperature]}")") "
    done
  done
  order=("${order[@]:1}" "${order[0]}")
done
read -r stolen_after total_after < <(stolen)
declare -A each
for name in "${!rates[@]}"; do
  each[$name]=${rates[$name]% }
  rates[$name]=$(median <<<"${rates[$name]}")
  seconds[$name]=$(median <<<"${seconds[$name]}")
done
for name in "${!ratios[@]}"; do
  ratios[$name]="$(median <<<"${ratios[$name]}") (${ratios[$name]% })"
done

echo "median of $repeats rounds; CPU time stolen by the host meanwhile:" \
  "$(awk -v s=$((stolen_after - stolen_before)) -v t=$((total_after - total_before)) 'BEGIN { printf "%.1f%%", 100 * s / t }')"
printf '%-26s %14s %9s %14s %9s\n' "what ($n inputs per case)" "cold inputs/s" seconds \
  "warm inputs/s" seconds
for row in "loop:plain Python loop" "j1:tfdiff --jobs 1" "jn:tfdiff --jobs $cpus" \
  "loops:$cpus plain loops at once"; do
  key=${row%%:*}
  printf '%-26s %14s %9s %14s %9s\n' "${row#*:}" "${rates[$key-cold]}" "${seconds[$key-cold]}" \
    "${rates[$key-warm]}" "${seconds[$key-warm]}"
done
echo "each round's inputs/s, in the order measured (cold | warm):"
for row in "loop:plain Python loop" "j1:tfdiff --jobs 1" "jn:tfdiff --jobs $cpus" \
  "loops:$cpus plain loops at once"; do
  key=${row%%:*}
  printf '%-26s %s | %s\n' "${row#*:}" "${each[$key-cold]}" "${each[$key-warm]}"
done
echo
echo "ratio (median of the rounds' ratios; each round's in brackets)"
for row in "jn-j1:--jobs $cpus / --jobs 1:>= 1.7 on 2 CPUs" \
  "j1-loop:--jobs 1 / plain loop:>= 0.9 (the protocol's cost)" "jn-loop:--jobs $cpus / plain loop:>= 1.5" \
  "loops-loop:$cpus loops at once / one:none (what the machine allows)"; do
  IFS=: read -r key label target <<<"$row"
  printf '%-24s target %s\n  cold %s\n  warm %s\n' "$label" "$target" "${ratios[$key-cold]}" \
    "${ratios[$key-warm]}"
done
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
print("%-11s %12.1f %12.1f %d" % (mode, run["inputs_per_second"], run["evaluation_seconds"], traces))
PY
done
