#!/usr/bin/env bash
# Translation end to end: what a translated request costs the gateway
# process against a pass-through one, same upstream, alternating runs.
#
#   pass-through  a Chat Completions client -> tokctl -> OpenAI-compatible upstream
#   translated    a CLIENT client           -> tokctl (CLIENT -> Chat and back) -> the same upstream
#
# CLIENT=messages (default; #31's targets: <= 1.25x, <= 2 us per stream
# chunk) or CLIENT=responses (the Responses API, #32's target: <= 1.3x).
#
# The upstream is nginx answering a fixed ~2 KB chat completion (plain), or
# a fixed SSE stream of STREAM_CHUNKS content chunks plus the usage chunk
# (streamed); requests are ~1 KB. Each round runs pass-through, translated,
# and pass-through again (the A/A pair, which measures the noise), DUR
# seconds each with wrk at CONNS connections, and records the gateway's CPU
# per request (/proc utime+stime) and wrk's p50. The summary gives medians
# over ROUNDS rounds, the translated/pass-through ratio,
# the A/A spread, the extra CPU per stream chunk (target <= 2 us) and the
# p50 latency gap of a stream (target <= 0.2 ms; the upstream sends the whole
# stream at once, so the gap of the whole answer bounds the first token's).
# Usage: bash bench/translate_gateway.sh [DUR=5] [ROUNDS=5] [CONNS=8]
# TOKCTL_BENCH_BIN=path benchmarks another binary. Needs nginx-light, wrk.
set -euo pipefail
CLIENT=${CLIENT:-messages}
case $CLIENT in
  messages) CLIENT_PATH=/v1/messages ;;
  responses) CLIENT_PATH=/v1/responses ;;
  *) echo "translate_gateway: CLIENT must be messages or responses, not $CLIENT" >&2; exit 2 ;;
esac
DUR=${1:-5}
ROUNDS=${2:-5}
CONNS=${3:-8}
STREAM_CHUNKS=${STREAM_CHUNKS:-20}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/tokctl-translate.XXXXXX)
chmod 755 "$WORK"
cleanup() {
  [ -n "${TPID:-}" ] && kill "$TPID" 2>/dev/null || true
  [ -f "$WORK/up.pid" ] && kill "$(cat "$WORK/up.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
cd "$ROOT"
build_release
HZ=$(getconf CLK_TCK)
cpu_ticks() { set -- $(cut -d' ' -f14,15 "/proc/$1/stat"); echo $(($1 + $2)); }

# ~2 KB of answer text, ~1 KB of question.
ANSWER=$(python3 -c 'print(("tokens flow through the gateway and every one is counted. " * 34)[:1900])')
QUESTION=$(python3 -c 'print(("please summarise the ledger rows of yesterday by model. " * 17)[:900])')
COMPLETION="{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"bench\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"$ANSWER\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":250,\"completion_tokens\":400,\"total_tokens\":650}}"
STREAM=$(python3 - "$STREAM_CHUNKS" <<'PY'
import json, sys
n = int(sys.argv[1])
# Short ids and words: nginx takes at most 4 KB in one `return` string.
head = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "bench"}
out = [dict(head, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
for i in range(n):
    out.append(dict(head, choices=[{"index": 0, "delta": {"content": f" word{i:03d}"}, "finish_reason": None}]))
out.append(dict(head, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]))
out.append(dict(head, choices=[], usage={"prompt_tokens": 250, "completion_tokens": n, "total_tokens": 250 + n}))
print("".join(f"data: {json.dumps(c, separators=(',', ':'))}\n\n" for c in out) + "data: [DONE]\n\n", end="")
PY
)
UP=$(free_port); UPS=$(free_port)
cat > "$WORK/up.conf" <<NGINX
worker_processes 1;
pid $WORK/up.pid;
error_log $WORK/up-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  server { listen 127.0.0.1:$UP; location / { default_type application/json; return 200 '$COMPLETION'; } }
  server { listen 127.0.0.1:$UPS; location / { default_type text/event-stream; return 200 '$STREAM'; } }
}
NGINX
nginx -c "$WORK/up.conf" -e "$WORK/up-error.log"
sleep 0.5

