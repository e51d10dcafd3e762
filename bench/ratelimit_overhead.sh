#!/usr/bin/env bash
# The gateway's throughput with rate limiting on (memory store, limits far
# above the offered load) against off, in one run: alternating rows, same
# upstream (nginx returning a fixed completion), load from tokctl loadtest.
# Usage: bash bench/ratelimit_overhead.sh [seconds=6] [rounds=3] [conns=50]
set -euo pipefail
DUR=${1:-6}; ROUNDS=${2:-3}; CONNS=${3:-50}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/tokctl-rl.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done
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
start() { # NAME ENABLED -> sets PORT KEY (no subshell: the EXIT trap must stay in the parent)
  start_tokctl_in "$BIN" "$WORK/$1" "$WORK/$1/ledger.db" interval "[rate_limit]
enabled = $2
user_rps = 1000000.0
user_burst = 1000000
apikey_rps = 1000000.0
apikey_burst = 1000000"
  PIDS+=("$TPID")
  PORT=$TPORT
}
start off false; OFF_PORT=$PORT; OFF_KEY=$KEY
start on true; ON_PORT=$PORT; ON_KEY=$KEY
rps() { "$BIN" loadtest "http://127.0.0.1:$1/v1/chat/completions" -c "$CONNS" -d "${DUR}s" --model bench --api-key "$2" --json -q \
  | python3 -c 'import json,sys; r=json.load(sys.stdin)["runs"][0]; print(r["requests_per_s"], r["status_codes"].get("200",0), r["requests"])'; }
echo "round  off_req/s  on_req/s  on/off"
for i in $(seq "$ROUNDS"); do
  read -r off off200 offn <<<"$(rps "$OFF_PORT" "$OFF_KEY")"
  read -r on on200 onn <<<"$(rps "$ON_PORT" "$ON_KEY")"
  [ "$on200" = "$onn" ] || echo "warning: $((onn - on200)) non-200 answers with limits on"
  python3 -c "print(f'{$i:5d}  {$off:9.0f}  {$on:8.0f}  {$on/$off:.3f}')"
done
