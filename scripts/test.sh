#!/usr/bin/env bash
# Set-up, lint gates, then every test (release build: the deep-learning crates are too slow
# unoptimised, and one profile means one build). Then the GPU backends: the WGPU tests on
# lavapipe (software Vulkan, installed by setup.sh), and the CUDA backend type-checked (no GPU
# or CUDA toolkit needed; the driver is loaded at run time). On a headless machine Mesa prints
# "XDG_RUNTIME_DIR is invalid or not set" while it probes for a display: harmless.
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
# Vulkan driver answers. One cargo call, so that both test crates share one feature graph
# (`-p lofigen` alone resolves burn's features differently and rebuilds it).
step "wgpu tests (lavapipe)"
cargo test --release --workspace --features wgpu --test wgpu --test devices
# The CUDA backend compiles (type-checks; no GPU, driver or CUDA toolkit needed to build).
step "check --features cuda"
cargo check --release --workspace --all-targets --features cuda
step "done"
