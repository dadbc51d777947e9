#!/usr/bin/env bash
# Side-by-side pool benchmark: DBConnection's pool, postgres-nio's pool and AsyncKit's pool, each over
# a no-op connection, pool of 10, driven from Swift tasks.
#
#   scripts/bench-pool.sh                        # 5 rounds of 1.5 s runs (about 4 minutes after the build)
#   scripts/bench-pool.sh --quick                # 3 rounds of 0.3 s runs (under 1 minute after the build)
#   scripts/bench-pool.sh --rounds 7 --json pool.json --svg pool.svg
#
# Options:
#   --rounds N        rounds (default 5; 3 with --quick; at least 1)
#   --seconds S       length of each throughput run (default 1.5; 0.3 with --quick)
#   --quick           the short settings above
#   --json FILE       write the medians as a JSON list, one record per (implementation, workload, tasks):
#                     implementation, workload, tasks, cycles_per_s, p50_ns, p99_ns, p999_ns,
#                     mallocs_per_cycle, rounds
#   --raw FILE        also keep every run's record (JSON lines)
#   --svg FILE        write a chart of throughput against tasks, one line per pool and workload
#   --only LIST       comma-separated implementations (default dbconnection,postgres-nio,async-kit)
#   --no-build        use the pool-bench binary already built
#
# Workloads: lease-release (check out, check in) with 1, 100 and 1,000 tasks, and lease-yield (one
# `await Task.yield()` while leased) with 100 and 1,000 tasks. Each run is one process of
# Benchmarks/Sources/pool-bench: it opens the pool, calibrates, runs about --seconds untimed with the malloc
# counters on (libMallocInterposerSwift.so preloaded), then half that with every lease timed. Runs are
# interleaved (A B C A B C ...) so that drift in the machine's load hits every pool alike; the table shows
# medians over the rounds. Ratios: throughput ours / peer, and p99 lease latency peer / ours (above 1:
# ours is faster, or waits less).
set -euo pipefail

rounds=""
seconds=""
quick=false
json_out=""
raw_out=""
svg_out=""
only="dbconnection,postgres-nio,async-kit"
build=true

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --quick) quick=true; shift ;;
        --json) json_out="$2"; shift 2 ;;
        --raw) raw_out="$2"; shift 2 ;;
        --svg) svg_out="$2"; shift 2 ;;
        --only) only="$2"; shift 2 ;;
        --no-build) build=false; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "bench-pool.sh: unknown argument $1" >&2; usage >&2; exit 64 ;;
    esac
done
if $quick; then
    rounds="${rounds:-3}"
    seconds="${seconds:-0.3}"
else
    rounds="${rounds:-5}"
    seconds="${seconds:-1.5}"
fi
[[ "$rounds" =~ ^[0-9]+$ && "$rounds" -ge 1 ]] || { echo "bench-pool.sh: --rounds must be a positive integer" >&2; exit 64; }

root="$(cd "$(dirname "$0")/.." && pwd)"
package="$root/Benchmarks"
command -v python3 >/dev/null || { echo "bench-pool.sh: python3 is needed for the table" >&2; exit 1; }

if $build; then
    echo "bench-pool: building pool-bench (release)..." >&2
    build_log="$(mktemp)"
    if ! swift build -c release --package-path "$package" --product pool-bench >"$build_log" 2>&1; then
        grep -v -e "found 1 file(s) which are unhandled" -e "/CMakeLists.txt$" "$build_log" >&2 || true
        rm -f "$build_log"
        echo "bench-pool.sh: building pool-bench failed (output above); not measuring an old binary" >&2
        exit 1
    fi
    rm -f "$build_log"
fi
bindir="$(swift build -c release --package-path "$package" --show-bin-path)"
bench="$bindir/pool-bench"
[[ -x "$bench" ]] || { echo "bench-pool.sh: $bench is missing (build failed?)" >&2; exit 1; }
preload=""
if [[ "$(uname -s)" == "Linux" && -f "$bindir/libMallocInterposerSwift.so" ]]; then
    preload="$bindir/libMallocInterposerSwift.so"
fi

