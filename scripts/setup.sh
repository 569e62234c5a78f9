#!/usr/bin/env bash
# Creates (or refreshes) the Python environment tfdiff embeds: .venv/ at the repository root,
# with the exact pins of scripts/requirements.txt. Idempotent: a second run only checks.
#
#   scripts/setup.sh                   # .venv from scripts/requirements.txt
#   scripts/setup.sh DIR REQUIREMENTS  # another environment, e.g. for an upgrade check
#
# The interpreter is $PYO3_PYTHON, else python3: the same one cargo links tfdiff against,
# so the environment's Python version always matches the embedded interpreter.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${1:-"$root/.venv"}
requirements=${2:-"$root/scripts/requirements.txt"}
python=${PYO3_PYTHON:-python3}

if ! command -v "$python" >/dev/null 2>&1; then
  echo "setup.sh: no '$python' on PATH; install CPython 3 (with its shared library) or set PYO3_PYTHON" >&2
  exit 2
fi

want_version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
stamp="$venv/.tfdiff-requirements"

if [ -x "$venv/bin/python" ]; then
  have_version=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo none)
  if [ "$have_version" != "$want_version" ]; then
    echo "setup.sh: $venv has Python $have_version but $python is $want_version; recreating it" >&2
    rm -rf "$venv"
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "setup.sh: creating $venv with $("$python" --version)" >&2
  "$python" -m venv "$venv"
fi

# Skip pip entirely when the installed set was made from these exact requirements and still imports.
if [ -f "$stamp" ] && cmp -s "$stamp" "$requirements" \
  && "$venv/bin/python" -c 'import numpy, tensorflow' >/dev/null 2>&1; then
  echo "setup.sh: $venv is up to date with $requirements" >&2
  exit 0
fi

echo "setup.sh: installing $requirements into $venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
TF_CPP_MIN_LOG_LEVEL=3 "$venv/bin/python" -c 'import numpy, tensorflow; print("setup.sh: numpy", numpy.__version__, "tensorflow", tensorflow.__version__)' >&2
cp "$requirements" "$stamp"
