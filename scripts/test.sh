#!/usr/bin/env bash
# Set-up, lint gates, then every test (release build: the deep-learning crates are too slow
# unoptimised, and one profile means one build). The GPU backends have their own script,
# scripts/test-gpu.sh (not yet part of CI: see issue #8's note).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "== $* (at ${SECONDS}s)"; }
bash scripts/setup.sh
step fmt
cargo fmt --all -- --check
step clippy
cargo clippy --release --workspace --all-targets -- -D warnings
step tests
cargo test --release --workspace
step "done"
