#!/usr/bin/env bash
# Checks the allocation counts of DBConnection's pool against Benchmarks/Thresholds/.
#
#     scripts/check-allocations.sh            # exit 0: equal (or better: a warning says to update)
#                                             # exit 1: a regression, or the check could not run
#     scripts/check-allocations.sh --strict   # better than the thresholds fails too
#     scripts/check-allocations.sh --update   # rewrite the thresholds from a run (then commit them)
#
# It runs the ordo-one/benchmark suite of Benchmarks/ for our pool only (`dbconnection.*`), with the
# malloc metric only and few iterations (POOL_BENCHMARKS_QUICK=1), and compares the p90 of
# mallocCountTotal per 1,000 lease + release cycles with Thresholds/PoolBenchmarks.<name>.p90.json, within
# the tolerances the suite declares (Benchmarks/Benchmarks/PoolBenchmarks/PoolBenchmarks.swift). Malloc
# counts do not depend on the machine's speed or load, so the check is safe on a shared CI machine.
set -euo pipefail

strict=false
update=false
for arg in "$@"; do
    case "$arg" in
        --strict) strict=true ;;
        --update) update=true ;;
        -h | --help)
            sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "check-allocations.sh: unknown argument $arg" >&2
            exit 64
            ;;
    esac
done

cd "$(dirname "$0")/../Benchmarks"
export POOL_BENCHMARKS_QUICK=1
filter='dbconnection\..*'

# The warnings SwiftPM prints about a dependency's CMakeLists.txt are noise here.
quiet() { grep -v -e "found 1 file(s) which are unhandled" -e "/CMakeLists.txt$" || true; }

if $update; then
    swift package --allow-writing-to-package-directory benchmark thresholds update \
        --filter "$filter" --metric mallocCountTotal --no-progress 2>&1 | quiet
    git --no-pager diff --stat -- Thresholds || true
    exit 0
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
swift package benchmark thresholds check --filter "$filter" --metric mallocCountTotal --no-progress >"$log" 2>&1
status=$?
set -e
quiet <"$log"

# `swift package` exits 1 for both a regression and an improvement; the tool's verdict tells them apart.
if grep -q "is EQUAL to the defined thresholds" "$log"; then
    echo "check-allocations: our pool's malloc counts match Benchmarks/Thresholds."
    exit 0
elif grep -q "is WORSE than the defined thresholds" "$log"; then
    echo "check-allocations: REGRESSION: our pool allocates more than Benchmarks/Thresholds allows (table above)." >&2
    exit 1
elif grep -q "is BETTER than the defined thresholds" "$log"; then
    echo "check-allocations: our pool allocates less than Benchmarks/Thresholds says: run" \
        "scripts/check-allocations.sh --update and commit Benchmarks/Thresholds." >&2
    if $strict; then exit 1; fi
    exit 0
fi
echo "check-allocations: the check did not run (exit status $status); see the output above." >&2
exit 1
