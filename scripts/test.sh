#!/usr/bin/env bash
# Runs every test of the project. The one command CI runs (through .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v swift >/dev/null 2>&1; then
    echo "scripts/test.sh: swift is not on PATH (Swift 6.1 or later is needed)" >&2
    exit 1
fi

# Strict flags for our own code; dependencies are built as they are.
swift build --build-tests -Xswiftc -require-explicit-sendable
swift test --skip-build --parallel "$@"
