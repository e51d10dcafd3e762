#!/usr/bin/env bash
# Ledger export benchmark: fills a ledger with N entries (default 1,000,000)
# on SQLite (a temp file) and on a throwaway PostgreSQL cluster (temp dir,
# free port, stopped at exit; needs root for runuser), then measures, each
# as its own process under /usr/bin/time -v (wall time, peak RSS):
#   scan        the bare streaming scan (bench/ledger_export.rs `scan`)
#   csv, jsonl  `tokctl ledger export --format F --output FILE` (a real file)
#   csv|null    the CSV export to stdout, redirected to /dev/null
#   csv.zst     the CSV export compressed with zstd
#   csv-incr    the CSV export as an incremental one (--after 0: by chain and
#               sequence number, up to the watermark)
#   verify      `tokctl ledger verify`: every row's HMAC recomputed and linked
# Knobs: TOKCTL_BENCH_N (entries), TOKCTL_BENCH_RUNS (runs of each, default 3),
# TOKCTL_BENCH_BACKENDS ("sqlite postgres"), TOKCTL_BENCH_ONLY (labels to
# run, e.g. "scan csv"), TOKCTL_BENCH_BEFORE (another tokctl binary: its CSV
# and JSONL exports and verify run as csv-before, jsonl-before and
# verify-before in the same runs, for a before/after comparison on one
# machine state), TOKCTL_BENCH_EXPLAIN=1 (PostgreSQL: print the plans of
# export's and verify's reads first), TOKCTL_BENCH_BIN and
# TOKCTL_BENCH_HELPER (a tokctl and a ledger_export bench binary already
# built: no cargo build), TOKCTL_BENCH_MIGRATE=1 (run `tokctl migrate` after
# populating, for a helper built from an older schema), TOKCTL_BENCH_AA=1
# (the CSV export and verify of TOKCTL_BENCH_BIN run twice a round, the
# second as csv-aa and verify-aa: an A/A pair measured beside the A/B one).
# With TOKCTL_BENCH_BEFORE, even rounds run the before binary first, so
# neither side always follows the other. At the end: each label's median
# wall time, rows/s and CPU time (user + system) over the runs.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${TOKCTL_BENCH_N:-1000000}
RUNS=${TOKCTL_BENCH_RUNS:-3}
BACKENDS=${TOKCTL_BENCH_BACKENDS:-sqlite postgres}
ONLY=${TOKCTL_BENCH_ONLY:-}
BEFORE=${TOKCTL_BENCH_BEFORE:-}
# shellcheck source=bench/lib.sh
. bench/lib.sh

if [ -n "${TOKCTL_BENCH_BIN:-}" ]; then
    tokctl=$TOKCTL_BENCH_BIN
else
    cargo build --release --bin tokctl
    tokctl=target/release/tokctl
fi
if [ -n "${TOKCTL_BENCH_HELPER:-}" ]; then
    helper=$TOKCTL_BENCH_HELPER
