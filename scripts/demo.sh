#!/usr/bin/env bash
# The main job on the bundled clip: prepare, train seed4 for a few minutes, generate, plot;
# then 30 s of the bundled model through the lofi chain (out/demo/lofi.wav, listed first).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo run --release -p lofigen-cli -- demo "$@"
