#!/usr/bin/env bash
# Builds every canister Wasm once, in the canister-release profile, into
# target/wasm32-unknown-unknown/canister-release/. Tests and the demo load
# them from there; nothing rebuilds them per test. Honours CARGO_TARGET_DIR.
#
# --gzip: also writes NAME.wasm.gz next to each module (dfx.json, icp.yaml and
# scripts/deploy.sh install those: the plain modules exceed the 2 MiB ingress limit).
set -euo pipefail
cd "$(dirname "$0")/.."

GZIP_OUT=0
for arg in "$@"; do
    case "$arg" in
        --gzip) GZIP_OUT=1 ;;
        *) echo "usage: scripts/build-canisters.sh [--gzip]" >&2; exit 2 ;;
    esac
done

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
OUT="${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/canister-release"
if [ "$GZIP_OUT" = 1 ]; then
    for f in "$OUT"/*.wasm; do gzip -9 -n -c "$f" > "$f.gz"; done
fi
ls -l "$OUT"/*.wasm*
