#!/usr/bin/env bash
# The GPU backends' part of scripts/test.sh, runnable alone: lint and type-check both GPU
# features, then the WGPU tests on lavapipe (Mesa's software Vulkan, any CPU). On a headless
# machine Mesa prints "XDG_RUNTIME_DIR is invalid or not set" while it probes for a display:
# harmless.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "== $* (at ${SECONDS}s)"; }
[ "${LOFIGEN_SETUP_DONE:-}" = 1 ] || bash scripts/setup.sh
# `cuda` is checked, not built: cubecl-cuda's LLVM (for PTX) comes from a build script that
# downloads a bundle, and neither this machine class nor CI reaches the internet. DOCS_RS is
# that script's documented switch for builds that do not link (docs.rs does the same).
step "clippy --features wgpu,cuda"
DOCS_RS=1 cargo clippy --release --workspace --all-targets --features wgpu,cuda -- -D warnings
# The same feature graph, profile and compiler setting as scripts/test.sh, so nothing is built
# twice. These tests fail, not skip, when no Vulkan driver answers.
source scripts/lint-env.sh
step "wgpu tests (lavapipe)"
cargo test --profile ci --workspace --features wgpu --test wgpu --test devices
step "gpu done"
