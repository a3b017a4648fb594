#!/usr/bin/env bash
# Fails when the Python extension's dependencies would be compiled with other features than the
# tests' build (`cargo test --workspace --features wgpu`): scripts/test.sh builds the extension
# on that build's artifacts (same profile, same features) instead of compiling the burn stack a
# second time, and one crate with a different feature set (say `memchr` without `default`)
# rebuilds everything above it. The fix is a line in crates/lofigen-py/Cargo.toml's feature
# list naming the crate with the features this prints.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
tree() { cargo tree --quiet --prefix none --format '{p}|{f}' "$@"; }
tree -p lofigen-py --features lofigen-py/wgpu -e normal,build > "$tmp/python"
tree --workspace --features wgpu -e normal,build,dev > "$tmp/tests"
python3 - "$tmp/python" "$tmp/tests" <<'EOF'
import sys

def features(path):
    """Package "name version" -> its features, merged over the tree's lines."""
    out = {}
    for line in open(path):
        line = line.strip().replace(" (*)", "")
        if "|" not in line:
            continue
        package, feats = line.split("|", 1)
        key = " ".join(package.split()[:2])
        out.setdefault(key, set()).update(f.strip() for f in feats.split(",") if f.strip())
    return out

python, tests = features(sys.argv[1]), features(sys.argv[2])
if not python or not tests:
    sys.exit("check-features: cargo tree listed no crates")
drift = [
    f"  {p}: the tests' build has [{', '.join(sorted(tests[p]))}], "
    f"the Python build [{', '.join(sorted(python[p]))}]"
    for p in sorted(python)
    if p in tests and python[p] != tests[p]
]
if drift:
    print("check-features: the Python extension's dependencies differ in features from the "
          "tests' build,\nso scripts/test.sh would compile them twice. Name these crates with "
          "the tests' features in crates/lofigen-py/Cargo.toml:", file=sys.stderr)
    print("\n".join(drift), file=sys.stderr)
    sys.exit(1)
print(f"check-features: the Python build's {len(python)} crates match the tests' build")
EOF
