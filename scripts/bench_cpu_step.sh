#!/usr/bin/env bash
# CPU seconds (user + sys, all threads) per training step of one preset, for a shared machine
# where wall times depend on other people's jobs: (CPU of a 6-step run - CPU of a 1-step run) / 5,
# which cancels start-up, audio loading and the warm-up step.
# Usage: scripts/bench_cpu_step.sh [binary] [preset] [batch]
set -euo pipefail
bin=${1:-target/release/lofigen}
preset=${2:-wavenet-small}
batch=${3:-1}
cpu() {
    /usr/bin/time -f "%U %S" "$bin" bench train --presets "$preset" --batches "$batch" --steps "$1" \
        2>&1 >/dev/null | tail -1 | awk '{print $1 + $2}'
}
one=$(cpu 1)
six=$(cpu 6)
awk -v a="$one" -v b="$six" -v p="$preset" -v n="$batch" \
    'BEGIN { printf "%s batch %s: %.3f CPU s/step\n", p, n, (b - a) / 5 }'
