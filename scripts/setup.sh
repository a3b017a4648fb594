#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build, run and test lofigen: pkg-config and
# fontconfig (plotters finds fonts through it for the plot labels), one font, and the Vulkan
# loader with Mesa's software driver (lavapipe), on which the WGPU backend's tests run; make,
# which builds LAME (the radio's MP3 encoder, from mp3lame-sys's bundled source); Chromium and
# its WebDriver, with which the radio's browser test plays the page.
set -euo pipefail
need=()
for pkg in pkg-config libfontconfig1-dev fonts-dejavu-core libvulkan1 mesa-vulkan-drivers make \
           chromium chromium-driver; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
