# Shared by the bench/*.sh scripts (sourced, not run): a free port, the
# release binary, and the trivial upstream every gateway benchmark uses.

# A port that was free a moment ago on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Builds the release binary (skipped with TOKCTL_BENCH_NO_BUILD=1) and sets BIN;
# TOKCTL_BENCH_BIN=PATH benchmarks another binary instead (e.g. an older build).
build_release() {
  if [ -n "${TOKCTL_BENCH_BIN:-}" ]; then BIN=$TOKCTL_BENCH_BIN; return; fi
  [ -n "${TOKCTL_BENCH_NO_BUILD:-}" ] || cargo build --release --quiet
  BIN="$ROOT/target/release/tokctl"
}

# A fixed OpenAI completion with usage, as the upstream's answer.
BENCH_COMPLETION='{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":24,"total_tokens":36}}'

# start_upstream NAME PORT: one nginx worker answering every request on
# 127.0.0.1:PORT with BENCH_COMPLETION; its pid file is $WORK/NAME.pid.
start_upstream() {
  local name=$1 port=$2
  cat > "$WORK/$name.conf" <<NGINX
worker_processes 1;
pid $WORK/$name.pid;
error_log $WORK/$name-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  server { listen 127.0.0.1:$port; location / { default_type application/json; return 200 '$BENCH_COMPLETION'; } }
}
NGINX
  nginx -c "$WORK/$name.conf" -e "$WORK/$name-error.log"
  sleep 0.5
}
