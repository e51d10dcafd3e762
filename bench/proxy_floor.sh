#!/usr/bin/env bash
# The gateway against the floor of its own stack, in one run: an nginx
# upstream (bench/lib.sh) reached directly, through the thinnest axum
# pass-through with reqwest and with hyper-util's client
# (bench/thin_proxy.rs), and through `tokctl serve` (auth on, ledger on
# SQLite, spool as shipped). The rows alternate ROUNDS times; each prints
# requests/s, p50, p99 and the proxy's CPU time per request (/proc).
# Usage: bash bench/proxy_floor.sh [duration_seconds=8] [connections=50]
# Knobs: ROUNDS (default 3); TOKCTL_BENCH_BEFORE=path/to/old/tokctl adds a
# row for that binary (same config) to compare before and after a change;
# LOCAL=1 adds the thin pass-through on one single-threaded runtime per
# core (SO_REUSEPORT listeners); SPOOL_MODE=off turns the spool off (or never, always: the fsync mode).
set -euo pipefail
DUR=${1:-8}
CONNS=${2:-50}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/tokctl-floor.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/upstream.pid" ] && kill "$(cat "$WORK/upstream.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
HZ=$(getconf CLK_TCK)
ticks() { set -- $(cut -d' ' -f14,15 "/proc/$1/stat"); echo $(( $1 + $2 )); }

cd "$ROOT"
build_release
cargo build --release --quiet --bench thin_proxy
THIN=$(ls -t target/release/deps/thin_proxy-* | grep -v '\.d$' | head -1)

UP=$(free_port)
start_upstream upstream "$UP"
URL="http://127.0.0.1:$UP/v1/chat/completions"

row() { # NAME URL PID [KEY]
  local b a out
  b=$(ticks "$3")
  out=$("$BIN" loadtest "$2" -c "$CONNS" -d "${DUR}s" --model bench ${4:+--api-key "$4"} --json -q \
    | python3 -c 'import json,sys; r=json.load(sys.stdin)["runs"][0]; l=r["latency_ms"]
print(r["requests"], round(r["requests_per_s"]), round(l["p50"]*1000), round(l["p99"]*1000))')
  a=$(ticks "$3")
  read -r reqs rps p50 p99 <<<"$out"
  python3 -c "print(f'{\"$1\":14} {$rps:>9} {$p50:>8} {$p99:>8} {($a-$b)*1e6/$HZ/max($reqs,1):>10.1f}')"
}

"$THIN" --bench "127.0.0.1:$(free_port | tee "$WORK/p1")" "$URL" reqwest & PIDS+=($!); T1=$!
"$THIN" --bench "127.0.0.1:$(free_port | tee "$WORK/p2")" "$URL" hyper & PIDS+=($!); T2=$!
if [ -n "${LOCAL:-}" ]; then
  "$THIN" --bench "127.0.0.1:$(free_port | tee "$WORK/p3")" "$URL" hyper-local & PIDS+=($!); T3=$!
fi
start_tokctl_in "$BIN" "$WORK/after" "$WORK/after/ledger.db" "${SPOOL_MODE:-interval}"
APID=$TPID APORT=$TPORT AKEY=$KEY; PIDS+=("$APID")
if [ -n "${TOKCTL_BENCH_BEFORE:-}" ]; then
  start_tokctl_in "$TOKCTL_BENCH_BEFORE" "$WORK/before" "$WORK/before/ledger.db" "${SPOOL_MODE:-interval}"
  BPID=$TPID BPORT=$TPORT BKEY=$KEY; PIDS+=("$BPID")
fi
sleep 0.5
UPW=$(pgrep -P "$(cat "$WORK/upstream.pid")" | head -1)

printf "%-14s %9s %8s %8s %10s\n" row req/s p50_us p99_us cpu_us/req
for _ in $(seq "${ROUNDS:-3}"); do
  row direct "$URL" "$UPW"
  row thin-reqwest "http://127.0.0.1:$(cat "$WORK/p1")/v1/chat/completions" "$T1"
  row thin-hyper "http://127.0.0.1:$(cat "$WORK/p2")/v1/chat/completions" "$T2"
  [ -n "${LOCAL:-}" ] && row thin-local "http://127.0.0.1:$(cat "$WORK/p3")/v1/chat/completions" "$T3"
  [ -n "${TOKCTL_BENCH_BEFORE:-}" ] && row tokctl-before "http://127.0.0.1:$BPORT/v1/chat/completions" "$BPID" "$BKEY"
  row tokctl "http://127.0.0.1:$APORT/v1/chat/completions" "$APID" "$AKEY"
done
