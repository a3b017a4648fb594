#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build, run and test lofigen: pkg-config and
# fontconfig (plotters finds fonts through it for the plot labels), one font, and the Vulkan
# loader with Mesa's software driver (lavapipe), on which the WGPU backend's tests run; make,
# which builds LAME (the radio's MP3 encoder, from mp3lame-sys's bundled source); Chromium and
# its WebDriver, with which the radio's browser test plays the page; Icecast (icecast2), which
# the radio's --icecast tests run on loopback with a config of their own.
set -euo pipefail
need=()
for pkg in pkg-config libfontconfig1-dev fonts-dejavu-core libvulkan1 mesa-vulkan-drivers make \
           chromium chromium-driver icecast2; do
  # Installed, not merely known (a removed package leaves "deinstall ok config-files").
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # Noninteractive (through env: sudo drops the caller's environment): icecast2's debconf
  # questions keep their defaults, its config untouched.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
    >/dev/null
  if [[ " ${need[*]} " == *" icecast2 "* ]]; then
    # The tests start their own Icecast; the package's service would listen on every interface
    # with the default passwords ("hackme"), so the one just installed is stopped and disabled.
    if [ -d /run/systemd/system ]; then
      $SUDO systemctl disable --now icecast2 >/dev/null 2>&1 || true
    else
      $SUDO service icecast2 stop >/dev/null 2>&1 || true
      $SUDO update-rc.d icecast2 disable >/dev/null 2>&1 || true
    fi
    echo "icecast2: its system service is disabled (the tests run their own)"
  fi
fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
