#!/usr/bin/env bash
# Does a model with controls play the swing it is asked for? 30-s clips at 70 and 85 BPM,
# `--swing` 0, 0.25 and 0.5, three sampler seeds each, "Dm7 G7 Cmaj7 Am7", with a groove whose
# hats play every 16th (swing delays the off 16ths, so a groove needs them to show it) and with
# the default `lazy` groove (hats on 8ths, a few off-16th ghosts). `lofigen eval` reads each
# clip's swing as the control score reads a training track's. Raw 8 kHz model output.
#   bash scripts/eval-swing.sh OUT_DIR [--run RUN] [other lofi options]
# (default: the bundled model, f16, what users hear). LOFIGEN_BIN and LOFIGEN_SEEDS as in
# scripts/eval-controls.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: eval-swing.sh OUT_DIR [--run RUN]}"
shift
model=("$@")
bin="${LOFIGEN_BIN:-target/release/lofigen}"
reference="${LOFIGEN_REFERENCE:-../shared/data/lofi}"
read -r -a seeds <<< "${LOFIGEN_SEEDS:-1 2 3}"
hats16="low: x.....x...o..... ; mid: ....x.......x... ; high: xoxoxoxoxoxoxoxo"
mkdir -p "$out"
for groove in hats16 lazy; do
  pattern="$groove"
  [ "$groove" = hats16 ] && pattern="$hats16"
  for bpm in 70 85; do
    for swing in 0 0.25 0.5; do
      files=()
      for seed in "${seeds[@]}"; do
        f="$out/$groove-$bpm-swing$swing-seed$seed.wav"
        "$bin" lofi "${model[@]}" --bpm "$bpm" --chords "Dm7 G7 Cmaj7 Am7" --swing "$swing" \
          --groove "$pattern" --seed "$seed" --seconds 30 --rate 8000 --fx none --out "$f" \
          > /dev/null 2>> "$out/lofi.log"
        files+=("$f")
      done
      echo "== $groove, $bpm BPM, --swing $swing"
      "$bin" eval "${files[@]}" --reference "$reference" --bpm "$bpm" \
        --out "$out/eval-$groove-$bpm-swing$swing" | sed -n '1,5p'
    done
  done
done
