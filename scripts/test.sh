#!/usr/bin/env bash
# Set-up, lint gates, then every test. One feature graph for the tests: `--features wgpu`
# builds the CPU code and the WGPU backend together, so the default tests and the GPU tests
# (on lavapipe, Mesa's software Vulkan, installed by setup.sh) come from one build. The `ci`
# profile is release with the GPU stack at opt-level 1 (see Cargo.toml), and the Python
# extension is built on the same profile and features. Clippy lints the `cuda` graph in a
# check build and everything the tests build while it compiles (scripts/lint-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "== $* (at ${SECONDS}s)"; }
bash scripts/setup.sh
# A `--features wgpu` build probes for a Vulkan adapter, and Mesa's loader complains on stderr
# ("XDG_RUNTIME_DIR is invalid or not set") on a headless machine; the CLI tests check that
# lofigen's own stderr has no error, so the tests get a private runtime folder.
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "$XDG_RUNTIME_DIR" ]; then
  XDG_RUNTIME_DIR="$(mktemp -d)"
  chmod 700 "$XDG_RUNTIME_DIR"
  export XDG_RUNTIME_DIR
fi
step fmt
cargo fmt --all -- --check
step "features (the Python build shares the tests' build)"
bash scripts/check-features.sh
# `cuda` is type-checked and linted, not built (see scripts/test-gpu.sh); without `wgpu`, so the
# code for builds without it is linted here too.
step "clippy --features cuda"
DOCS_RS=1 cargo clippy --release --workspace --all-targets --features cuda -- -D warnings
source scripts/lint-env.sh
step "build, linting as it compiles"
cargo test --profile ci --workspace --features wgpu --no-run
step "tests (with the WGPU tests on lavapipe)"
cargo test --profile ci --workspace --features wgpu
# The extension on the tests' profile and features: it links their compiled dependencies
# (check-features.sh keeps the feature sets equal) instead of building them again.
MATURIN_PEP517_ARGS="--profile ci --features wgpu" bash scripts/test-python.sh
step "done"
