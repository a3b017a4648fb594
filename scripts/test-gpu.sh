#!/usr/bin/env bash
# The GPU backends' tests: the WGPU tests on lavapipe (Mesa's software Vulkan, any CPU) and the
# CUDA backend type-checked (no GPU, driver or CUDA toolkit needed to build; the driver is
# loaded at run time). The wgpu feature set rebuilds most of the dependency tree (about
# 30 CPU-minutes on 2 cores). On a headless machine Mesa prints "XDG_RUNTIME_DIR is invalid or
# not set" while it probes for a display: harmless.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "== $* (at ${SECONDS}s)"; }
bash scripts/setup.sh
need=()
for pkg in libvulkan1 mesa-vulkan-drivers; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# One cargo call, so that both test crates share one feature graph (`-p lofigen` alone
# resolves burn's features differently and rebuilds it). These tests fail, not skip, when no
# Vulkan driver answers.
step "wgpu tests (lavapipe)"
cargo test --release --workspace --features wgpu --test wgpu --test devices
step "clippy --features wgpu"
cargo clippy --release --workspace --all-targets --features wgpu -- -D warnings
step "check --features cuda"
cargo check --release --workspace --all-targets --features cuda
step "done"
