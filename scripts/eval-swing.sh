#!/usr/bin/env bash
# Does a model with controls play the swing it is asked for? 30-s clips at 70 and 85 BPM,
# `--swing` 0, 0.25 and 0.5, three sampler seeds each, "Dm7 G7 Cmaj7 Am7", with the built-in
# `sixteenths` groove, whose hats play every 16th (swing delays the off 16ths, so a groove needs
# them to show it), and with the default `lazy` groove (hats on 8ths, a few off-16th ghosts).
# `lofigen eval` reads each clip's swing as the control score reads a training track's. Raw
# 8 kHz model output.
#   bash scripts/eval-swing.sh OUT_DIR [--run RUN] [other lofi options]
# (default: the bundled model, f16, what users hear). LOFIGEN_BIN, LOFIGEN_SEEDS and
# LOFIGEN_REFERENCE as in scripts/eval-args.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/eval-args.sh "$@"
for groove in sixteenths lazy; do
  for bpm in 70 85; do
    for swing in 0 0.25 0.5; do
      files=()
      for seed in "${seeds[@]}"; do
        f="$out/$groove-$bpm-swing$swing-seed$seed.wav"
        "$bin" lofi "${model[@]}" --bpm "$bpm" --chords "Dm7 G7 Cmaj7 Am7" --swing "$swing" \
          --groove "$groove" --seed "$seed" --seconds 30 --rate 8000 --fx none --out "$f" \
          > /dev/null 2>> "$out/lofi.log"
        files+=("$f")
      done
      echo "== $groove, $bpm BPM, --swing $swing"
      "$bin" eval "${files[@]}" --reference "$reference" --bpm "$bpm" \
        --out "$out/eval-$groove-$bpm-swing$swing" | sed -n '1,5p'
    done
  done
done
