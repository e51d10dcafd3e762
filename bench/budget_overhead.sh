#!/usr/bin/env bash
# Budgets and rate limits on against both off (#34): the gateway's
# throughput, memory store, limits and budgets far above the offered load,
# same upstream (nginx returning a fixed completion), load from tokctl
# loadtest. Each round runs off, on, then off again on a third gateway (the
# A/A pair, which measures the noise); the summary gives medians, on/off,
# the A/A spread, and whether the difference exceeds 3 % and that spread.
#
#   off   rate_limit.enabled = false, no budget
#   on    rate_limit.enabled = true (user and key rps, tokens per minute),
#         budgets on the key, its user and the user's team (monthly)
#
# Usage: bash bench/budget_overhead.sh [seconds=6] [rounds=5] [conns=50]
# TOKCTL_BENCH_BIN=path benchmarks another binary. ON_LIMITS=false leaves
# the rate limits off in `on`, ON_BUDGETS=no its budgets (to tell their
# costs apart). Needs nginx-light.
set -euo pipefail
DUR=${1:-6}; ROUNDS=${2:-5}; CONNS=${3:-50}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/tokctl-budget.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  for p in "${PIDS[@]:-}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
cd "$ROOT"
build_release
UP=$(free_port)
start_upstream nginx "$UP"
LIMITS="user_rps = 1000000.0
user_burst = 1000000
apikey_rps = 1000000.0
apikey_burst = 1000000
apikey_tokens_per_minute = 100000000000"
start() { # NAME ENABLED BUDGETS -> sets PORT KEY (no subshell: the EXIT trap must stay in the parent)
  start_tokctl_in "$BIN" "$WORK/$1" "$WORK/$1/ledger.db" interval "[rate_limit]
enabled = $2
$LIMITS"
  PIDS+=("$TPID")
  PORT=$TPORT
  if [ "$3" = yes ]; then
    local t=("$BIN" --config "$WORK/$1/tokctl.toml")
    "${t[@]}" teams create benchers --budget 1000000 --budget-window monthly >/dev/null
    "${t[@]}" users update bench --team benchers --budget 1000000 --budget-window monthly >/dev/null
    "${t[@]}" keys update "${KEY:0:12}" --budget 1000000 --budget-window monthly >/dev/null
  fi
}
start off false no; OFF_PORT=$PORT; OFF_KEY=$KEY
start on "${ON_LIMITS:-true}" "${ON_BUDGETS:-yes}"; ON_PORT=$PORT; ON_KEY=$KEY
start off2 false no; OFF2_PORT=$PORT; OFF2_KEY=$KEY
rps() { "$BIN" loadtest "http://127.0.0.1:$1/v1/chat/completions" -c "$CONNS" -d "${DUR}s" --model bench --api-key "$2" --json -q \
  | python3 -c 'import json,sys; r=json.load(sys.stdin)["runs"][0]; print(r["requests_per_s"], r["status_codes"].get("200",0), r["requests"])'; }
# The budgets apply: a request through `on` answers with the remaining budget.
curl -sf -D "$WORK/h" -o /dev/null -H "authorization: Bearer $ON_KEY" -H 'content-type: application/json' \
  -d '{"model":"bench","messages":[{"role":"user","content":"hi"}]}' "http://127.0.0.1:$ON_PORT/v1/chat/completions"
if [ "${ON_BUDGETS:-yes}" = yes ] && ! grep -qi '^x-tokctl-budget-remaining' "$WORK/h"; then
  echo "budget_overhead: the on gateway sends no budget header" >&2; exit 1
fi
echo "round  off_req/s  on_req/s  off2_req/s"
: > "$WORK/rows"
for i in $(seq "$ROUNDS"); do
  read -r off off200 offn <<<"$(rps "$OFF_PORT" "$OFF_KEY")"
  read -r on on200 onn <<<"$(rps "$ON_PORT" "$ON_KEY")"
  read -r off2 off2200 off2n <<<"$(rps "$OFF2_PORT" "$OFF2_KEY")"
  [ "$on200" = "$onn" ] || echo "warning: $((onn - on200)) non-200 answers with budgets on"
  echo "$off $on $off2" >> "$WORK/rows"
  python3 -c "print(f'{$i:5d}  {$off:9.0f}  {$on:8.0f}  {$off2:10.0f}')"
done
python3 - "$WORK/rows" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
off, on, off2 = (statistics.median(c) for c in zip(*rows))
aa = abs(off2 - off) / off
ratio = on / off
print(f"median req/s: off {off:.0f}, on {on:.0f}, off2 {off2:.0f}")
print(f"on/off {ratio:.3f}; A/A spread {aa*100:.1f} %")
gap = abs(1 - ratio)
print("difference beyond 3 % and the A/A spread" if gap > max(0.03, aa) else "no difference beyond 3 % or the A/A spread")
PY
