#!/usr/bin/env bash
# The project's test command: sets up what is missing (the Python environment), then checks
# formatting and lints and runs every test against the real NumPy and TensorFlow.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --release --all-targets -- -D warnings
cargo test --release