raw="$(mktemp)"
trap 'rm -f "$raw"' EXIT
IFS=',' read -r -a implementations <<<"$only"
workloads=("lease-release 1" "lease-release 100" "lease-release 1000" "lease-yield 100" "lease-yield 1000")

run_one() {
    local implementation="$1" workload="$2" tasks="$3"
    local args=(--implementation "$implementation" --workload "$workload" --tasks "$tasks" --seconds "$seconds")
    if [[ -n "$preload" ]]; then
        LD_PRELOAD="$preload" timeout 300 "$bench" "${args[@]}"
    else
        timeout 300 "$bench" "${args[@]}"
    fi
}

started=$(date +%s)
echo "bench-pool: $rounds rounds x ${#workloads[@]} workloads x ${#implementations[@]} pools, ${seconds} s runs" >&2
for ((round = 1; round <= rounds; round++)); do
    for entry in "${workloads[@]}"; do
        read -r workload tasks <<<"$entry"
        for implementation in "${implementations[@]}"; do
            if ! line="$(run_one "$implementation" "$workload" "$tasks")"; then
                echo "bench-pool: $implementation $workload $tasks failed; trying once more" >&2
                line="$(run_one "$implementation" "$workload" "$tasks")"
            fi
            echo "$line" >>"$raw"
            printf 'bench-pool: round %d/%d  %-13s %-13s %5d tasks  %12s cycles/s\n' "$round" "$rounds" \
                "$implementation" "$workload" "$tasks" \
                "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["cycles_per_s"])' "$line")" >&2
        done
    done
done
echo "bench-pool: runs took $(($(date +%s) - started)) s" >&2
[[ -n "$raw_out" ]] && cp "$raw" "$raw_out"

python3 - "$raw" "$rounds" "$seconds" "$json_out" "$svg_out" <<'PY'
import json, statistics, sys

raw, rounds, seconds, json_out, svg_out = sys.argv[1:6]
records = [json.loads(line) for line in open(raw) if line.strip()]
keys = []
groups = {}
for r in records:
    key = (r["implementation"], r["workload"], r["tasks"])
    if key not in groups:
        keys.append(key)
        groups[key] = []
    groups[key].append(r)

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

summary = []
for key in keys:
    runs = groups[key]
    summary.append({
        "implementation": key[0],
        "workload": key[1],
        "tasks": key[2],
        "cycles_per_s": round(median([r["cycles_per_s"] for r in runs])),
        "p50_ns": round(median([r["p50_ns"] for r in runs])),
        "p99_ns": round(median([r["p99_ns"] for r in runs])),
        "p999_ns": round(median([r["p999_ns"] for r in runs])),
        "mallocs_per_cycle": (lambda m: None if m is None else round(m, 4))(median([r["mallocs_per_cycle"] for r in runs])),
        "rounds": len(runs),
    })
by_key = {(s["implementation"], s["workload"], s["tasks"]): s for s in summary}
peers = [i for i in ["postgres-nio", "async-kit"] if any(s["implementation"] == i for s in summary)]

def fmt_int(n):
    return f"{n:,}"

def fmt_ns(n):
    return f"{n / 1000:,.1f} µs" if n >= 10_000 else f"{n:,} ns"

def fmt_mallocs(m):
    return "n/a" if m is None else f"{m:.2f}"

print()
print(f"Medians of {rounds} rounds, {seconds} s runs, pool of 10, no-op connections "
      f"({records[0].get('pool_size', 10)} connections):")
print()
header = ["workload", "tasks", "pool", "cycles/s", "p50 lease", "p99 lease", "mallocs/cycle"]
rows = []
for s in summary:
    rows.append([s["workload"], str(s["tasks"]), s["implementation"], fmt_int(s["cycles_per_s"]),
                 fmt_ns(s["p50_ns"]), fmt_ns(s["p99_ns"]), fmt_mallocs(s["mallocs_per_cycle"])])
widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
def line(cells):
    return "  ".join(c.rjust(w) if i >= 3 or i == 1 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
print(line(header))
print("  ".join("-" * w for w in widths))
for r in rows:
    print(line(r))

if "dbconnection" in {s["implementation"] for s in summary} and peers:
    print()
    print("Ratios, dbconnection vs each peer (throughput ours/peer; p99 lease latency peer/ours; above 1 is ours better):")
    print()
    header2 = ["workload", "tasks"] + [f"{p} {what}" for p in peers for what in ("throughput", "p99")]
    rows2 = []
    for s in summary:
        if s["implementation"] != "dbconnection":
            continue
        cells = [s["workload"], str(s["tasks"])]
        for p in peers:
            peer = by_key.get((p, s["workload"], s["tasks"]))
            if peer is None:
                cells += ["-", "-"]
                continue
            cells.append(f"{s['cycles_per_s'] / peer['cycles_per_s']:.2f}x")
            cells.append(f"{peer['p99_ns'] / max(1, s['p99_ns']):.2f}x")
        rows2.append(cells)
    widths2 = [max(len(h), *(len(r[i]) for r in rows2)) for i, h in enumerate(header2)]
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header2, widths2))))
    print("  ".join("-" * w for w in widths2))
    for r in rows2:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths2))))

if json_out:
    with open(json_out, "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(f"\nbench-pool: wrote {json_out}", file=sys.stderr)

if svg_out:
    import math
    colors = {"dbconnection": "#1f77b4", "postgres-nio": "#d62728", "async-kit": "#2ca02c"}
    dashes = {"lease-release": "", "lease-yield": "6,4"}
    width, height = 780, 440
    left, right, top, bottom = 90, 200, 40, 60
    points = [(s["tasks"], s["cycles_per_s"]) for s in summary]
    xs = sorted({t for t, _ in points})
    ymin = 10 ** math.floor(math.log10(min(y for _, y in points)))
    ymax = 10 ** math.ceil(math.log10(max(y for _, y in points)))
    xmin, xmax = math.log10(min(xs)), math.log10(max(xs))
    if xmax == xmin:
        xmax = xmin + 1
    def px(t):
        return left + (math.log10(t) - xmin) / (xmax - xmin) * (width - left - right)
    def py(y):
        return top + (1 - (math.log10(y) - math.log10(ymin)) / (math.log10(ymax) - math.log10(ymin))) * (height - top - bottom)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="22" font-size="14">Pool throughput (lease + release cycles/s, log scale), pool of 10, medians of {rounds} rounds</text>']
    decade = ymin
    while decade <= ymax:
        y = py(decade)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ddd"/>')
        label = f"{decade / 1e6:g}M" if decade >= 1e6 else (f"{decade / 1e3:g}k" if decade >= 1e3 else f"{decade:g}")
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
        decade *= 10
    for t in xs:
        x = px(t)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{height - bottom + 18}" text-anchor="middle">{t}</text>')
    out.append(f'<text x="{(left + width - right) / 2:.1f}" y="{height - 20}" text-anchor="middle">tasks</text>')
    out.append(f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#333"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#333"/>')
    legend_y = top + 10
    for implementation in [i for i in colors if any(s["implementation"] == i for s in summary)]:
        for workload in ["lease-release", "lease-yield"]:
            series = sorted((s["tasks"], s["cycles_per_s"]) for s in summary
                            if s["implementation"] == implementation and s["workload"] == workload)
            if not series:
                continue
            path = " ".join(f"{px(t):.1f},{py(y):.1f}" for t, y in series)
            dash = f' stroke-dasharray="{dashes[workload]}"' if dashes[workload] else ""
            out.append(f'<polyline points="{path}" fill="none" stroke="{colors[implementation]}" stroke-width="2"{dash}/>')
            for t, y in series:
                out.append(f'<circle cx="{px(t):.1f}" cy="{py(y):.1f}" r="3" fill="{colors[implementation]}"/>')
            lx = width - right + 15
            out.append(f'<line x1="{lx}" y1="{legend_y}" x2="{lx + 30}" y2="{legend_y}" stroke="{colors[implementation]}" stroke-width="2"{dash}/>')
            out.append(f'<text x="{lx + 36}" y="{legend_y + 4}">{implementation} {workload}</text>')
            legend_y += 20
    out.append("</svg>")
    with open(svg_out, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"bench-pool: wrote {svg_out}", file=sys.stderr)
PY
