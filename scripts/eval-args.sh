# Sourced by scripts/eval-controls.sh and scripts/eval-swing.sh, with their arguments: the output
# folder (created), the model's `lofigen lofi` options (`model`, e.g. --run RUN), the binary
# (LOFIGEN_BIN, default the release build), the reference set (LOFIGEN_REFERENCE, default
# ../shared/data/lofi) and the sampler seeds (LOFIGEN_SEEDS, default "1 2 3").
out="${1:?usage: $(basename "$0") OUT_DIR [--run RUN] [other lofi options]}"
shift
model=("$@")
bin="${LOFIGEN_BIN:-target/release/lofigen}"
reference="${LOFIGEN_REFERENCE:-../shared/data/lofi}"
read -r -a seeds <<< "${LOFIGEN_SEEDS:-1 2 3}"
mkdir -p "$out"
