#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what it needs,
# builds the canister Wasm once, then runs the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build-canisters.sh

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --workspace --no-fail-fast "$@"
else
    echo "==> cargo-nextest not found, using cargo test"
    cargo test --locked --workspace --no-fail-fast "$@"
fi
# Doc tests are not run by nextest.
cargo test --locked --workspace --doc
