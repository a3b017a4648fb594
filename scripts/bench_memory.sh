#!/usr/bin/env bash
# Peak resident memory of `lofigen prepare` on a long 44.1 kHz stereo WAV (default 3 hours,
# 1.9 GB), synthesised here. Usage: bash scripts/bench_memory.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10800}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo build --release -q -p lofigen-cli
cargo run --release -q -p lofigen-audio --example synth_long_wav -- "$work/long/long.wav" "$secs" 44100 2 2>/dev/null \
  || { mkdir -p "$work/long" && cargo run --release -q -p lofigen-audio --example synth_long_wav -- "$work/long/long.wav" "$secs" 44100 2; }
ls -l "$work/long/long.wav"
/usr/bin/time -v target/release/lofigen prepare "$work/long" --out "$work/corpus" 2> "$work/time.txt" >/dev/null
grep -E "Maximum resident|Elapsed" "$work/time.txt"
