#!/usr/bin/env bash
# Builds every canister Wasm once, in the canister-release profile, into
# target/wasm32-unknown-unknown/canister-release/. Tests and the demo load
# them from there; nothing rebuilds them per test.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    echo "==> installing the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
fi

# Every workspace member that builds a canister (cdylib with ic-cdk) is listed here.
CANISTERS=(conformance-canister localnet-icrc-ledger)
for dir in canisters/*/; do
    [ -f "$dir/Cargo.toml" ] || continue
    CANISTERS+=("$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$dir/Cargo.toml" | head -n1)")
done

args=()
for c in "${CANISTERS[@]}"; do args+=(-p "$c"); done
echo "==> building canister Wasm: ${CANISTERS[*]}"
cargo build --locked --target wasm32-unknown-unknown --profile canister-release "${args[@]}"
ls -l target/wasm32-unknown-unknown/canister-release/*.wasm
