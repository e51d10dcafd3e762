#!/usr/bin/env bash
# Gateway overhead benchmark, one run, all rows measured on this machine:
#   direct      wrk -> upstream (nginx returning a fixed OpenAI completion with usage)
#   nginx-proxy wrk -> nginx reverse proxy -> upstream   (the cheapest proxy hop: the reference)
#   tokctl-sqlite / tokctl-postgres
#               wrk -> tokctl serve (auth on, ledger on) -> upstream
# Each row: requests/s, p50/p99/p99.9, the proxy's CPU time per request (from /proc),
# and for tokctl the ledger rows against the 200 responses.
# Usage: bash bench/gateway.sh [duration_seconds=10] [connections="50 200"]
# SPOOL_MODES="off never interval always" runs each tokctl row once per spool
# setting (off, or on with that fsync mode); the default is the shipped one,
# interval. SPOOL_MODES=legacy writes neither [ledger.spool] nor [ledger.chain],
# for a binary from before them (TOKCTL_BENCH_BIN=path/to/old/tokctl).
# PERF_DIR=dir records a CPU profile of each tokctl row (perf record -g) into
# dir/NAME-CONNS.data, for `perf report -i`; the numbers of a profiled row
# include perf's own cost. PERF_HZ sets the sampling rate (default 999 per second),
# PERF_CALLGRAPH perf's call-graph option (default -g; e.g. "--call-graph dwarf,8192").
# PIN_WORKERS=true pins both proxies' workers to CPUs: nginx with
# `worker_cpu_affinity auto`, tokctl with `server.pin_workers = true`
# (default false, as the earlier figures were taken; docs/benchmarks-history.md,
# "Session 17: worker threads pinned to CPUs").
# Needs: nginx-light, wrk, postgresql (bash scripts/install-test-deps.sh installs them).
set -euo pipefail
export PIN_WORKERS=${PIN_WORKERS:-false}
DUR=${1:-10}
CONNS=${2:-"50 200"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/tokctl-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done
  for f in "$WORK/upstream.pid" "$WORK/proxy.pid"; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  stop_postgres "$WORK/pg" immediate
  rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
cpu_ticks() { # utime+stime of the given pids, in clock ticks
  local t=0; for p in "$@"; do set -- $(cut -d' ' -f14,15 "/proc/$p/stat"); t=$((t + $1 + $2)); done; echo "$t"; }
HZ=$(getconf CLK_TCK)
# CPU ticks of the PostgreSQL server: its live processes, plus what the
# postmaster has reaped (backends that ended count there).
pg_ticks() {
  local t=0 pm f; pm=$(head -1 "$WORK/pg/data/postmaster.pid")
  for p in $(pgrep -u postgres); do
    f=$(cut -d' ' -f14-17 "/proc/$p/stat" 2>/dev/null) || continue
    set -- $f; t=$((t + $1 + $2)); [ "$p" = "$pm" ] && t=$((t + $3 + $4))
  done; echo "$t"; }

cd "$ROOT"
build_release

UP=$(free_port); PROXY=$(free_port)
# Two nginx instances, so that each one's CPU time is its own: the upstream
# (1 worker, bench/lib.sh) and the reverse proxy (one worker per core, as
# tokctl uses a thread per core).
start_upstream upstream "$UP"
AFFINITY=""
[ "$PIN_WORKERS" = true ] && AFFINITY="worker_cpu_affinity auto;"
cat > "$WORK/proxy.conf" <<NGINX
worker_processes auto;
$AFFINITY
pid $WORK/proxy.pid;
error_log $WORK/proxy-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream up { server 127.0.0.1:$UP; keepalive 256; }
  server { listen 127.0.0.1:$PROXY;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
NGINX
nginx -c "$WORK/proxy.conf" -e "$WORK/proxy-error.log"
sleep 0.5
UPSTREAM_WORKER=$(pgrep -P "$(cat "$WORK/upstream.pid")" | head -1)
PROXY_WORKERS=$(pgrep -P "$(cat "$WORK/proxy.pid")" | tr '\n' ' ')

cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"bench","messages":[{"role":"user","content":"hello"}]}'
wrk.headers["Content-Type"] = "application/json"
if os.getenv("KEY") then wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY") end
done = function(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format("RESULT %d %d %.1f %.0f %.0f %.0f\n", summary.requests, non2xx,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
LUA

# run NAME URL CONNS PIDS... ; prints one row and appends it to $WORK/rows
# The load comes from `tokctl loadtest` (LOADGEN=wrk uses wrk instead).
row() {
  local name=$1 url=$2 conns=$3; shift 3
  local before after out
  before=$(cpu_ticks "$@")
  local perf_pid=""
  if [ -n "${PERF_DIR:-}" ] && [[ $name == tokctl* ]]; then
    mkdir -p "$PERF_DIR"
    perf record -q -F "${PERF_HZ:-999}" ${PERF_CALLGRAPH:--g} -p "$1" -o "$PERF_DIR/${name//\//-}-$conns.data" -- sleep "$DUR" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  if [ "${LOADGEN:-tokctl}" = wrk ]; then
    out=$(wrk -t2 -c"$conns" -d"${DUR}s" --latency -s "$WORK/post.lua" "$url" | grep '^RESULT')
  else
    out=$("$BIN" loadtest "$url" -c "$conns" -d "${DUR}s" --model bench ${KEY:+--api-key "$KEY"} --json -q \
      | python3 -c 'import json,sys; r=json.load(sys.stdin)["runs"][0]; l=r["latency_ms"]
print("RESULT", r["requests"], r["failures"], r["requests_per_s"], l["p50"]*1000, l["p99"]*1000, l["p999"]*1000)')
  fi
  after=$(cpu_ticks "$@")
  [ -n "$perf_pid" ] && wait "$perf_pid"
  read -r _ reqs non2xx rps p50 p99 p999 <<<"$out"
  local cpu_us=$(( (after - before) * 1000000 / HZ ))
  local per_req
  per_req=$(python3 -c "print(f'{$cpu_us/max($reqs,1):.1f}')")
  printf "%-24s %5s %10s %9.0f %8.0f %8.0f %8.0f %10s" "$name" "$conns" "$reqs" "$rps" "$p50" "$p99" "$p999" "$per_req"
  echo "$name $conns $rps $p99 $per_req" >> "$WORK/rows"
  LAST_OK=$((reqs - non2xx))
}

start_tokctl() { # DSN SPOOL_MODE -> sets TPID, TPORT, KEY (bench/lib.sh)
  # Each run its own spool and chain files: a spool left by one run must
  # never replay into the next run's database.
  start_tokctl_in "$BIN" "$WORK/data-$RANDOM$RANDOM" "$1" "${2:-interval}"
  export KEY
}

stop_tokctl() { kill -TERM "$TPID"; wait "$TPID" 2>/dev/null || true; unset KEY; }

rows_sqlite() { python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute('select count(*) from usage_entries where status_code=200').fetchone()[0])" "$1"; }

printf "%-24s %5s %10s %9s %8s %8s %8s %10s %s\n" row conns requests req/s p50_us p99_us p99.9_us cpu_us/req "ledger rows(200) / 200 responses"
for c in $CONNS; do
  row direct "http://127.0.0.1:$UP/v1/chat/completions" "$c" "$UPSTREAM_WORKER"; echo "   (cpu: the upstream itself)"
  # shellcheck disable=SC2086
  row nginx-proxy "http://127.0.0.1:$PROXY/v1/chat/completions" "$c" $PROXY_WORKERS; echo

  for mode in ${SPOOL_MODES:-interval}; do
  suffix=""; [ -n "${SPOOL_MODES:-}" ] && suffix="/$mode"
  rm -f "$WORK"/ledger.db*
  start_tokctl "$WORK/ledger.db" "$mode"
  row "tokctl-sqlite$suffix" "http://127.0.0.1:$TPORT/v1/chat/completions" "$c" "$TPID"
  ok=$LAST_OK; stop_tokctl
  echo "   $(rows_sqlite "$WORK/ledger.db") / $ok"
  done

  if [ -x "$PGBIN/initdb" ]; then
    if [ ! -d "$WORK/pg" ]; then
      start_postgres "$WORK/pg" -c max_connections=200
    fi
    for mode in ${SPOOL_MODES:-interval}; do
    suffix=""; [ -n "${SPOOL_MODES:-}" ] && suffix="/$mode"
    DB="bench$c$mode"
    psql -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
    start_tokctl "postgres://postgres@127.0.0.1:$PGPORT/$DB" "$mode"
    pg_before=$(pg_ticks)
    row "tokctl-postgres$suffix" "http://127.0.0.1:$TPORT/v1/chat/completions" "$c" "$TPID"
    ok=$LAST_OK; stop_tokctl
    pg_us=$(( ($(pg_ticks) - pg_before) * 1000000 / HZ ))
    echo "   $(psql -h 127.0.0.1 -p "$PGPORT" -U postgres -d "$DB" -tAc 'select count(*) from usage_entries where status_code=200') / $ok" \
      "  (postgres server: $(python3 -c "print(f'{$pg_us/max($ok,1):.1f}')") cpu_us/req)"
    done
  fi
done

echo
echo "ratios to the nginx reverse proxy at the same connections (targets: req/s >= 0.5, cpu/req <= 2.5, p99 <= 2.5):"
python3 - "$WORK/rows" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
ref = {r[1]: r for r in rows if r[0] == "nginx-proxy"}
for name, conns, rps, p99, cpu in rows:
    if name.startswith("tokctl") and conns in ref:
        n = ref[conns]
        print(f"  {name:24} c={conns:>4}  req/s {float(rps)/float(n[2]):.2f}x  cpu/req {float(cpu)/float(n[4]):.2f}x  p99 {float(p99)/float(n[3]):.2f}x")
# With several spool modes: each mode against the spool off, same backend and connections.
off = {(r[0].split("/")[0], r[1]): r for r in rows if r[0].endswith("/off")}
if off:
    print("spool modes against the spool off (target for interval: req/s >= 0.90):")
    for name, conns, rps, p99, cpu in rows:
        base = off.get((name.split("/")[0], conns))
        if base and not name.endswith("/off"):
            print(f"  {name:24} c={conns:>4}  req/s {float(rps)/float(base[2]):.2f}x  p99 {float(p99)/float(base[3]):.2f}x  cpu/req {float(cpu)/float(base[4]):.2f}x")
PY
