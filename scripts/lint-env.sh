# Sourced by scripts/test.sh and scripts/test-gpu.sh: builds that lint as they compile.
# clippy-driver becomes the compiler of the workspace's own crates (what `cargo clippy` sets up),
# with `-D warnings`, so the test build lints every target it compiles and no check-only build
# of the dependency tree is needed. The Python extension's build inherits it too, and shares
# the test build's artifacts because the setting is the same.
export RUSTC_WORKSPACE_WRAPPER=clippy-driver
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