start_tokctl_in "$BIN" "$WORK/gw" "$WORK/ledger.db" interval "[providers.ups]
kind = \"openai\"
base_url = \"http://127.0.0.1:$UPS/v1\"
[[models]]
name = \"bench-stream\"
provider = \"ups\"
free = true"
export KEY

# wrk scripts: one body each.
lua() { # NAME PATH MODEL STREAM(true|false) API(chat|messages|responses)
  local body
  if [ "$5" = chat ]; then
    body="{\"model\":\"$3\",\"stream\":$4,\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\",\"content\":\"$QUESTION\"}]}"
  elif [ "$5" = responses ]; then
    body="{\"model\":\"$3\",\"stream\":$4,\"instructions\":\"be brief\",\"input\":[{\"role\":\"user\",\"content\":\"$QUESTION\"}]}"
  else
    body="{\"model\":\"$3\",\"stream\":$4,\"max_tokens\":1024,\"system\":\"be brief\",\"messages\":[{\"role\":\"user\",\"content\":\"$QUESTION\"}]}"
  fi
  cat > "$WORK/$1.lua" <<LUA
wrk.method = "POST"
wrk.path = "$2"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %.0f\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout,
    latency:percentile(50)))
end
LUA
}
lua chat /v1/chat/completions bench false chat
lua client "$CLIENT_PATH" bench false "$CLIENT"
lua chat-stream /v1/chat/completions bench-stream true chat
lua client-stream "$CLIENT_PATH" bench-stream true "$CLIENT"

# run NAME -> "cpu_us_per_request p50_us"
run() {
  local before after out reqs errs p50
  before=$(cpu_ticks "$TPID")
  out=$(wrk -t2 -c"$CONNS" -d"${DUR}s" --latency -s "$WORK/$1.lua" "http://127.0.0.1:$TPORT" | grep '^RESULT')
  after=$(cpu_ticks "$TPID")
  read -r _ reqs errs p50 <<<"$out"
  if [ "$errs" != 0 ]; then echo "translate_gateway: $1 had $errs errors of $reqs" >&2; exit 1; fi
  python3 -c "print(f'{($after-$before)*1e6/$HZ/max($reqs,1):.2f} $p50')"
}

# Warm up both paths once.
for n in chat client chat-stream client-stream; do DUR=1 run "$n" >/dev/null; done
: > "$WORK/rows"
for r in $(seq "$ROUNDS"); do
  for n in chat client chat chat-stream client-stream chat-stream; do
    echo "$r $n $(run "$n")" | tee -a "$WORK/rows"
  done
done

python3 - "$WORK/rows" "$STREAM_CHUNKS" <<'PY'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]
chunks = int(sys.argv[2])
by = {}
for r, name, cpu, p50 in rows:
    by.setdefault((int(r), name), []).append((float(cpu), float(p50)))
rounds = sorted({k[0] for k in by})
def med(xs): return st.median(xs)
for a, b, label in [("chat", "client", "plain"), ("chat-stream", "client-stream", "stream")]:
    pa = [by[(r, a)][0][0] for r in rounds]; pa2 = [by[(r, a)][1][0] for r in rounds]
    tb = [by[(r, b)][0][0] for r in rounds]
    la = [by[(r, a)][0][1] for r in rounds]; lb = [by[(r, b)][0][1] for r in rounds]
    ratio = med([t / p for t, p in zip(tb, pa)])
    aa = med([abs(x - y) / y for x, y in zip(pa2, pa)])
    print(f"{label}: cpu/req pass-through {med(pa):.1f} us, translated {med(tb):.1f} us: "
          f"{ratio:.3f}x (A/A spread {aa*100:.1f} %); p50 {med(la):.0f} vs {med(lb):.0f} us")
    if label == "stream":
        per_chunk = (med(tb) - med(pa)) / (chunks + 3)
        print(f"stream: {per_chunk:.2f} us of CPU per chunk over pass-through ({chunks + 3} chunks); "
              f"p50 gap {(med(lb) - med(la)) / 1000:.3f} ms (bounds the first token's)")
PY
