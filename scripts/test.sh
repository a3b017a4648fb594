#!/usr/bin/env bash
# Set-up, lint gates, then every test (release build: the deep-learning crates are too slow
# unoptimised, and one profile means one build). Then the GPU backends: the WGPU tests on
# lavapipe (software Vulkan, installed by setup.sh), and the CUDA backend type-checked (no GPU
# or CUDA toolkit needed; the driver is loaded at run time).
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
# Not in the default build: these need the wgpu feature, and fail (they do not skip) when no
# Vulkan driver answers.
step "wgpu tests (lavapipe)"
cargo test --release -p lofigen --features wgpu --test wgpu
cargo test --release -p lofigen-cli --features wgpu --test devices
# Lints the GPU-only code and compiles the CUDA backend.
step "clippy with --features wgpu,cuda"
cargo clippy --release --workspace --all-targets --features wgpu,cuda -- -D warnings
step "done"
