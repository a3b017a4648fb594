#!/usr/bin/env bash
# Set-up, lint gates, then every test. One feature graph for the tests: `--features wgpu`
# builds the CPU code and the WGPU backend together, so the default tests and the GPU tests
# (on lavapipe, Mesa's software Vulkan, installed by setup.sh) come from one build. The `ci`
# profile is release with the GPU stack at opt-level 1 (see Cargo.toml). Clippy runs over the
# default features and over both GPU features (`cuda` is type-checked, not built: see
# scripts/test-gpu.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "== $* (at ${SECONDS}s)"; }
bash scripts/setup.sh
step fmt
cargo fmt --all -- --check
step clippy
cargo clippy --release --workspace --all-targets -- -D warnings
step "clippy --features wgpu,cuda"
DOCS_RS=1 cargo clippy --release --workspace --all-targets --features wgpu,cuda -- -D warnings
step "tests (with the WGPU tests on lavapipe)"
cargo test --profile ci --workspace --features wgpu
bash scripts/test-python.sh
step "done"
