#!/usr/bin/env bash
# Routing end to end: the gateway's CPU per request for a model of three
# deployments against a model of one, in the same gateway process, same
# upstream, alternating runs (issue #33: "no difference beyond the A/A
# spread").
#
#   one    model `bench`  -> deployment `up`                  (A)
#   three  model `bench3` -> deployments up, up2, up3 (equal weights, STRATEGY)  (B)
#
# The upstream is one nginx worker answering a fixed chat completion on
# three ports (one per provider, so each deployment has its own connection
# pool, as in production). Each round runs one, three, one again (the A/A
# pair, which measures the noise), DUR seconds each with wrk at CONNS
# connections, and records the gateway's CPU per request (utime+stime of
# /proc/PID/stat over the run, divided by the requests wrk completed) and
# wrk's p50. The summary gives medians over ROUNDS rounds (at least 5 for a
# number worth reporting), the three/one ratio, the A/A spread, and whether
# the difference exceeds that spread.
#
# Usage: bash bench/routing_gateway.sh [DUR=5] [ROUNDS=5] [CONNS=8]
# STRATEGY=weighted|least_inflight|latency picks `bench3`'s strategy.
# REDIS_ADDR=host:port also shares cooldowns through that Redis (the sync
# task polls it every routing.cooldown_sync_ms; rate limiting stays off), so
# its cost shows in both models' CPU per request.
# TOKCTL_BENCH_BIN=path benchmarks another binary. Needs nginx-light, wrk.
set -euo pipefail
DUR=${1:-5}
ROUNDS=${2:-5}
CONNS=${3:-8}
STRATEGY=${STRATEGY:-weighted}
case $STRATEGY in
  weighted | least_inflight | latency) ;;
  *) echo "routing_gateway: STRATEGY must be weighted, least_inflight or latency, not $STRATEGY" >&2; exit 2 ;;
esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/tokctl-routing.XXXXXX)
chmod 755 "$WORK"
cleanup() {
  [ -n "${TPID:-}" ] && kill "$TPID" 2>/dev/null || true
  [ -f "$WORK/up.pid" ] && kill "$(cat "$WORK/up.pid")" 2>/dev/null || true
  # The gateway flushes its ledger as it exits: wait for it before removing its files.
  [ -n "${TPID:-}" ] && wait "$TPID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
cd "$ROOT"
build_release
HZ=$(getconf CLK_TCK)
cpu_ticks() { set -- $(cut -d' ' -f14,15 "/proc/$1/stat"); echo $(($1 + $2)); }

UP=$(free_port); UP2=$(free_port); UP3=$(free_port)
cat > "$WORK/up.conf" <<NGINX
worker_processes 1;
pid $WORK/up.pid;
error_log $WORK/up-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  server {
    listen 127.0.0.1:$UP; listen 127.0.0.1:$UP2; listen 127.0.0.1:$UP3;
    location / { default_type application/json; return 200 '$BENCH_COMPLETION'; }
  }
}
NGINX
nginx -c "$WORK/up.conf" -e "$WORK/up-error.log"
sleep 0.5

EXTRA="[providers.up2]
kind = \"openai\"
base_url = \"http://127.0.0.1:$UP2/v1\"
[providers.up3]
kind = \"openai\"
base_url = \"http://127.0.0.1:$UP3/v1\"
[[models]]
name = \"bench3\"
input_per_mtok = 1.0
output_per_mtok = 2.0
strategy = \"$STRATEGY\"
[[models.deployments]]
provider = \"up\"
[[models.deployments]]
provider = \"up2\"
[[models.deployments]]
provider = \"up3\""
if [ -n "${REDIS_ADDR:-}" ]; then
  EXTRA="[rate_limit]
redis_addr = \"$REDIS_ADDR\"
$EXTRA"
fi
start_tokctl_in "$BIN" "$WORK/gw" "$WORK/ledger.db" interval "$EXTRA"
export KEY

# wrk scripts, one per model; the same ~200-byte body otherwise.
for model in bench bench3; do
  cat > "$WORK/$model.lua" <<LUA
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.body = '{"model":"$model","messages":[{"role":"user","content":"route this request to a deployment and count it in the ledger"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %.0f\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout,
    latency:percentile(50)))
end
LUA
done

# run MODEL -> "cpu_us_per_request p50_us"
run() {
  local before after out reqs errs p50
  before=$(cpu_ticks "$TPID")
  out=$(wrk -t2 -c"$CONNS" -d"${DUR}s" --latency -s "$WORK/$1.lua" "http://127.0.0.1:$TPORT" | grep '^RESULT')
  after=$(cpu_ticks "$TPID")
  read -r _ reqs errs p50 <<<"$out"
  if [ "$errs" != 0 ]; then echo "routing_gateway: $1 had $errs errors of $reqs" >&2; exit 1; fi
  python3 -c "print(f'{($after-$before)*1e6/$HZ/max($reqs,1):.2f} $p50')"
}

# Warm up both models (connection pools, the latency estimates).
for m in bench bench3; do DUR=1 run "$m" >/dev/null; done
: > "$WORK/rows"
for r in $(seq "$ROUNDS"); do
  for m in bench bench3 bench; do
    echo "$r $m $(run "$m")" | tee -a "$WORK/rows"
  done
done

python3 - "$WORK/rows" "$STRATEGY" <<'PY'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]
by = {}
for r, name, cpu, p50 in rows:
    by.setdefault((int(r), name), []).append((float(cpu), float(p50)))
rounds = sorted({k[0] for k in by})
med = st.median
one = [by[(r, "bench")][0][0] for r in rounds]
one2 = [by[(r, "bench")][1][0] for r in rounds]
three = [by[(r, "bench3")][0][0] for r in rounds]
l1 = [by[(r, "bench")][0][1] for r in rounds]
l3 = [by[(r, "bench3")][0][1] for r in rounds]
ratio = med([t / o for t, o in zip(three, one)])
aa = med([abs(x - y) / y for x, y in zip(one2, one)])
print(f"cpu/req: one deployment {med(one):.1f} us, three ({sys.argv[2]}) {med(three):.1f} us: "
      f"{ratio:.3f}x (A/A spread {aa*100:.1f} %); p50 {med(l1):.0f} vs {med(l3):.0f} us; {len(rounds)} rounds")
within = abs(ratio - 1) <= aa
print("three deployments: " + ("no difference beyond the A/A spread" if within
      else f"{(ratio - 1)*100:+.1f} % beyond the A/A spread of {aa*100:.1f} %"))
PY
