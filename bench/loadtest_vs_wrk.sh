#!/usr/bin/env bash
# tokctl loadtest vs wrk against the same trivial upstream, in one run.
#   upstream: nginx (1 worker) answering POST with a fixed OpenAI completion
#   for each connection count: wrk -t2 -cN and tokctl loadtest -cN, same body,
#   same duration; prints req/s and p50 of both and tokctl/wrk ratios.
# Target (issue 5): tokctl >= 90% of wrk's req/s, p50 within 10%.
# Usage: bench/loadtest_vs_wrk.sh [seconds=5] ["conns"="10 50"]
# Needs: nginx, wrk. Builds tokctl with --release (TOKCTL_BENCH_NO_BUILD=1 skips it).
set -euo pipefail
DUR=${1:-5}
CONNS=${2:-"10 50"}
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

printf '%-6s %10s %8s %8s %10s %8s %8s %7s %7s %9s\n' conns wrk_req/s wrk_p50 wrk_mean tok_req/s tok_p50 tok_mean rps_t/w p50_t/w c/rps_wrk
echo '(latencies in ms; c/rps_wrk is the mean latency Little'"'"'s law implies from wrk'"'"'s own throughput)'
for c in $CONNS; do
  W=$(wrk -t2 -c"$c" -d"${DUR}s" -s "$WORK/post.lua" "$URL" | grep '^WRK')
  read -r _ WRPS WP50 WMEAN <<<"$W"
  T=$("$BIN" loadtest "$URL" -c "$c" -d "${DUR}s" --body-file "$WORK/body.json" --json \
      | python3 -c 'import json,sys; r=json.load(sys.stdin)["runs"][0]; print(r["requests_per_s"], r["latency_ms"]["p50"], r["latency_ms"]["mean"], r["failures"])')
  read -r TRPS TP50 TMEAN TFAIL <<<"$T"
  python3 - "$c" "$WRPS" "$WP50" "$WMEAN" "$TRPS" "$TP50" "$TMEAN" "$TFAIL" <<'PY'
import sys
c = sys.argv[1]
wr, wp, wm, tr, tp, tm, tf = map(float, sys.argv[2:])
little = int(c) / wr * 1000  # Little's law: mean latency = connections / throughput
print(f"{c:<6} {wr:10.1f} {wp:8.3f} {wm:8.3f} {tr:10.1f} {tp:8.3f} {tm:8.3f} {tr/wr:7.3f} {tp/wp:7.3f} {little:9.3f}"
      + (f"  ({int(tf)} tokctl failures)" if tf else ""))
PY
done
