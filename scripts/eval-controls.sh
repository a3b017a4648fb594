#!/usr/bin/env bash
# The tempo-and-chords check of a model with controls (issue 14's "must reach"): 30-s clips at
# 70, 85 and 100 BPM with three sampler seeds each, for "Dm7 G7 Cmaj7 Am7" and the same five
# semitones up, measured by `lofigen eval` against the lofi reference (tempo, beat strength,
# beat F, chord agreement, spectrum and MFCC distances). Raw 8 kHz model output, so that the
# effects chain's crackle does not enter the beat measures.
#   bash scripts/eval-controls.sh OUT_DIR [--run RUN] [--precision f32]
# (default: the bundled model with `lofi`'s f16 weights, what users hear)
# LOFIGEN_BIN picks the binary (default: the release build), e.g. target/ci/lofigen after CI.
# LOFIGEN_SEEDS picks other sampler seeds (default "1 2 3", the must-reach clips): settings such
# as a guidance are chosen on other seeds, then checked once on these.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/eval-args.sh "$@"
for key in "Dm7 G7 Cmaj7 Am7" "Gm7 C7 Fmaj7 Dm7"; do
  tag="${key%% *}"
  for bpm in 70 85 100; do
    files=()
    for seed in "${seeds[@]}"; do
      f="$out/$tag-$bpm-seed$seed.wav"
      "$bin" lofi "${model[@]}" --bpm "$bpm" --chords "$key" --seed "$seed" --seconds 30 \
        --rate 8000 --fx none --out "$f" > /dev/null 2>> "$out/lofi.log"
      files+=("$f")
    done
    "$bin" eval "${files[@]}" --reference "$reference" --bpm "$bpm" --chords "$key" \
      --out "$out/eval-$tag-$bpm" | sed -n '1,5p'
  done
done
