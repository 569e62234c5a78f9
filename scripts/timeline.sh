#!/usr/bin/env bash
# Since when? Runs the cases with one seed in one environment per requirement set (e.g. one per
# TensorFlow release) and writes `tfdiff timeline` of the runs: per signature the versions where
# it occurs, first and last seen, whether it comes and goes; per case x pair the error per
# version; per version the environment and the contamination probe's answer.
#
#   scripts/timeline.sh [--since VERSION] [tfdiff run options...] -- REQUIREMENTS...
#   scripts/timeline.sh -- scripts/requirements/tf2.*.txt        # TensorFlow 2.12 ... 2.21
#
# Environments go to $TIMELINE_DIR/envs/<name> (default .timeline/, ignored by git), one per
# requirement file, reused while the file is unchanged, built in parallel (one per CPU) with uv:
# measured here for tensorflow-cpu 2.19.1 + numpy 2.1.3 into a fresh venv, cold caches, uv 9.4 s
# against pip 45.2 s. Runs go to $TIMELINE_DIR/runs/<name> (regressions are not saved; --jobs
# and the other run options are passed on), each with a copy of its requirement file; an
# environment that cannot be built or run leaves a FAILED note there instead of a run, and is
# a row of the timeline that says so. The timeline is written to $TIMELINE_DIR.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() {
  echo "usage: scripts/timeline.sh [--since VERSION] [tfdiff run options...] -- REQUIREMENTS..." >&2
  exit 2
}
since=()
run_options=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case $1 in
    --since) [ $# -ge 2 ] || usage; since=(--since "$2"); shift 2 ;;
    *) run_options+=("$1"); shift ;;
  esac
done
[ $# -gt 0 ] || usage
shift
[ $# -gt 0 ] || usage
requirements=("$@")
for file in "${requirements[@]}"; do
  [ -f "$file" ] || { echo "timeline.sh: $file: no such requirement file" >&2; exit 2; }
done

root=${TIMELINE_DIR:-.timeline}
python=${PYO3_PYTHON:-python3}
mkdir -p "$root/envs" "$root/runs"
started=$(date +%s)

cargo build --release --quiet
tfdiff=./target/release/tfdiff

# uv, pinned, in a small venv of its own.
tools="$root/tools"
if [ ! -x "$tools/bin/uv" ]; then
  "$python" -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check uv==0.13.9
fi

name_of() { basename "$1" .txt; }

build() { # requirement file: builds (or reuses) its environment; the log says how it went
  local file=$1 name env
  name=$(name_of "$file")
  env="$root/envs/$name"
  if [ -f "$env/.tfdiff-requirements" ] && cmp -s "$env/.tfdiff-requirements" "$file"; then
    echo "reused" >"$env.log"
    return 0
  fi
  rm -rf "$env" "$env.failed"
  if "$python" -m venv "$env" >"$env.log" 2>&1 &&
    "$tools/bin/uv" pip install --quiet --python "$env/bin/python" -r "$file" >>"$env.log" 2>&1; then
    cp "$file" "$env/.tfdiff-requirements"
  else
    tail -n 5 "$env.log" >"$env.failed"
  fi
}

echo "timeline.sh: building ${#requirements[@]} environment(s) in $root/envs" >&2
parallel=$(nproc)
for file in "${requirements[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do
    wait -n || true
  done
  build "$file" &
done
wait
built=$(date +%s)

runs=()
for file in "${requirements[@]}"; do
  name=$(name_of "$file")
  env="$root/envs/$name"
  out="$root/runs/$name"
  rm -rf "$out"
  runs+=("$out")
  if [ -f "$env.failed" ]; then
    mkdir -p "$out"
    { echo "the environment could not be built:"; cat "$env.failed"; } >"$out/FAILED"
  else
    echo "timeline.sh: running $name" >&2
    status=0
    "$tfdiff" run --python-env "$env" --out "$out" --no-save-regressions --no-progress \
      "${run_options[@]}" >"$out.log" 2>&1 || status=$?
    if [ ! -f "$out/run.json" ]; then
      mkdir -p "$out"
      { echo "tfdiff exited with status $status before it wrote a run:"; tail -n 5 "$out.log"; } >"$out/FAILED"
    fi
  fi
  cp "$file" "$out/requirements.txt"
done
ran=$(date +%s)

"$tfdiff" timeline --out "$root" "${since[@]}" "${runs[@]}"
echo "timeline.sh: environments $((built - started)) s, runs $((ran - built)) s; timeline in $root/timeline.md" >&2
