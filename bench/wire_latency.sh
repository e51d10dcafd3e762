#!/usr/bin/env bash
# Which open-loop p50 is right, tokctl's or oha's? (issue 36)
#
# tokctl loadtest --rate R and oha -q R --latency-correction report open-loop
# latencies from each request's intended start; at 2,000 req/s and above
# tokctl's p50 is about half of oha's. This script asks a third party: the
# packets. For each tool it captures the loopback traffic to one nginx worker
# with tcpdump (microsecond timestamps) while the tool runs, and takes every
# request's wire time: from the first byte of the request on the wire to the
# last byte of its answer (requests on one keep-alive connection follow each
# other, so they pair up in order). The wire time is what any client's clock
# must include; what a tool reports beyond it (after subtracting its own
# lag behind schedule, for tokctl `behind_ms`) is time spent inside the
# tool's own client.
#
# Usage: bench/wire_latency.sh [seconds=3] ["rates"="2000 5000"] [conns=50] [runs=3]
# Needs: nginx, tcpdump, oha (OHA=path, default on PATH), root (tcpdump on
# lo). TOKCTL_BENCH_BIN=path uses a built tokctl instead of building one.
# Prints per run and rate: each tool's p50 and the p50 of its wire times (ms),
# and tokctl's service time (from the actual send) and lag.
set -euo pipefail
DUR=${1:-3}
RATES=${2:-"2000 5000"}
CONNS=${3:-50}
RUNS=${4:-3}
OHA=${OHA:-oha}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/tokctl-wire.XXXXXX)
chmod 755 "$WORK"
DUMP=""
cleanup() {
  [ -n "$DUMP" ] && kill "$DUMP" 2>/dev/null || true
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
echo '{"model":"bench","messages":[{"role":"user","content":"hello"}]}' > "$WORK/body.json"

# capture NAME CMD...: runs CMD with tcpdump capturing port $UP into NAME.pcap.
capture() {
  local name=$1; shift
  tcpdump -i lo -nn -s 128 --time-stamp-precision=micro -w "$WORK/$name.pcap" "tcp port $UP" 2>/dev/null &
  DUMP=$!
  sleep 0.5
  "$@" > "$WORK/$name.json" 2>/dev/null
  sleep 0.2
  kill -INT "$DUMP"; wait "$DUMP" 2>/dev/null || true
  DUMP=""
}

# wire NAME: the p50 and p99 (ms) of the wire times in NAME.pcap.
wire() {
  tcpdump -r "$WORK/$1.pcap" -nn -tt -q --time-stamp-precision=micro 2>/dev/null | python3 -c '
import sys, statistics
up = sys.argv[1]
conns = {}   # client port -> [request start, last answer byte, state]
times = []
for line in sys.stdin:
    f = line.split()
    if len(f) < 7 or f[-2] != "tcp" or f[-1] == "0":
        continue
    t = float(f[0])
    src, dst = f[2], f[4].rstrip(":")
    if dst.endswith("." + up):
        c = conns.setdefault(src, [None, None])
        if c[0] is not None and c[1] is not None:
            times.append(c[1] - c[0])
            c[0] = c[1] = None
        if c[0] is None:
            c[0] = t
    elif src.endswith("." + up):
        c = conns.get(dst)
        if c and c[0] is not None:
            c[1] = t
for c in conns.values():
    if c[0] is not None and c[1] is not None:
        times.append(c[1] - c[0])
times.sort()
q = lambda p: times[min(len(times) - 1, int(p * len(times)))] * 1000
print(f"{q(0.5):.3f} {q(0.99):.3f} {len(times)}")' "$UP"
}

echo "conditions: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $CONNS connections, ${DUR}s; latencies in ms (p50)"
for run in $(seq 1 "$RUNS"); do
  for r in $RATES; do
    capture tok "$BIN" loadtest "$URL" -c "$CONNS" -d "${DUR}s" --rate "$r" --body-file "$WORK/body.json" --json
    capture oha "$OHA" "$URL" -c "$CONNS" -z "${DUR}s" -q "$r" --latency-correction -m POST \
      -H 'Content-Type: application/json' -D "$WORK/body.json" --no-tui --output-format json
    read -r TW50 _ TN <<<"$(wire tok)"
    read -r OW50 _ ON <<<"$(wire oha)"
    python3 - "$run" "$r" "$WORK/tok.json" "$WORK/oha.json" "$TW50" "$TN" "$OW50" "$ON" <<'PY'
import json, sys
run, rate, tj, oj = sys.argv[1:5]
tw50, tn, ow50, on = float(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8])
r = json.load(open(tj))["runs"][0]
ol = r["open_loop"]
o = json.load(open(oj))
op50 = o["latencyPercentiles"]["p50"] * 1000
print(f"{run:<4} {rate:>6} | tokctl {r['latency_ms']['p50']:.3f} svc {ol['service_time_ms']['p50']:.3f}"
      f" lag {ol['behind_ms']['p50']:.3f} wire {tw50:.3f} ({tn} req) | oha {op50:.3f} wire {ow50:.3f} ({on} req)"
      f" | beyond the wire: tokctl svc {ol['service_time_ms']['p50'] - tw50:+.3f}, oha {op50 - ow50:+.3f}")
PY
  done
done
