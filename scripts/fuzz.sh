#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (nightly), one at a time, one job each.
#
#   scripts/fuzz.sh TARGET SECONDS   # one target
#   scripts/fuzz.sh all SECONDS      # every target, SECONDS each
#   scripts/fuzz.sh list             # the targets
#   FUZZ_ARGS=-runs=10000000 scripts/fuzz.sh all 7200   # a campaign: 10 M executions each
#
# Inputs are capped at 4 KiB (-max_len=4096, unless FUZZ_ARGS sets one): the seeds are 40-line
# chunks of corpus files, and longer scripts add little coverage at a tenth of the speed.
#
# Each target's working corpus lives outside the repo, in $MARKETPRISM_FUZZ_DIR/<target>
# (default ~/.cache/marketprism/fuzz), seeded on first use by scripts/fuzz_seeds.py from the
# shared exchange corpus (MARKETPRISM_CORPUS_DIR, default <repo>/../shared/corpus, read in
# place). Crashes land in <dir>/<target>/artifacts; the script fails when one is found.
# Prints "TARGET: N runs in S s" per target (docs/fuzzing.md records the totals).
#
# Env: CARGO_TARGET_DIR (respected), FUZZ_ARGS (extra libFuzzer flags).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"
FUZZ_DIR=${MARKETPRISM_FUZZ_DIR:-$HOME/.cache/marketprism/fuzz}
export MARKETPRISM_CORPUS_DIR=${MARKETPRISM_CORPUS_DIR:-$(realpath -m "$REPO_ROOT/../shared/corpus")}
# Safe Rust throughout (unsafe_code = forbid): no sanitizer, but debug assertions (overflow
# checks) on.
BUILD_FLAGS=(-O -a -s none)

targets() { sed -n 's/^name = "\([a-z_]*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^marketprism'; }

run_one() {
    local target=$1 secs=$2 dir="$FUZZ_DIR/$1" log
    mkdir -p "$dir/corpus" "$dir/artifacts"
    if [[ -z $(ls -A "$dir/corpus") ]]; then
        python3 "$REPO_ROOT/scripts/fuzz_seeds.py" "$target" "$dir/corpus" "$MARKETPRISM_CORPUS_DIR" >/dev/null
    fi
    log="$dir/last.log"
    rm -f "$dir"/fuzz-*.log
    local rc=0 max_len=-max_len=4096 started=$SECONDS
    [[ ${FUZZ_ARGS:-} != *max_len* ]] || max_len=
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    # From the work dir: with -jobs, libFuzzer writes its log (fuzz-0.log) to the current folder.
    (cd "$dir" && cargo +nightly fuzz run --fuzz-dir "$REPO_ROOT/fuzz" "${BUILD_FLAGS[@]}" "$target" "$dir/corpus" -- \
        -max_total_time="$secs" -jobs=1 -workers=1 -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$dir/artifacts/" -print_final_stats=1 $max_len ${FUZZ_ARGS:-}) >"$log" 2>&1 || rc=$?
    local runs
    runs=$(cat "$log" "$dir"/fuzz-*.log 2>/dev/null | sed -n 's/^stat::number_of_executed_units: *//p' | tail -1)
    printf '%s: %s runs in %s s%s\n' "$target" "${runs:-?}" "$((SECONDS - started))" "$([[ $rc == 0 ]] || echo " FAILED ($rc), see $log")"
    if [[ $rc != 0 ]]; then
        grep -E 'panicked|ERROR|Test unit written' "$log" | head -5 >&2 || true
    fi
    return "$rc"
}

case ${1:-} in
list) targets ;;
all)
    secs=${2:?usage: scripts/fuzz.sh all SECONDS}
    (cd fuzz && cargo +nightly fuzz build "${BUILD_FLAGS[@]}")
    failed=0
    for t in $(targets); do run_one "$t" "$secs" || failed=1; done
    exit "$failed"
    ;;
"" | -h | --help) sed -n '2,14p' "$0" ;;
*) run_one "$1" "${2:?usage: scripts/fuzz.sh TARGET SECONDS}" ;;
esac
