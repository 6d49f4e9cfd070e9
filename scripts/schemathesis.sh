#!/usr/bin/env bash
# Property-based API testing of docs/openapi.json against a running `marketprism demo`
# (schemathesis, from PyPI): every documented operation of every service gets generated
# requests; the run fails on a 5xx, a response that does not match the document, or an
# undocumented status code.
#
#   scripts/schemathesis.sh [MAX_EXAMPLES]     # default 30 per operation
#   MP_SCHEMATHESIS_CI=1 scripts/schemathesis.sh 10   # what CI runs (scripts/test.sh)
#
# CI mode fixes the seed and leaves out the two data-acceptance checks (schema-valid requests
# refused for reasons JSON Schema cannot state, see docs/fuzzing.md#schemathesis): what it
# asserts is no 5xx and every response as documented (status, content type, schema, headers).
#
# Starts the demo on free ports (MP_SCHEMATHESIS_BASE_PORT, default 23400) with its data in a
# temp dir, installs schemathesis into ~/.cache/marketprism/st-venv when missing, and stops
# the demo at exit. Env: CARGO_TARGET_DIR (respected).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"
MAX=${1:-30}
BASE=${MP_SCHEMATHESIS_BASE_PORT:-23400}
VENV=${MARKETPRISM_ST_VENV:-$HOME/.cache/marketprism/st-venv}
if [[ ! -x $VENV/bin/schemathesis ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q schemathesis
fi

cargo build -q -p marketprism-bins --bin marketprism
BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug/marketprism
DATA=$(mktemp -d)
RUST_LOG=error "$BIN" demo --base-port "$BASE" --data-dir "$DATA" >/dev/null 2>&1 &
DEMO=$!
trap 'kill "$DEMO" 2>/dev/null || true; wait "$DEMO" 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 150); do
    if curl -fsS "http://127.0.0.1:$((BASE + 4))/health" >/dev/null 2>&1; then break; fi
    sleep 0.2
done

# Tag (= x-marketprism-service) and port offset of each service in the demo.
failed=0
for pair in api-gateway:0 market-data-collector:1 data-storage-service:2 monitoring-service:3 \
    scheduler-service:4 message-broker-service:5; do
    tag=${pair%:*}
    port=$((BASE + ${pair#*:}))
    echo "==> $tag on :$port"
    # The scheduler's cron validity (parses, fires within five years, at most every
    # min_interval_secs) cannot be said in JSON Schema: its 400s for schema-valid crons are
    # intended, so that one check is off there (every other check, 5xx included, runs).
    extra=()
    [[ $tag != scheduler-service ]] || extra=(--exclude-checks positive_data_acceptance)
    if [[ ${MP_SCHEMATHESIS_CI:-0} == 1 ]]; then
        extra=(--exclude-checks positive_data_acceptance,negative_data_rejection --seed 1)
    fi
    # /ws/v1/stream needs a WebSocket client; the common routes are tagged `common`.
    "$VENV/bin/schemathesis" run docs/openapi.json --url "http://127.0.0.1:$port" \
        --include-tag "$tag" --exclude-path /ws/v1/stream \
        --checks all "${extra[@]}" --max-examples "$MAX" --request-timeout 10 --no-color || failed=1
done
echo "==> common (/health, /metrics) on the storage service"
"$VENV/bin/schemathesis" run docs/openapi.json --url "http://127.0.0.1:$((BASE + 2))" \
    --include-tag common --checks all --max-examples 5 --no-color || failed=1
exit "$failed"
