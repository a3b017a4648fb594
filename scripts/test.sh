#!/usr/bin/env bash
# Set-up, lint gates, then every test (release build: the deep-learning crates are too slow
# unoptimised, and one profile means one build), then the GPU backends' part
# (scripts/test-gpu.sh: both GPU features linted, the WGPU tests on a software Vulkan driver).
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
LOFIGEN_SETUP_DONE=1 bash scripts/test-gpu.sh
bash scripts/test-python.sh
step "done"
