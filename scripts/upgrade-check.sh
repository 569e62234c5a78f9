#!/usr/bin/env bash
# The upgrade check in one command: builds a Python environment for each of two requirement sets,
# runs tfdiff with the same seed in both, and diffs the two runs.
#
#   scripts/upgrade-check.sh OLD_REQUIREMENTS NEW_REQUIREMENTS [tfdiff run options...]
#   scripts/upgrade-check.sh scripts/requirements-tf2.17-np1.26.txt scripts/requirements.txt
#
# Environments are kept in .venv-upgrade/<name of the requirements file>/ and reused while the
# file is unchanged. Reports go to reports/upgrade-<time>/{old,new,diff}. Regressions are not
# saved from either side. Exit status: that of `tfdiff diff` — 1 when the new side shows a
# divergence signature the old side did not — or 2 when something could not be set up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ $# -lt 2 ]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
old_requirements=$1
new_requirements=$2
shift 2
for file in "$old_requirements" "$new_requirements"; do
  [ -f "$file" ] || { echo "upgrade-check.sh: no requirements file $file" >&2; exit 2; }
done

env_for() { echo ".venv-upgrade/$(basename "$1" .txt)"; }
old_env=$(env_for "$old_requirements")
new_env=$(env_for "$new_requirements")
scripts/setup.sh "$old_env" "$old_requirements"
scripts/setup.sh "$new_env" "$new_requirements"
cargo build --release --quiet

out="reports/upgrade-$(date -u +%Y%m%d-%H%M%S)"
run_side() {
  local side=$1 env=$2 status=0
  shift 2
  echo "upgrade-check.sh: running tfdiff on the $side side ($env)" >&2
  ./target/release/tfdiff run --python-env "$env" --out "$out/$side" --no-save-regressions \
    --no-progress "$@" >"$out/$side.txt" || status=$?
  if [ "$status" -ge 2 ]; then
    echo "upgrade-check.sh: tfdiff failed on the $side side (exit $status); see $out/$side" >&2
    exit "$status"
  fi
}
mkdir -p "$out"
run_side old "$old_env" "$@"
run_side new "$new_env" "$@"
status=0
./target/release/tfdiff diff "$out/old" "$out/new" --out "$out/diff" || status=$?
echo "upgrade-check.sh: reports in $out" >&2
exit "$status"
