#!/usr/bin/env bash
# Runs every test of the project. The one command CI runs (through .ci/run).
#
# The build and the tests run inside scripts/with-postgres.sh, which starts a throwaway PostgreSQL
# server and sets DATABASE_URL for the PostgreSQL driver's tests. Those tests fail (they are never
# skipped silently) when DATABASE_URL is missing, unless DBCONN_SKIP_POSTGRES=1 is set on purpose; then
# this script runs without a server too. On CI (CI=true) DBCONN_SKIP_POSTGRES is ignored.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v swift >/dev/null 2>&1; then
    echo "scripts/test.sh: swift is not on PATH (Swift 6.1 or later is needed)" >&2
    exit 1
fi

if [[ "${CI:-}" == "true" ]]; then
    unset DBCONN_SKIP_POSTGRES
fi

# Strict flags for our own code; dependencies are built as they are.
run_tests() {
    swift build --build-tests -Xswiftc -require-explicit-sendable
    swift test --skip-build --parallel "$@"
}

if [[ "${DBCONN_IN_WITH_POSTGRES:-}" == "1" || "${DBCONN_SKIP_POSTGRES:-}" == "1" ]]; then
    if [[ "${DBCONN_IN_WITH_POSTGRES:-}" != "1" ]]; then
        echo "scripts/test.sh: DBCONN_SKIP_POSTGRES=1: no PostgreSQL server; its tests are skipped" >&2
    fi
    run_tests "$@"
else
    DBCONN_IN_WITH_POSTGRES=1 exec scripts/with-postgres.sh bash scripts/test.sh "$@"
fi
