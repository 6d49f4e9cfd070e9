#!/usr/bin/env bash
# Runs every benchmark and prints one summary table (docs/performance.md explains them).
#
#   scripts/bench.sh            all (starts the local servers for the server-backed ones)
#   scripts/bench.sh quick      only the CPU benchmarks (no servers)
#
# Figures on a shared or noisy machine vary from run to run: compare ratios measured in the
# same run (each server-backed benchmark measures its own baseline), not absolute numbers.
# Env: CARGO_TARGET_DIR (respected), MP_BENCH_* (see bins/benches/pipeline/main.rs),
# MP_CRITERION_ARGS (default "--noplot"; e.g. "--noplot --warm-up-time 1 --measurement-time 2").
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"
MODE=${1:-all}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

say() { printf '\n==> %s\n' "$*" >&2; }

# Criterion prints "<id>\n  time: [...]\n  thrpt: [lo mid hi]"; keep id and the median.
criterion_rows() {
    awk '
        /^[^ ].*/ && !/^(Benchmarking|Found|Gnuplot|Warning|Running|Compiling|Finished|  )/ { id = $1 }
        /thrpt:/ { gsub(/[\[\]]/, ""); print id "\t" $4 " " $5 }
    ' "$1"
}

run_criterion() {
    local name=$1
    shift
    say "$name: cargo bench $*"
    # shellcheck disable=SC2086
    cargo bench "$@" -- ${MP_CRITERION_ARGS:---noplot} 2>&1 | tee "$OUT/$name.log" >&2
    criterion_rows "$OUT/$name.log" >"$OUT/$name.tsv"
}

run_criterion normalize -p marketprism-exchanges --bench normalize
run_criterion book -p marketprism-core --bench book
run_criterion subject -p marketprism-core --bench subject
run_criterion rows -p marketprism-storage --all-features --bench rows

if [[ $MODE != quick ]]; then
    bash "$REPO_ROOT/scripts/services.sh" start >&2
    # shellcheck disable=SC1091
    source "${MARKETPRISM_SERVICES_DIR:-$HOME/.cache/marketprism/services}/env.sh"
    say "storage: raw clients vs our sinks"
    cargo run --release -p marketprism-storage --all-features --example storage_throughput \
        2>&1 | tee "$OUT/storage.log" >&2
    say "gateway vs direct"
    cargo run --release -p marketprism-gateway --example gateway_bench 2>&1 | tee "$OUT/gateway.log" >&2
    say "pipeline (processes: sim → collector → JetStream → storage → ClickHouse)"
    cargo bench -p marketprism-bins --bench pipeline 2>&1 | tee "$OUT/pipeline.log" >&2
fi

printf '\n==================== summary ====================\n'
printf '%-58s %s\n' "benchmark" "median throughput"
for name in normalize book subject rows; do
    while IFS=$'\t' read -r id value; do
        printf '%-58s %s\n' "$id" "$value"
    done <"$OUT/$name.tsv"
done
if [[ $MODE != quick ]]; then
    printf '\n-- storage (same run) --\n'
    grep -E '^\s+(raw|ClickHouseStore|JetStreamPublisher|pipeline)' "$OUT/storage.log" || true
    printf '\n-- gateway (same run) --\n'
    grep -iE 'ratio|direct|gateway' "$OUT/gateway.log" | grep -v '^\s*Compiling' | tail -n 12 || true
    printf '\n-- pipeline (same run) --\n'
    grep -E '^(raw|step|  |pipeline|collector RSS|==)' "$OUT/pipeline.log" || true
fi
