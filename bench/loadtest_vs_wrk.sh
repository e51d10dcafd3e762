#!/usr/bin/env bash
# tokctl loadtest vs wrk against the same trivial upstream, in one run.
#   upstream: nginx (1 worker) answering POST with a fixed OpenAI completion
#   for each connection count: wrk -t2 -cN and tokctl loadtest -cN, same body,
#   same duration; prints req/s and p50 of both and tokctl/wrk ratios.
# Target (issue 5): tokctl >= 90% of wrk's req/s, p50 within 10%.
#   It also prints the CPU time per request of each generator (user+system,
#   from /usr/bin/time) and of the nginx worker (/proc/PID/stat) in each run:
#   on a 2-core machine the generator and the upstream share the cores, so a
#   generator that spends more per request leaves the upstream less.
# Usage: bench/loadtest_vs_wrk.sh [seconds=5] ["conns"="10 50"]
# Knobs: THREADS (load threads of both tools, default 2 as wrk -t2);
# PIN=1 pins the nginx worker to CPU 0 and both generators to CPU 1 (with
# THREADS=1), so that neither shares a core with the upstream.
# Needs: nginx, wrk. Builds tokctl with --release (TOKCTL_BENCH_NO_BUILD=1 skips it).
set -euo pipefail
DUR=${1:-5}
CONNS=${2:-"10 50"}
THREADS=${THREADS:-2}
PIN=${PIN:-}
GEN=()
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/tokctl-lt-bench.XXXXXX)
chmod 755 "$WORK"
cleanup() {
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

cd "$ROOT"
build_release

UP=$(free_port)
start_upstream nginx "$UP"
URL="http://127.0.0.1:$UP/v1/chat/completions"
REQ='{"model":"bench","messages":[{"role":"user","content":"hello"}]}'
echo "$REQ" > "$WORK/body.json"
cat > "$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$REQ'
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format("WRK %.1f %.3f %.3f\n", summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency.mean / 1000))
end
LUA

WORKER=$(pgrep -P "$(cat "$WORK/nginx.pid")" | head -1)
if [ -n "$PIN" ]; then
  taskset -p -c 0 "$WORKER" >/dev/null
  GEN=(taskset -c 1)
fi
# nginx worker CPU so far, in clock ticks (utime + stime)
ticks() { awk '{print $14 + $15}' "/proc/$WORKER/stat"; }
HZ=$(getconf CLK_TCK)
printf '%-6s %10s %8s %8s %10s %8s %8s %7s %7s %9s %8s %8s %8s %8s\n' conns wrk_req/s wrk_p50 wrk_mean tok_req/s tok_p50 tok_mean rps_t/w p50_t/w c/rps_wrk wrk_us tok_us ngx_w_us ngx_t_us
echo "(latencies in ms; c/rps_wrk is the mean latency Little's law implies from wrk's own throughput;"
echo " *_us: CPU microseconds per request of wrk, of tokctl loadtest, and of nginx under each; $THREADS load threads)"
for c in $CONNS; do
  N0=$(ticks)
  W=$(/usr/bin/time -f "CPU %U %S" -o "$WORK/wrk.time" "${GEN[@]}" wrk -t"$THREADS" -c"$c" -d"${DUR}s" -s "$WORK/post.lua" "$URL" | grep '^WRK')
  N1=$(ticks)
  read -r _ WRPS WP50 WMEAN <<<"$W"
  read -r _ WU WS <"$WORK/wrk.time"
  T=$(/usr/bin/time -f "CPU %U %S" -o "$WORK/tok.time" "${GEN[@]}" "$BIN" loadtest "$URL" -c "$c" -d "${DUR}s" --threads "$THREADS" \
      --body-file "$WORK/body.json" --json \
      | python3 -c 'import json,sys; r=json.load(sys.stdin)["runs"][0]; print(r["requests_per_s"], r["latency_ms"]["p50"], r["latency_ms"]["mean"], r["failures"], r["requests"])')
  N2=$(ticks)
  read -r TRPS TP50 TMEAN TFAIL TREQ <<<"$T"
  read -r _ TU TS <"$WORK/tok.time"
  python3 - "$c" "$WRPS" "$WP50" "$WMEAN" "$TRPS" "$TP50" "$TMEAN" "$TFAIL" "$DUR" "$WU" "$WS" "$TU" "$TS" "$TREQ" \
      "$((N1 - N0))" "$((N2 - N1))" "$HZ" <<'PY'
import sys
c = sys.argv[1]
wr, wp, wm, tr, tp, tm, tf, dur, wu, ws, tu, ts, treq, nw, nt, hz = map(float, sys.argv[2:])
little = int(c) / wr * 1000  # Little's law: mean latency = connections / throughput
wreq = wr * dur
us = lambda cpu, n: cpu / n * 1e6
print(f"{c:<6} {wr:10.1f} {wp:8.3f} {wm:8.3f} {tr:10.1f} {tp:8.3f} {tm:8.3f} {tr/wr:7.3f} {tp/wp:7.3f} {little:9.3f}"
      f" {us(wu + ws, wreq):8.2f} {us(tu + ts, treq):8.2f} {us(nw / hz, wreq):8.2f} {us(nt / hz, treq):8.2f}"
      + (f"  ({int(tf)} tokctl failures)" if tf else ""))
PY
done
