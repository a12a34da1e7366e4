#!/usr/bin/env bash
# The adversary suite: each strategy of tests/integration/tests/integration/
# adversary.rs run end to end on localnet with real workers, N attempts each
# (default 20), then one line per attack and a total:
#   ATTACK <name>: attempts N, cheater paid S sats, honest slashed H
#   adversary: K attacks, N attempts, cheater paid S sats, honest slashed H
# Exits non-zero if any attack got anything (S > 0 or H > 0).
# Usage: scripts/adversary.sh [ATTEMPTS]
set -euo pipefail
cd "$(dirname "$0")/.."
attempts="${1:-20}"
case "$attempts" in
    ''|*[!0-9]*) echo "usage: scripts/adversary.sh [ATTEMPTS] (a number, got '$attempts')" >&2; exit 2 ;;
esac
build_log="$(mktemp)"
if ! scripts/build-canisters.sh >"$build_log" 2>&1; then
    cat "$build_log" >&2
    exit 1
fi
rm -f "$build_log"
TARGET_DIR="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"
export TENSORMINE_WASM_DIR="$TARGET_DIR/wasm32-unknown-unknown/canister-release"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
ADVERSARY_ATTEMPTS="$attempts" cargo nextest run --locked -p tensormine-integration-tests \
    --no-fail-fast --no-capture -E 'test(/^adversary::/)' >"$log" 2>&1 || status=$?
grep '^ATTACK ' "$log" || true
awk '/^ATTACK / {
        k++; n += $4 + 0; s += $7 + 0; h += $12 + 0
     }
     END { printf "adversary: %d attacks, %d attempts, cheater paid %d sats, honest slashed %d\n", k, n, s, h }' "$log"
if [ "$status" -ne 0 ]; then
    echo "adversary: a test failed (an attack got something, or the run broke); its output:" >&2
    grep -E 'panicked|FAIL' "$log" >&2 || tail -40 "$log" >&2
fi
exit "$status"
