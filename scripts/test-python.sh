#!/usr/bin/env bash
# The Python package (crates/lofigen-py): a virtual environment with maturin, numpy and pytest;
# the extension built and installed by pip (maturin is its build backend); then its pytest
# suite. scripts/test.sh runs this last; `bash scripts/test-python.sh` runs it alone.
#
# The build uses the workspace's target dir (CARGO_TARGET_DIR if set, else target/), in the
# release profile with default features (what `pip install` gives a user) unless
# MATURIN_PEP517_ARGS says otherwise: scripts/test.sh passes "--profile ci --features wgpu" so
# that the extension reuses its tests' compiled dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "== $* (at ${SECONDS}s)"; }
PYTHON="${PYTHON:-python3}"
VENV=".venv-ci"

step "python venv ($VENV)"
command -v "$PYTHON" >/dev/null || { echo "$PYTHON not found: install Python 3.9+" >&2; exit 1; }
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
  # Debian ships the venv module's pip bootstrap apart.
  echo "installing: python3-venv"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
py="$VENV/bin/python"
# As if activated: the maturin build backend runs the `maturin` executable found on PATH.
export PATH="$PWD/$VENV/bin:$PATH" VIRTUAL_ENV="$PWD/$VENV"
"$py" -m pip install -q --disable-pip-version-check maturin numpy pytest

step "python build (pip install crates/lofigen-py)"
# --no-build-isolation: the maturin just installed builds it (no second download).
"$py" -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps \
  --force-reinstall crates/lofigen-py

step "python tests"
rc=0
"$py" -m pytest -q -p no:cacheprovider crates/lofigen-py/tests || rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests in crates/lofigen-py/tests" >&2
fi
exit "$rc"
