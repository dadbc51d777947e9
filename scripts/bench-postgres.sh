#!/usr/bin/env bash
# Select-only throughput and latency on PostgreSQL: pgbench, dbconn (DBConnection's pool and PostgreSQL
# driver) and PostgresNIO's PostgresClient, side by side, on the same server and tables.
#
#   scripts/bench-postgres.sh                       # scale 10, clients 1 8 32 64, 3 rounds of 10 s
#   scripts/bench-postgres.sh --quick               # 1 round of 3 s, clients 1 32
#   scripts/bench-postgres.sh --json pg.json --svg pg.svg
#
# Every run executes pgbench's select-only statement (`pgbench -S`), as a server-side prepared
# statement, with aid uniform in 1 to 100000 * scale:
#
#   SELECT abalance FROM pgbench_accounts WHERE aid = $1
#
#   pgbench             pgbench -S -M prepared -c C -j min(C,2) -T S -n, one connection per client;
#                       TPS from its summary, p50/p99 from its per-transaction log (-l), every transaction
#   dbconnection        dbconn bench URL --workload select --concurrency C --pool-size C --duration S
#                       (C tasks, a pool of C connections; latency includes the pool checkout);
#                       with --executors, one column per executor: dbconnection-connection, dbconnection-nio-global,
#                       dbconnection-default
#   postgresnio-client  Benchmarks' pgclient-load --url URL --clients C --duration S (PostgresClient);
#                       left out, with a note, while Benchmarks/ has no such product
#   nio-floor-callbacks with --floor: Benchmarks' pg-wire-floor --mode callbacks, the same statement from
#                       a bare SwiftNIO channel handler (no driver, no pool, no task): what a client on
#                       NIO's event loops costs at the least
#   nio-floor-tasks     with --floor: pg-wire-floor --mode tasks, the same with one Swift task per
#                       connection awaiting each statement on the connection's event loop
#
# Runs are interleaved (pgbench, dbconnection, postgresnio-client, pgbench, ...) for --rounds rounds,
# and the table shows the median of the rounds. TLS is off for all three (sslmode=disable): the
# comparison is about the client side, not about the cipher.
#
# The server is a throwaway one from scripts/with-postgres.sh (this script re-runs itself inside it),
# unless --url names one; `pgbench -i -s SCALE` (re)makes pgbench's tables there. pgbench is found
# through `pg_config --bindir`.
#
# Options:
#   --scale N            pgbench -i scale (default 10: 1,000,000 accounts)
#   --clients "C ..."    client counts (default "1 8 32 64")
#   --rounds N           rounds per client count (default 3)
#   --duration S         seconds per run (default 10)
#   --quick              1 round of 3 s, clients "1 32" (explicit options still win)
#   --json FILE          the medians as a JSON list of {implementation, clients, tps, p50_us, p99_us, rounds}
#   --svg FILE           TPS against clients, one line per implementation
#   --url URL            use this server instead of a throwaway one (its pgbench tables are replaced)
#   --scratch-path DIR   SwiftPM build folder for dbconn (Benchmarks/ builds in DIR-benchmarks)
#   --no-build           use the release binaries already built
#   --pgclient-load PATH a pgclient-load binary built elsewhere (not built by this script)
#   --executors "E ..."  run dbconn once per executor (dbconn bench --executor E: connection, nio-global,
#                        default, auto),
#                        interleaved, each its own column (default: one run with dbconn's own default)
#   --floor              also run the two pg-wire-floor columns (built from Benchmarks/; see above)
#   --compare-direct     also run dbconn with direct_execute=off (the prepared statement executed through
#                        PostgresNIO's request path instead of the driver's own exchange), as the
#                        column dbconnection-pgnio-path
#   --profile            run every run under `perf record -a` (CPU-clock samples on every CPU) and add a
#                        second table: the CPU time per statement of the client (its user time, the part
#                        of it in Swift's runtime libraries, its kernel time) and of the server (every
#                        `postgres` process), medians of the rounds. Needs perf and the right to sample
#                        every CPU (root, or kernel.perf_event_paranoid <= 0). Sampling slows every
#                        client a little: compare the tps of a profiled run with each other, not with an
#                        unprofiled run.
set -euo pipefail
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

