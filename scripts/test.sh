#!/usr/bin/env bash
# The project's test command: sets up what is missing (the Python environment), then checks
# formatting and lints and runs every test against the real NumPy, TensorFlow and Keras — and
# report.html in a real browser when headless Chromium is installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  echo "test.sh: Chromium found: the browser test of report.html runs" >&2
else
  echo "test.sh: no Chromium on PATH: the browser test of report.html is SKIPPED" \
    "(install Debian's chromium package to run it; .ci/run does)" >&2
fi
cargo fmt --all -- --check
cargo clippy --release --all-targets -- -D warnings
cargo test --release
