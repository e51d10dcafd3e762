#!/usr/bin/env bash
# Rate-limit check cost: memory store at 1M keys, and Redis round trips
# against a throwaway redis-server on a free port (stopped at exit).
set -euo pipefail
cd "$(dirname "$0")/.."
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep 0.3
TOKCTL_BENCH_REDIS="127.0.0.1:$port" cargo bench --bench ratelimit
