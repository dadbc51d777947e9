#!/usr/bin/env bash
# dbconn's SQLite read workload against its limit: the same statement through libsqlite3 directly, in one
# thread, with no pool and no Swift (Benchmarks/SQLiteDirect/sqlite-direct.c). Runs, interleaved, for
# --rounds rounds on one database file:
#
#   direct      sqlite-direct: one connection, one prepared statement, reset and rebound per query
#   dbconn-1    dbconn bench --workload read --concurrency 1 --pool-size 1 (every query through the pool:
#               checkout, deadline, prepared-statement cache, the connection's own thread, checkin)
#   dbconn-8x4  dbconn bench --workload read (default: 8 workers on a pool of 4)
#
# and prints the medians, and our overhead per query: 1/tps(dbconn-1) - 1/qps(direct).
#
#   scripts/bench-sqlite.sh [--duration S] [--rounds N] [--json FILE] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

duration=5
rounds=3
json=""
build=true
while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration) duration="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --json) json="$2"; shift 2 ;;
        --no-build) build=false; shift ;;
        -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-sqlite.sh: unknown argument $1" >&2; exit 64 ;;
    esac
done

die() { echo "bench-sqlite.sh: $*" >&2; exit 1; }
command -v cc >/dev/null 2>&1 || die "a C compiler (cc) is missing: apt-get install gcc"
command -v python3 >/dev/null 2>&1 || die "python3 is missing: it computes the medians"
[[ -f /usr/include/sqlite3.h ]] || pkg-config --exists sqlite3 2>/dev/null || die "sqlite3.h is missing: apt-get install libsqlite3-dev"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/sqlite-direct" Benchmarks/SQLiteDirect/sqlite-direct.c -lsqlite3
if $build; then swift build -c release --product dbconn >&2; fi
dbconn="$(swift build -c release --show-bin-path)/dbconn"
[[ -x "$dbconn" ]] || die "dbconn is not built: run without --no-build"

db="$work/bench.sqlite"
for round in $(seq 1 "$rounds"); do
    echo "round $round/$rounds" >&2
    # dbconn fills the tables first (outside its measured window); direct reads what the last run left.
    "$dbconn" bench "sqlite:$db" --workload read --concurrency 1 --pool-size 1 --duration "$duration" --quiet \
        --json "$work/dbconn-1-$round.json" >/dev/null
    "$work/sqlite-direct" "$db" "$duration" >"$work/direct-$round.json"
    "$dbconn" bench "sqlite:$db" --workload read --duration "$duration" --quiet \
        --json "$work/dbconn-8x4-$round.json" >/dev/null
done

python3 - "$work" "$rounds" "$json" <<'PY'
import json, statistics, sys
work, rounds, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def load(name):
    return [json.load(open(f"{work}/{name}-{r}.json")) for r in range(1, rounds + 1)]
direct = statistics.median(d["qps"] for d in load("direct"))
rows = [("direct (libsqlite3, 1 thread)", direct, None, None)]
for name, label in [("dbconn-1", "dbconn, 1 worker, pool 1"), ("dbconn-8x4", "dbconn, 8 workers, pool 4")]:
    runs = load(name)
    rows.append((label, statistics.median(r["tps"] for r in runs),
                 statistics.median(r["latency"]["p50"] for r in runs),
                 statistics.median(r["latency"]["p99"] for r in runs)))
print(f"\nMedians of {rounds} rounds of the read workload (SELECT abalance FROM bench_accounts WHERE aid = ?):\n")
print(f"{'':32} {'queries/s':>10} {'ns/query':>9} {'p50':>8} {'p99':>8} {'vs direct':>9}")
for label, qps, p50, p99 in rows:
    lat = lambda v: "" if v is None else f"{v:.0f} µs"
    print(f"{label:32} {qps:>10,.0f} {1e9 / qps:>9,.0f} {lat(p50):>8} {lat(p99):>8} {qps / direct:>8.2f}x")
overhead = 1e9 / rows[1][1] - 1e9 / direct
print(f"\nOverhead per query through the pool (1 worker): {overhead:,.0f} ns")
if out:
    json.dump([{"implementation": l, "qps": q, "ns_per_query": 1e9 / q, "p50_us": p, "p99_us": p9}
               for l, q, p, p9 in rows] + [{"overhead_ns_per_query": overhead}], open(out, "w"), indent=1)
PY
