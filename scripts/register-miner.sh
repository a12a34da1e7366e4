#!/usr/bin/env bash
# Registers the dfx identity in use as a miner with dfx (the CLI's
# `tensormine miner register` does the same; see docs/miners.md).
#
#   scripts/register-miner.sh --endpoint https://gpu1.example.com \
#       --worker-data-dir /var/lib/tensormine | --worker-key HEX \
#       --btc-address bc1q… [--gpu-model "NVIDIA RTX 4090"] [--gpu-mem-gib 24] \
#       [--gpu-count 1] [--matmul-price 5] [--embed-price 30] [--region eu-west] \
#       [--network local|ic]
#
# --worker-data-dir reads the worker's public key with `tensormine-worker init`
# (it prints {"public_key": "<hex>", …}); the private key never leaves the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

NETWORK=local ENDPOINT="" KEY="" DATA_DIR="" BTC="" REGION="local"
GPU_MODEL="NVIDIA RTX 4090" GPU_MEM_GIB=24 GPU_COUNT=1 MATMUL_PRICE=5 EMBED_PRICE=30
usage() { sed -n '2,13p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --network) NETWORK="$2"; shift 2 ;;
        --endpoint) ENDPOINT="$2"; shift 2 ;;
        --worker-key) KEY="$2"; shift 2 ;;
        --worker-data-dir) DATA_DIR="$2"; shift 2 ;;
        --btc-address) BTC="$2"; shift 2 ;;
        --gpu-model) GPU_MODEL="$2"; shift 2 ;;
        --gpu-mem-gib) GPU_MEM_GIB="$2"; shift 2 ;;
        --gpu-count) GPU_COUNT="$2"; shift 2 ;;
        --matmul-price) MATMUL_PRICE="$2"; shift 2 ;;
        --embed-price) EMBED_PRICE="$2"; shift 2 ;;
        --region) REGION="$2"; shift 2 ;;
        *) usage ;;
    esac
done
[ -n "$ENDPOINT" ] && [ -n "$BTC" ] || usage
if [ -z "$KEY" ]; then
    [ -n "$DATA_DIR" ] || usage
    KEY="$(tensormine-worker init --data-dir "$DATA_DIR" | sed -n 's/.*"public_key":"\([0-9a-f]*\)".*/\1/p')"
fi
if ! [[ "$KEY" =~ ^[0-9a-fA-F]{64}$ ]]; then
    echo "error: the worker key must be 64 hex characters (32 bytes), got '$KEY'" >&2
    exit 1
fi
# Candid blob literal: "\ab\cd…".
BLOB="$(printf '%s' "$KEY" | sed 's/../\\&/g')"
MEM_BYTES=$((GPU_MEM_GIB * 1024 * 1024 * 1024))

dfx canister call --network "$NETWORK" registry register_miner "(record {
    endpoint = \"$ENDPOINT\";
    worker_public_key = blob \"$BLOB\";
    gpus = vec { record { model = \"$GPU_MODEL\"; memory_bytes = $MEM_BYTES : nat64; count = $GPU_COUNT : nat32 } };
    offers = vec {
        record { workload = variant { matmul }; price_sats_per_unit = $MATMUL_PRICE : nat64 };
        record { workload = variant { embed }; price_sats_per_unit = $EMBED_PRICE : nat64 };
    };
    btc_address = \"$BTC\";
    region = \"$REGION\";
    labels = vec {};
})"
