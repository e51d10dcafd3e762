#!/usr/bin/env bash
# Where `tokctl serve`'s CPU goes, thread by thread: user and system time
# and context switches (voluntary, involuntary) per request of each thread,
# from /proc/PID/task/*/{stat,status} over a window of steady load
# (`tokctl loadtest`, auth on, spool as shipped, nginx upstream from
# bench/lib.sh). With BACKEND=postgres the ledger is a throwaway PostgreSQL
# and the CPU of its server processes is printed too.
# Usage: bash bench/threads.sh [window_seconds=8] [connections=50]
# Knobs: BACKEND=sqlite|postgres (default sqlite); TOKCTL_BENCH_BIN=path to
# measure another binary; SPOOL=off|never|interval|always (default interval).
set -euo pipefail
WIN=${1:-8}
CONNS=${2:-50}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/tokctl-threads.XXXXXX)
chmod 755 "$WORK"
cleanup() {
  if [ -n "${TPID:-}" ]; then kill "$TPID" 2>/dev/null || true; wait "$TPID" 2>/dev/null || true; fi
  [ -f "$WORK/upstream.pid" ] && kill "$(cat "$WORK/upstream.pid")" 2>/dev/null || true
  stop_postgres "$WORK/pg" immediate
  rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
cd "$ROOT"
build_release

UP=$(free_port)
start_upstream upstream "$UP"
DSN="$WORK/t/ledger.db"
if [ "${BACKEND:-sqlite}" = postgres ]; then
  start_postgres "$WORK/pg"
  psql -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "CREATE DATABASE bench" >/dev/null
  DSN="postgres://postgres@127.0.0.1:$PGPORT/bench"
fi
start_tokctl_in "$BIN" "$WORK/t" "$DSN" "${SPOOL:-interval}"
sleep 0.5

pg_ticks() {
  local s=0 p
  for p in $(pgrep -u postgres postgres || true); do
    set -- $(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null || echo 0 0)
    s=$((s + $1 + $2))
  done
  echo "$s"
}
snap() { # tid name utime stime voluntary involuntary
  local t
  for t in /proc/"$TPID"/task/*; do
    echo "$(basename "$t") $(tr ' ' _ < "$t/comm") $(cut -d' ' -f14,15 "$t/stat")" \
      "$(awk '/^(non)?voluntary_ctxt/ {printf "%s ", $2}' "$t/status")"
  done
}

"$BIN" loadtest "http://127.0.0.1:$TPORT/v1/chat/completions" -c "$CONNS" -d "$((WIN + 4))s" \
  --model bench --api-key "$KEY" -q --json > "$WORK/run.json" &
LOAD=$!
sleep 2
snap > "$WORK/before"; PGA=$(pg_ticks)
sleep "$WIN"
snap > "$WORK/after"; PGB=$(pg_ticks)
wait "$LOAD"

python3 - "$WORK/before" "$WORK/after" "$WORK/run.json" "$WIN" "$PGA" "$PGB" "$(getconf CLK_TCK)" <<'PY'
import json, sys
before = {l.split()[0]: l.split() for l in open(sys.argv[1])}
run = json.load(open(sys.argv[3]))["runs"][0]
reqs = run["requests_per_s"] * float(sys.argv[4])
us = 1e6 / int(sys.argv[7]) / max(reqs, 1)
print(f"{round(run['requests_per_s'])} req/s; per request over {sys.argv[4]} s:")
print(f"{'thread':18} {'user_us':>8} {'sys_us':>8} {'vol_cs':>7} {'invol_cs':>8}")
total = 0.0
for line in open(sys.argv[2]):
    f = line.split()
    if f[0] not in before:
        continue
    b = before[f[0]]
    d = [int(f[i]) - int(b[i]) for i in range(2, 6)]
    if not any(d):
        continue
    total += (d[0] + d[1]) * us
    print(f"{f[1]:18} {d[0]*us:8.1f} {d[1]*us:8.1f} {d[2]/reqs:7.2f} {d[3]/reqs:8.2f}")
print(f"{'tokctl, all':18} {total:17.1f}")
pg = int(sys.argv[6]) - int(sys.argv[5])
if pg:
    print(f"{'postgres server':18} {pg*us:17.1f}")
PY
