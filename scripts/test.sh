#!/usr/bin/env bash
# Set-up, lint gates, then every test (release build: the deep-learning crates are too slow
# unoptimised, and one profile means one build).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -- -D warnings
cargo test --release --workspace