else
    helper=$(cargo bench --bench ledger_export --no-run --message-format=json 2>/dev/null | python3 -c '
import sys, json
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "ledger_export" and m.get("executable"):
        print(m["executable"])')
fi

work=$(mktemp -d /tmp/tokctl-bench-export.XXXXXX)
chmod 755 "$work"
results="$work/results"
pgdir=""
stop() {
    if [ -n "$pgdir" ]; then
        stop_postgres "$pgdir"
        rm -rf "$pgdir"
    fi
    rm -rf "$work"
}
trap stop EXIT

# measure LABEL CMD...: runs CMD under /usr/bin/time -v, prints one line.
measure() {
    local label=$1; shift
    if [ -n "$ONLY" ] && [[ " $ONLY " != *" $label "* ]]; then return; fi
    /usr/bin/time -v "$@" >"$work/stdout" 2>"$work/time" || { cat "$work/time" >&2; exit 1; }
    python3 - "$label" "$N" "$work/time" <<'PY'
import sys, re
label, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
text = open(path).read()
wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", text).group(1)
secs = 0.0
for part in wall.split(":"):
    secs = secs * 60 + float(part)
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
cpu = float(re.search(r"User time \(seconds\): (\S+)", text).group(1)) + \
      float(re.search(r"System time \(seconds\): (\S+)", text).group(1))
print(f"{label:13} {secs:7.2f} s  {n / secs:>10,.0f} rows/s  peak RSS {rss / 1024:6.1f} MiB  cpu {cpu:5.2f} s")
PY
}

# summary BACKEND: the medians of every label measured on BACKEND.
summary() {
    python3 - "$1" "$N" "$results.$1" <<'PY'
import re, statistics, sys
backend, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
runs = {}
for line in open(path):
    m = re.match(r"(\S+)\s+(\S+) s .* cpu\s+(\S+) s", line)
    if m:
        runs.setdefault(m.group(1), []).append((float(m.group(2)), float(m.group(3))))
print(f"== {backend}: medians (runs)")
for label, r in runs.items():
    wall = statistics.median(w for w, _ in r)
    cpus = sorted(c for _, c in r)
    print(f"{label:13} {wall:7.2f} s  {n / wall:>10,.0f} rows/s  cpu {statistics.median(cpus):5.2f} s"
          f"  (cpu {' '.join(f'{c:.2f}' for c in cpus)})")
PY
}

run_backend() {
    local name=$1 dsn=$2
    echo "== $name: populating $N entries"
    rm -f "$work/head.json"
    "$helper" populate "$dsn" "$N" "$work/head.json"
    printf '[ledger]\npath = "%s"\n[ledger.chain]\nhmac_key = "bench-key"\nhead_file = "%s"\n' \
        "$dsn" "$work/head.json" >"$work/config.toml"
    if [ -n "${TOKCTL_BENCH_MIGRATE:-}" ]; then
        # A ledger populated by an older helper, brought to this binary's
        # schema: both binaries then read (and verify) the same rows.
        "$tokctl" --config "$work/config.toml" migrate >/dev/null
    fi
    local ex=("$tokctl" --config "$work/config.toml" ledger export)
    if [ -n "${TOKCTL_BENCH_EXPLAIN:-}" ] && [ "$name" = postgres ]; then
        # The plans of export's and verify's reads, as the server runs them.
        for order in "ORDER BY created_at_us, id" "WHERE instance_id = (SELECT instance_id FROM ledger_chains LIMIT 1) AND seq > 0 ORDER BY seq"; do
            psql "$dsn" -Atc "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM usage_entries $order"
        done
    fi
    echo "== $name: $N rows, $RUNS runs each"
    for run in $(seq "$RUNS"); do
        if [ -n "$BEFORE" ] && [ $((run % 2)) = 0 ]; then before_runs; fi
        measure "scan" "$helper" scan "$dsn"
        measure "csv" "${ex[@]}" --format csv --output "$work/out.csv"
        measure "jsonl" "${ex[@]}" --format jsonl --output "$work/out.jsonl"
        measure "csv|null" sh -c '"$@" >/dev/null' sh "${ex[@]}" --format csv
        measure "csv.zst" "${ex[@]}" --format csv --output "$work/out.csv.zst"
        measure "csv-incr" "${ex[@]}" --format csv --after 0 --output "$work/out.incr.csv"
        measure "verify" "$tokctl" --config "$work/config.toml" ledger verify
        if [ -n "${TOKCTL_BENCH_AA:-}" ]; then
            measure "csv-aa" "${ex[@]}" --format csv --output "$work/out.aa.csv"
            measure "verify-aa" "$tokctl" --config "$work/config.toml" ledger verify
        fi
        if [ -n "$BEFORE" ] && [ $((run % 2)) = 1 ]; then before_runs; fi
        rm -f "$work"/out.*
    done
}

# The before binary's runs of one round.
before_runs() {
    measure "csv-before" "$BEFORE" --config "$work/config.toml" ledger export \
        --format csv --output "$work/out.before.csv"
    measure "jsonl-before" "$BEFORE" --config "$work/config.toml" ledger export \
        --format jsonl --output "$work/out.before.jsonl"
    measure "verify-before" "$BEFORE" --config "$work/config.toml" ledger verify
}

for backend in $BACKENDS; do
    case $backend in
    sqlite)
        run_backend sqlite "$work/ledger.db" | tee "$results.sqlite"
        summary sqlite
        ;;
    postgres)
        pgdir=$(mktemp -d /tmp/tokctl-bench-pg.XXXXXX)
        # fsync off only speeds up filling the table; the export only reads.
        start_postgres "$pgdir" -c fsync=off
        runuser -u postgres -- "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres tokctl_bench
        run_backend postgres "postgres://postgres@127.0.0.1:$PGPORT/tokctl_bench" | tee "$results.postgres"
        summary postgres
        ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
    esac
done
