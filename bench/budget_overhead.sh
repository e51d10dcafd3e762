#!/usr/bin/env bash
# Budgets and rate limits on against both off (#34): the gateway's
# throughput, memory store, limits and budgets far above the offered load,
# same upstream (nginx returning a fixed completion), load from tokctl
# loadtest. Each round runs off, on, then off again on a third gateway (the
# A/A pair, which measures the noise); the summary gives medians, on/off,
# the A/A spread, and whether the difference exceeds 3 % and that spread,
# for throughput and for the gateway's CPU per request (utime + stime of
# /proc/PID/stat over the run, divided by the requests completed).
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
start off false no; OFF_PORT=$PORT; OFF_KEY=$KEY; OFF_PID=$TPID
start on "${ON_LIMITS:-true}" "${ON_BUDGETS:-yes}"; ON_PORT=$PORT; ON_KEY=$KEY; ON_PID=$TPID
start off2 false no; OFF2_PORT=$PORT; OFF2_KEY=$KEY; OFF2_PID=$TPID
HZ=$(getconf CLK_TCK)
cpu_ticks() { set -- $(cut -d' ' -f14,15 "/proc/$1/stat"); echo $(($1 + $2)); }
# rps PORT KEY PID -> req/s, 200s, requests, gateway CPU µs per request
rps() {
  local t0 out
  t0=$(cpu_ticks "$3")
  out=$("$BIN" loadtest "http://127.0.0.1:$1/v1/chat/completions" -c "$CONNS" -d "${DUR}s" --model bench --api-key "$2" --json -q \
    | python3 -c 'import json,sys; r=json.load(sys.stdin)["runs"][0]; print(r["requests_per_s"], r["status_codes"].get("200",0), r["requests"])')
  set -- $out "$(( $(cpu_ticks "$3") - t0 ))"
  echo "$1 $2 $3 $(python3 -c "print($4 * 1e6 / $HZ / max($3, 1))")"
}
# The budgets apply: a request through `on` answers with the remaining budget.
curl -sf -D "$WORK/h" -o /dev/null -H "authorization: Bearer $ON_KEY" -H 'content-type: application/json' \
  -d '{"model":"bench","messages":[{"role":"user","content":"hi"}]}' "http://127.0.0.1:$ON_PORT/v1/chat/completions"
if [ "${ON_BUDGETS:-yes}" = yes ] && ! grep -qi '^x-tokctl-budget-remaining' "$WORK/h"; then
  echo "budget_overhead: the on gateway sends no budget header" >&2; exit 1
fi
echo "round  off_req/s  on_req/s  off2_req/s  off_cpu_us  on_cpu_us  off2_cpu_us"
: > "$WORK/rows"
for i in $(seq "$ROUNDS"); do
  read -r off off200 offn offc <<<"$(rps "$OFF_PORT" "$OFF_KEY" "$OFF_PID")"
  read -r on on200 onn onc <<<"$(rps "$ON_PORT" "$ON_KEY" "$ON_PID")"
  read -r off2 off2200 off2n off2c <<<"$(rps "$OFF2_PORT" "$OFF2_KEY" "$OFF2_PID")"
  [ "$on200" = "$onn" ] || echo "warning: $((onn - on200)) non-200 answers with budgets on"
  echo "$off $on $off2 $offc $onc $off2c" >> "$WORK/rows"
  python3 -c "print(f'{$i:5d}  {$off:9.0f}  {$on:8.0f}  {$off2:10.0f}  {$offc:10.1f}  {$onc:9.1f}  {$off2c:11.1f}')"
done
python3 - "$WORK/rows" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
off, on, off2, offc, onc, off2c = (statistics.median(c) for c in zip(*rows))
def judge(what, a, b, a2):
    aa = abs(a2 - a) / a
    gap = abs(1 - b / a)
    verdict = "beyond" if gap > max(0.03, aa) else "within"
    print(f"{what}: on/off {b / a:.3f}, A/A spread {aa * 100:.1f} %: {verdict} 3 % and the A/A spread")
print(f"median req/s: off {off:.0f}, on {on:.0f}, off2 {off2:.0f}")
print(f"median gateway CPU per request: off {offc:.1f} µs, on {onc:.1f} µs, off2 {off2c:.1f} µs")
judge("throughput", off, on, off2)
judge("CPU per request", offc, onc, off2c)
PY
