#!/usr/bin/env bash
# Deploys the registry, escrow and router canisters with dfx, wired together.
#
#   scripts/deploy.sh [local|ic] [--upgrade]
#
# Needs dfx (https://internetcomputer.org/docs/building-apps/developer-tools/dfx/)
# and, for `local`, a running replica with Bitcoin support:
#   dfx start --clean --background --enable-bitcoin --bitcoin-node 127.0.0.1:18444
# (a bitcoind in regtest mode listening there). For a local network without
# dfx, use `tensormine network start && tensormine deploy` instead (docs/cli.md).
#
# Order: the three ids must exist before anything is installed, because each
# init argument names the others:
#   1. dfx canister create registry|escrow|router   (ids in .dfx / canister_ids.json)
#   2. dfx build                                    (scripts/build-canisters.sh --gzip)
#   3. dfx canister install registry --argument '(opt variant { Init = record { router = opt opt principal "<router>"; … } })'
#      dfx canister install escrow   --argument '(opt variant { Init = record { router = …; ckbtc_ledger = …; … } })'
#      dfx canister install router   --argument '(opt variant { Init = record { registry = …; escrow = …; … } })'
# --upgrade installs new code into existing canisters, keeping their state
# and configuration (argument `(opt variant { Upgrade = null })`).
#
# Environment:
#   CKBTC_LEDGER  ckBTC ledger principal (default on ic: mxzaz-hqaaa-aaaar-qaada-cai;
#                 default locally: none, only native BTC deposits)
#   KEY_NAME      threshold ECDSA/Schnorr key (default: key_1 on ic, dfx_test_key locally)
set -euo pipefail
cd "$(dirname "$0")/.."
# dfx.json names the modules under target/: build them there.
unset CARGO_TARGET_DIR

NETWORK="${1:-local}"
MODE=install
case "$NETWORK" in
    local|ic) ;;
    *) echo "usage: scripts/deploy.sh [local|ic] [--upgrade]" >&2; exit 2 ;;
esac
shift || true
for arg in "$@"; do
    case "$arg" in
        --upgrade) MODE=upgrade ;;
        *) echo "usage: scripts/deploy.sh [local|ic] [--upgrade]" >&2; exit 2 ;;
    esac
done

if ! command -v dfx >/dev/null 2>&1; then
    echo "error: dfx is not installed: see https://internetcomputer.org/docs/building-apps/getting-started/install" >&2
    exit 1
fi

if [ "$NETWORK" = ic ]; then
    BTC_NETWORK=Mainnet
    LOCAL=false
    KEY_NAME="${KEY_NAME:-key_1}"
    CKBTC_LEDGER="${CKBTC_LEDGER:-mxzaz-hqaaa-aaaar-qaada-cai}"
else
    BTC_NETWORK=Regtest
    LOCAL=true
    KEY_NAME="${KEY_NAME:-dfx_test_key}"
    CKBTC_LEDGER="${CKBTC_LEDGER:-}"
fi

echo "==> creating the canisters on $NETWORK (existing ones are kept)"
for c in registry escrow router; do
    dfx canister create --network "$NETWORK" "$c"
done
REGISTRY="$(dfx canister id --network "$NETWORK" registry)"
ESCROW="$(dfx canister id --network "$NETWORK" escrow)"
ROUTER="$(dfx canister id --network "$NETWORK" router)"
echo "    registry $REGISTRY"
echo "    escrow   $ESCROW"
echo "    router   $ROUTER"

echo "==> building the Wasm (scripts/build-canisters.sh --gzip)"
dfx build --network "$NETWORK" registry
dfx build --network "$NETWORK" escrow
dfx build --network "$NETWORK" router

if [ "$MODE" = upgrade ]; then
    for c in registry escrow router; do
        echo "==> upgrading $c"
        dfx canister install --network "$NETWORK" --mode upgrade --yes "$c" --argument '(opt variant { Upgrade = null })'
    done
    exit 0
fi

if [ -n "$CKBTC_LEDGER" ]; then
    LEDGER_ARG="opt opt principal \"$CKBTC_LEDGER\""
else
    LEDGER_ARG="opt null"
fi

REGISTRY_ARG="(opt variant { Init = record {
    router = opt opt principal \"$ROUTER\";
    btc_network = opt variant { $BTC_NETWORK };
    local = opt $LOCAL;
} })"
ESCROW_ARG="(opt variant { Init = record {
    router = opt opt principal \"$ROUTER\";
    ckbtc_ledger = $LEDGER_ARG;
    btc_network = opt variant { $BTC_NETWORK };
    ecdsa_key_name = opt \"$KEY_NAME\";
} })"
ROUTER_ARG="(opt variant { Init = record {
    registry = opt principal \"$REGISTRY\";
    escrow = opt principal \"$ESCROW\";
    schnorr_key_name = opt \"$KEY_NAME\";
    local = opt $LOCAL;
} })"

echo "==> installing registry"
dfx canister install --network "$NETWORK" --mode install registry --argument "$REGISTRY_ARG"
echo "==> installing escrow"
dfx canister install --network "$NETWORK" --mode install escrow --argument "$ESCROW_ARG"
echo "==> installing router"
dfx canister install --network "$NETWORK" --mode install router --argument "$ROUTER_ARG"

# The ids in the form the tensormine CLI reads (--canisters FILE).
mkdir -p .tensormine
IDS=".tensormine/canisters-dfx-$NETWORK.json"
if [ -n "$CKBTC_LEDGER" ]; then
    printf '{"registry":"%s","escrow":"%s","router":"%s","ckbtc_ledger":"%s"}\n' "$REGISTRY" "$ESCROW" "$ROUTER" "$CKBTC_LEDGER" > "$IDS"
else
    printf '{"registry":"%s","escrow":"%s","router":"%s"}\n' "$REGISTRY" "$ESCROW" "$ROUTER" > "$IDS"
fi
if [ "$NETWORK" = ic ]; then
    echo "==> done; ids written to $IDS (tensormine --network ic --canisters $IDS …)"
else
    echo "==> done; ids written to $IDS (tensormine --network http://127.0.0.1:4943 --canisters $IDS …)"
fi
