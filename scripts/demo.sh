#!/usr/bin/env bash
# The main job on the bundled clip: prepare, train seed4 for a few minutes, generate, plot.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo run --release -p lofigen-cli -- demo "$@"