log() { echo "bench-postgres: $*" >&2; }
die() {
    log "$*"
    exit 1
}

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

# MARK: Options

SCALE=10
CLIENTS="1 8 32 64"
ROUNDS=3
DURATION=10
QUICK=0
JSON_OUT=""
SVG_OUT=""
URL=""
SCRATCH=""
NO_BUILD=0
PGCLIENT_GIVEN=""
EXECUTORS=""
COMPARE_DIRECT=0
FLOOR=0
PROFILE=0
explicit_clients="" explicit_rounds="" explicit_duration=""

need_value() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value (see --help)"; }
absolute() { [[ "$1" == /* ]] && echo "$1" || echo "$PWD/$1"; }

while [[ $# -gt 0 ]]; do
    case "$1" in
    --scale) need_value "$@"; SCALE="$2"; shift 2 ;;
    --clients) need_value "$@"; explicit_clients="$2"; shift 2 ;;
    --rounds) need_value "$@"; explicit_rounds="$2"; shift 2 ;;
    --duration) need_value "$@"; explicit_duration="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --json) need_value "$@"; JSON_OUT="$(absolute "$2")"; shift 2 ;;
    --svg) need_value "$@"; SVG_OUT="$(absolute "$2")"; shift 2 ;;
    --url) need_value "$@"; URL="$2"; shift 2 ;;
    --scratch-path) need_value "$@"; SCRATCH="$(absolute "$2")"; shift 2 ;;
    --no-build) NO_BUILD=1; shift ;;
    --pgclient-load) need_value "$@"; PGCLIENT_GIVEN="$(absolute "$2")"; shift 2 ;;
    --executors) need_value "$@"; EXECUTORS="$2"; shift 2 ;;
    --compare-direct) COMPARE_DIRECT=1; shift ;;
    --floor) FLOOR=1; shift ;;
    --profile) PROFILE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done
if [[ "$QUICK" -eq 1 ]]; then
    CLIENTS="1 32" ROUNDS=1 DURATION=3
fi
CLIENTS="${explicit_clients:-$CLIENTS}"
ROUNDS="${explicit_rounds:-$ROUNDS}"
DURATION="${explicit_duration:-$DURATION}"

[[ "$SCALE" =~ ^[1-9][0-9]*$ ]] || die "--scale must be a whole number of at least 1 (pgbench -i -s), got \"$SCALE\""
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a whole number of at least 1, got \"$ROUNDS\""
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || die "--duration must be a whole number of seconds (pgbench -T), got \"$DURATION\""
[[ -n "${CLIENTS// /}" ]] || die "--clients needs at least one client count"
for executor in $EXECUTORS; do
    [[ "$executor" =~ ^(connection|nio-global|default|auto)$ ]] || die "--executors: connection, nio-global, default or auto, got \"$executor\""
done
for c in $CLIENTS; do
    [[ "$c" =~ ^[1-9][0-9]*$ && "$c" -le 150 ]] || die "--clients: \"$c\" is not a client count from 1 to 150"
done
for out in "$JSON_OUT" "$SVG_OUT"; do
    [[ -z "$out" || -d "$(dirname "$out")" ]] || die "cannot write $out: directory $(dirname "$out") does not exist"
done
# The options as resolved (paths made absolute), for the run inside scripts/with-postgres.sh.
ARGS=(--scale "$SCALE" --clients "$CLIENTS" --rounds "$ROUNDS" --duration "$DURATION")
[[ -n "$JSON_OUT" ]] && ARGS+=(--json "$JSON_OUT")
[[ -n "$SVG_OUT" ]] && ARGS+=(--svg "$SVG_OUT")
[[ -n "$EXECUTORS" ]] && ARGS+=(--executors "$EXECUTORS")
[[ "$COMPARE_DIRECT" == 1 ]] && ARGS+=(--compare-direct)
[[ "$FLOOR" == 1 ]] && ARGS+=(--floor)
[[ "$PROFILE" == 1 ]] && ARGS+=(--profile)
cd "$ROOT"

# MARK: Tools

command -v python3 >/dev/null 2>&1 || die "python3 is missing: it parses the results and draws the chart"
if [[ "$PROFILE" == 1 ]]; then
    command -v perf >/dev/null 2>&1 \
        || die "--profile needs perf, which is missing (Debian: apt-get install linux-perf)"
    probe_data="$(mktemp "${TMPDIR:-/tmp}/bench-postgres-perf.XXXXXX")"
    if ! perf record -q -a -e cpu-clock -o "$probe_data" -- true >/dev/null 2>&1; then
        rm -f "$probe_data"
        die "--profile: perf may not sample every CPU here (perf record -a failed): run as root, or set kernel.perf_event_paranoid to 0 or less"
    fi
    rm -f "$probe_data"
fi

find_pgbench() {
    local bindir
    if command -v pg_config >/dev/null 2>&1; then
        bindir="$(pg_config --bindir 2>/dev/null || true)"
        if [[ -n "$bindir" && -x "$bindir/pgbench" ]]; then
            echo "$bindir/pgbench"
            return 0
        fi
    fi
    command -v pgbench 2>/dev/null && return 0
    return 1
}
PGBENCH="${DBCONN_BENCH_PGBENCH:-$(find_pgbench || true)}"
if [[ -z "$PGBENCH" ]]; then
    if command -v pg_config >/dev/null 2>&1; then
        die "pgbench is missing: not in \`pg_config --bindir\` ($(pg_config --bindir 2>/dev/null)) nor on PATH; install it (Debian: apt-get install postgresql-contrib, or postgresql)"
    fi
    die "pgbench is missing, and so is pg_config (used to find it; Debian: apt-get install libpq-dev); install PostgreSQL's client tools (Debian: apt-get install postgresql postgresql-contrib)"
fi

# MARK: Build (once, outside the server's lifetime)

if [[ "${DBCONN_BENCH_BUILT:-}" != "1" ]]; then
    scratch=()
    [[ -n "$SCRATCH" ]] && scratch=(--scratch-path "$SCRATCH")
    if [[ "$NO_BUILD" -eq 0 ]]; then
        log "building dbconn (release)"
        swift build -c release --product dbconn ${scratch[@]+"${scratch[@]}"} >&2
    fi
    DBCONN="$(swift build -c release ${scratch[@]+"${scratch[@]}"} --show-bin-path)/dbconn"
    [[ -x "$DBCONN" ]] || die "$DBCONN is missing: build it with swift build -c release --product dbconn"

    PGCLIENT=""
    bench_scratch=()
    [[ -n "$SCRATCH" ]] && bench_scratch=(--scratch-path "$SCRATCH-benchmarks")
    if [[ -n "$PGCLIENT_GIVEN" ]]; then
        [[ -x "$PGCLIENT_GIVEN" ]] || die "--pgclient-load $PGCLIENT_GIVEN is not an executable file"
        PGCLIENT="$PGCLIENT_GIVEN"
    elif [[ ! -f Benchmarks/Package.swift ]]; then
        log "note: Benchmarks/ does not exist yet; the postgresnio-client column is left out"
    elif ! grep -q '"pgclient-load"' Benchmarks/Package.swift; then
        log "note: Benchmarks/ has no pgclient-load product yet; the postgresnio-client column is left out"
    else
        built=1
        if [[ "$NO_BUILD" -eq 0 ]]; then
            log "building pgclient-load (release, Benchmarks/)"
            swift build -c release --package-path Benchmarks --product pgclient-load \
                ${bench_scratch[@]+"${bench_scratch[@]}"} >&2 || built=0
        fi
        candidate="$(swift build -c release --package-path Benchmarks ${bench_scratch[@]+"${bench_scratch[@]}"} --show-bin-path 2>/dev/null || true)/pgclient-load"
        if [[ "$built" -eq 1 && -x "$candidate" ]]; then
            PGCLIENT="$candidate"
        elif [[ "$NO_BUILD" -eq 1 ]]; then
            log "note: --no-build and no pgclient-load at $candidate; the postgresnio-client column is left out"
        else
            log "note: pgclient-load did not build (Benchmarks/ is another work in progress); the postgresnio-client column is left out"
        fi
    fi
    FLOOR_CLIENT=""
    if [[ "$FLOOR" == 1 ]]; then
        if [[ "$NO_BUILD" -eq 0 ]]; then
            log "building pg-wire-floor (release, Benchmarks/)"
            swift build -c release --package-path Benchmarks --product pg-wire-floor \
                ${bench_scratch[@]+"${bench_scratch[@]}"} >&2 || die "pg-wire-floor did not build (output above)"
        fi
        FLOOR_CLIENT="$(swift build -c release --package-path Benchmarks ${bench_scratch[@]+"${bench_scratch[@]}"} --show-bin-path)/pg-wire-floor"
        [[ -x "$FLOOR_CLIENT" ]] || die "$FLOOR_CLIENT is missing: build it with swift build -c release --package-path Benchmarks --product pg-wire-floor"
    fi
    export DBCONN_BENCH_BUILT=1 DBCONN_BENCH_DBCONN="$DBCONN" DBCONN_BENCH_PGCLIENT="$PGCLIENT" DBCONN_BENCH_PGBENCH="$PGBENCH" \
        DBCONN_BENCH_FLOOR="$FLOOR_CLIENT"
fi
DBCONN="$DBCONN_BENCH_DBCONN"
PGCLIENT="${DBCONN_BENCH_PGCLIENT:-}"
FLOOR_CLIENT="${DBCONN_BENCH_FLOOR:-}"

# MARK: The server

if [[ -z "$URL" && "${DBCONN_BENCH_IN_WITH_POSTGRES:-}" != "1" ]]; then
    DBCONN_BENCH_IN_WITH_POSTGRES=1 exec scripts/with-postgres.sh bash "$SELF" "${ARGS[@]}"
fi
if [[ -z "$URL" ]]; then
    URL="${DATABASE_URL:?DATABASE_URL is not set inside scripts/with-postgres.sh}"
fi
# TLS off for all three; an sslmode already in the URL is replaced.
URL="$(python3 - "$URL" <<'EOF'
import sys, urllib.parse as u
parts = u.urlsplit(sys.argv[1])
query = [(k, v) for k, v in u.parse_qsl(parts.query, keep_blank_values=True) if k != "sslmode"]
query.append(("sslmode", "disable"))
print(u.urlunsplit(parts._replace(query=u.urlencode(query))))
EOF
)"
# The URL without its password, for what this script prints.
SHOWN_URL="$(python3 -c 'import re, sys; print(re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", sys.argv[1]).split("?")[0])' "$URL")"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-postgres.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# MARK: Parsing and reporting (python3, standard library only)

cat >"$WORK/helper.py" <<'EOF'
import glob, json, math, statistics, sys

def percentile(sorted_values, p):
    """Nearest rank, as HdrHistogram reads it: the smallest value with p % of the values at or below it."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]

def record(implementation, clients, round_, tps, p50, p99, note=""):
    return {"implementation": implementation, "clients": clients, "round": round_,
            "tps": tps, "p50_us": p50, "p99_us": p99, "note": note}

def pgbench(out_path, log_prefix, clients, round_):
    """tps from pgbench's summary; p50/p99 from the per-transaction logs (third field: latency in µs)."""
    tps = None
    for line in open(out_path):
        if line.startswith("tps = "):
            tps = float(line.split()[2])
    latencies = []
    for path in glob.glob(log_prefix + ".*"):
        for line in open(path):
            fields = line.split()
            if len(fields) >= 6 and fields[2].isdigit():
                latencies.append(int(fields[2]))
    latencies.sort()
    if tps is None:
        raise SystemExit("pgbench printed no tps line")
    return record("pgbench", clients, round_, tps, percentile(latencies, 50), percentile(latencies, 99))

def dbconn(report_path, name, clients, round_):
    report = json.load(open(report_path))
    note = "" if report["failed"] == 0 else f'{report["failed"]} failed transactions'
    return record(name, clients, round_, report["tps"],
                  report["latency"]["p50"], report["latency"]["p99"], note)

def pgclient(out_path, name, clients, round_):
    """pgclient-load's and pg-wire-floor's one JSON line: tps, p50_us, p99_us."""
    lines = [line for line in open(out_path) if line.strip()]
    if len(lines) != 1:
        raise SystemExit(f"{name} printed {len(lines)} lines on stdout, expected one JSON line")
    data = json.loads(lines[0])
    return record(name, clients, round_, float(data["tps"]), data["p50_us"], data["p99_us"])

def profile(data_path, record_json, duration):
    """Adds to a run's record the CPU time per statement its perf samples show: the client's (user,
    of which Swift's runtime libraries, and kernel), the server's (every `postgres` process) and idle."""
    import re, subprocess
    r = json.loads(record_json)
    out = subprocess.run(["perf", "report", "-i", data_path, "--sort", "comm,dso", "--stdio"],
                         capture_output=True, text=True).stdout
    match = re.search(r"Event count \(approx.\): (\d+)", out)
    statements = r["tps"] * float(duration)
    if not match or statements <= 0:
        raise SystemExit(f"perf report found no samples in {data_path}")
    total_ns = int(match.group(1))
    cpu = {"client_user_us": 0.0, "client_runtime_us": 0.0, "client_kernel_us": 0.0, "server_us": 0.0,
           "idle_us": 0.0}
    others = ("perf", "perf-exec", "kdamond", "kworker", "ksoftirqd", "rcu_", "migration", "kthreadd", "jbd2")
    for line in out.splitlines():
        row = re.match(r"\s+([\d.]+)%\s+(\S.*?)\s{2,}(\S+)\s*$", line)
        if not row:
            continue
        share, comm, dso = float(row.group(1)) / 100, row.group(2).strip(), row.group(3)
        us = share * total_ns / 1000 / statements
        kernel = dso == "[kernel.kallsyms]"
        if comm == "postgres":
            cpu["server_us"] += us
        elif comm == "swapper":
            cpu["idle_us"] += us
        elif comm.startswith(others):
            continue
        elif kernel:
            cpu["client_kernel_us"] += us
        else:
            cpu["client_user_us"] += us
            if dso.startswith(("libswiftCore", "libswift_Concurrency", "libdispatch", "libFoundation")):
                cpu["client_runtime_us"] += us
    r["cpu_us"] = {key: round(value, 2) for key, value in cpu.items()}
    return r

def fmt_us(value):
    return f"{value:,.0f} µs" if value < 10_000 else f"{value / 1000:,.1f} ms"

NAMES = ["pgbench", "dbconnection", "dbconnection-connection", "dbconnection-nio-global", "dbconnection-default",
         "dbconnection-auto", "dbconnection-pgnio-path", "postgresnio-client", "nio-floor-callbacks", "nio-floor-tasks"]

def medians(records):
    groups = {}
    for r in records:
        groups.setdefault((r["implementation"], r["clients"]), []).append(r)
    result = []
    for (implementation, clients), rs in groups.items():
        result.append({
            "implementation": implementation,
            "clients": clients,
            "tps": round(statistics.median(r["tps"] for r in rs), 1),
            "p50_us": round(statistics.median(r["p50_us"] for r in rs)),
            "p99_us": round(statistics.median(r["p99_us"] for r in rs)),
            "rounds": len(rs),
        })
        profiled = [r["cpu_us"] for r in rs if "cpu_us" in r]
        if profiled:
            result[-1]["cpu_us"] = {key: round(statistics.median(p[key] for p in profiled), 2)
                                    for key in profiled[0]}
    result.sort(key=lambda m: (m["clients"], NAMES.index(m["implementation"])))
    return result

def table(rows):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.ljust(widths[i]) if i in (1,) else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)

def report(records_path, json_out, svg_out, title):
    records = [json.loads(line) for line in open(records_path) if line.strip()]
    ms = medians(records)
    by = {(m["implementation"], m["clients"]): m for m in ms}
    rows = [["clients", "implementation", "tps", "p50", "p99", "rounds", "/ pgbench", "/ PostgresClient"]]
    for m in ms:
        ratios = ["", ""]
        if m["implementation"].startswith(("dbconnection", "nio-floor")):
            for i, peer in enumerate(["pgbench", "postgresnio-client"]):
                other = by.get((peer, m["clients"]))
                if other and other["tps"] > 0:
                    ratios[i] = f'{m["tps"] / other["tps"]:.2f}x tps'
        rows.append([str(m["clients"]), m["implementation"], f'{m["tps"]:,.0f}', fmt_us(m["p50_us"]),
                     fmt_us(m["p99_us"]), str(m["rounds"])] + ratios)
    print(title)
    print()
    print(table(rows))
    notes = sorted({f'{r["implementation"]}, {r["clients"]} clients, round {r["round"]}: {r["note"]}'
                    for r in records if r.get("note")})
    for note in notes:
        print("note: " + note)
    profiled = [m for m in ms if "cpu_us" in m]
    if profiled:
        rows = [["clients", "implementation", "client user", "of it runtime", "client kernel", "client",
                 "server", "all", "rounds"]]
        for m in profiled:
            c = m["cpu_us"]
            client = c["client_user_us"] + c["client_kernel_us"]
            rows.append([str(m["clients"]), m["implementation"]] +
                        [f"{value:.2f} µs" for value in (c["client_user_us"], c["client_runtime_us"],
                                                          c["client_kernel_us"], client, c["server_us"],
                                                          client + c["server_us"])] + [str(m["rounds"])])
        print()
        print("CPU time per statement (perf record -a, CPU-clock samples; medians of the rounds; runtime: "
              "libswiftCore, libswift_Concurrency, libdispatch, Foundation)")
        print()
        print(table(rows))
    if json_out:
        with open(json_out, "w") as f:
            json.dump(ms, f, indent=2)
            f.write("\n")
    if svg_out:
        with open(svg_out, "w") as f:
            f.write(svg(ms, title))

def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

def nice_step(maximum, ticks):
    if maximum <= 0:
        return 1
    raw = maximum / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude

def svg(ms, title):
    """TPS against clients: client counts evenly spaced on the x axis, one line per implementation."""
    width, height = 1040, 560
    left, right, top, bottom = 90, 240, 90, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    clients = sorted({m["clients"] for m in ms})
    y_max_raw = max([m["tps"] for m in ms] + [1]) * 1.08
    step = nice_step(y_max_raw, 6)
    y_max = step * math.ceil(y_max_raw / step)
    def x(c):
        if len(clients) == 1:
            return left + plot_w / 2
        return left + clients.index(c) / (len(clients) - 1) * plot_w
    def y(v):
        return top + plot_h - v / y_max * plot_h
    colors = {"pgbench": "#7f7f7f", "dbconnection": "#1f77b4", "dbconnection-connection": "#1f77b4",
              "dbconnection-nio-global": "#d62728", "dbconnection-default": "#2ca02c", "dbconnection-auto": "#9467bd",
              "dbconnection-pgnio-path": "#17becf", "postgresnio-client": "#ff7f0e",
              "nio-floor-callbacks": "#bcbd22", "nio-floor-tasks": "#8c564b"}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="28" font-size="16" font-weight="bold">{escape(title.splitlines()[0])}</text>']
    for line_no, line in enumerate(title.splitlines()[1:3]):
        out.append(f'<text x="{left}" y="{48 + 16 * line_no}" fill="#555">{escape(line)}</text>')
    tick = 0.0
    while tick <= y_max + 1e-9:
        out.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{left + plot_w}" y2="{y(tick):.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:,.0f}</text>')
        tick += step
    for c in clients:
        out.append(f'<line x1="{x(c):.1f}" y1="{top + plot_h}" x2="{x(c):.1f}" y2="{top + plot_h + 5}" stroke="#333"/>')
        out.append(f'<text x="{x(c):.1f}" y="{top + plot_h + 20}" text-anchor="middle">{c}</text>')
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#333"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 18}" text-anchor="middle">'
               'clients (connections; evenly spaced)</text>')
    out.append(f'<text transform="translate(22 {top + plot_h / 2}) rotate(-90)" text-anchor="middle">'
               'throughput (transactions/s, median of rounds)</text>')
    legend_y = top + 10
    for name in NAMES:
        points = sorted((m["clients"], m["tps"]) for m in ms if m["implementation"] == name)
        if not points:
            continue
        color = colors[name]
        if len(points) > 1:
            path = " ".join(f"{x(c):.1f},{y(v):.1f}" for c, v in points)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2.5"/>')
        for c, v in points:
            out.append(f'<circle cx="{x(c):.1f}" cy="{y(v):.1f}" r="4" fill="{color}"/>')
            out.append(f'<text x="{x(c) + 6:.1f}" y="{y(v) - 8:.1f}" fill="{color}">{v:,.0f}</text>')
        out.append(f'<line x1="{left + plot_w + 20}" y1="{legend_y}" x2="{left + plot_w + 44}" y2="{legend_y}" '
                   f'stroke="{color}" stroke-width="2.5"/>')
        out.append(f'<text x="{left + plot_w + 50}" y="{legend_y + 4}">{name}</text>')
        legend_y += 22
    out.append("</svg>\n")
    return "\n".join(out)

if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "report":
        report(*args)
    elif command == "profile":
        print(json.dumps(profile(*args)))
    elif command == "show":
        r = json.loads(args[0])
        note = f'   ({r["note"]})' if r["note"] else ""
        print(f'  {r["implementation"]:<24} {r["tps"]:>10,.0f} tps   p50 {fmt_us(r["p50_us"]):>9}   '
              f'p99 {fmt_us(r["p99_us"]):>9}{note}')
    else:
        kind, clients, round_ = command, int(args[-2]), int(args[-1])
        r = {"pgbench": pgbench, "dbconn": dbconn, "pgclient": pgclient}[kind](*args[:-2], clients, round_)
        print(json.dumps(r))
EOF
helper() { python3 "$WORK/helper.py" "$@"; }

# MARK: Set-up

log "pgbench -i -s $SCALE on $SHOWN_URL"
"$PGBENCH" -i -s "$SCALE" -q "$URL" >"$WORK/init.log" 2>&1 || {
    cat "$WORK/init.log" >&2
    die "pgbench -i failed (log above)"
}
SERVER_VERSION="$("$DBCONN" sql "$URL" "SHOW server_version" | sed -n 3p | awk '{print $1}')" || SERVER_VERSION="?"

implementations="pgbench"
if [[ -n "$EXECUTORS" ]]; then
    for executor in $EXECUTORS; do implementations+=" dbconnection-$executor"; done
else
    implementations+=" dbconnection"
fi
[[ "$COMPARE_DIRECT" == 1 ]] && implementations+=" dbconnection-pgnio-path"
[[ -n "$PGCLIENT" ]] && implementations+=" postgresnio-client"
[[ -n "$FLOOR_CLIENT" ]] && implementations+=" nio-floor-callbacks nio-floor-tasks"

# MARK: The runs

RECORDS="$WORK/records.jsonl"
: >"$RECORDS"
show() { helper show "$1" >&2; }

for clients in $CLIENTS; do
    threads=$((clients < 2 ? clients : 2))
    for round in $(seq 1 "$ROUNDS"); do
        log "$clients clients, round $round of $ROUNDS ($DURATION s each)"
        for implementation in $implementations; do
            run="$WORK/$implementation-$clients-$round"
            mkdir -p "$run"
            profiler=()
            [[ "$PROFILE" == 1 ]] && profiler=(perf record -q -a -e cpu-clock -F 4999 -o "$run/perf.data" --)
            case "$implementation" in
            pgbench)
                if ${profiler[@]+"${profiler[@]}"} "$PGBENCH" -S -M prepared -c "$clients" -j "$threads" -T "$DURATION" -n \
                    -l --log-prefix="$run/log" "$URL" >"$run/out" 2>"$run/err"; then
                    line="$(helper pgbench "$run/out" "$run/log" "$clients" "$round")"
                else
                    cat "$run/err" >&2
                    die "pgbench failed (its output above)"
                fi
                ;;
            dbconnection*)
                executor_option=()
                run_url="$URL"
                case "$implementation" in
                dbconnection-pgnio-path) run_url="$URL&direct_execute=off" ;;
                dbconnection-*) executor_option=(--executor "${implementation#dbconnection-}") ;;
                esac
                if ${profiler[@]+"${profiler[@]}"} "$DBCONN" bench "$run_url" --workload select --concurrency "$clients" --pool-size "$clients" \
                    --duration "$DURATION" --quiet --json "$run/report.json" ${executor_option[@]+"${executor_option[@]}"} \
                    >"$run/out" 2>"$run/err"; then
                    line="$(helper dbconn "$run/report.json" "$implementation" "$clients" "$round")"
                else
                    cat "$run/out" "$run/err" >&2
                    die "dbconn bench failed (its output above)"
                fi
                ;;
            postgresnio-client)
                if ${profiler[@]+"${profiler[@]}"} "$PGCLIENT" --url "$URL" --clients "$clients" --duration "$DURATION" >"$run/out" 2>"$run/err" \
                    && line="$(helper pgclient "$run/out" "$implementation" "$clients" "$round" 2>"$run/parse")"; then
                    :
                else
                    log "note: pgclient-load failed ($(head -c 300 "$run/err" "$run/parse" 2>/dev/null | tr '\n' ' ')); this run is left out"
                    continue
                fi
                ;;
            nio-floor-*)
                if ${profiler[@]+"${profiler[@]}"} "$FLOOR_CLIENT" --url "$URL" --clients "$clients" --duration "$DURATION" \
                    --mode "${implementation#nio-floor-}" >"$run/out" 2>"$run/err"; then
                    line="$(helper pgclient "$run/out" "$implementation" "$clients" "$round")"
                else
                    cat "$run/err" >&2
                    die "pg-wire-floor failed (its output above)"
                fi
                ;;
            esac
            if [[ "$PROFILE" == 1 ]]; then
                line="$(helper profile "$run/perf.data" "$line" "$DURATION")"
                rm -f "$run/perf.data"
            fi
            echo "$line" >>"$RECORDS"
            show "$line"
        done
    done
done

# MARK: Report

CORES="$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')"
TITLE="pgbench -S (select-only, prepared): scale $SCALE, $ROUNDS round(s) of $DURATION s per client count, medians
PostgreSQL $SERVER_VERSION at $SHOWN_URL, $CORES cores (clients and server share them), TLS off
latency per transaction (dbconnection: pool checkout included); ratios: tps / the peer's tps"
echo
helper report "$RECORDS" "$JSON_OUT" "$SVG_OUT" "$TITLE"
[[ -n "$JSON_OUT" ]] && log "wrote $JSON_OUT"
[[ -n "$SVG_OUT" ]] && log "wrote $SVG_OUT"
[[ -n "$PGCLIENT" ]] || log "note: no postgresnio-client column: Benchmarks/ has no working pgclient-load yet"
exit 0
