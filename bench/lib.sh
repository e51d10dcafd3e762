# Shared by the bench/*.sh scripts (sourced, not run): a free port, the
# release binary, and the trivial upstream every gateway benchmark uses.

# A port that was free a moment ago on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Throwaway PostgreSQL for the benchmarks that need one.
# start_postgres DIR [SERVER_OPTION...]: initdb into DIR/data (DIR is made
# and given to the postgres user, since the server refuses to run as root),
# then starts it on a free port of 127.0.0.1 with its socket in DIR and its
# log in DIR/server.log; sets PGPORT. TOKCTL_BENCH_INITDB_ARGS adds initdb
# arguments (e.g. "--locale=C"). Needs root for runuser.
# stop_postgres DIR [MODE]: stops it (fast by default); harmless when it
# never started.
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
start_postgres() {
  local dir=$1; shift
  PGPORT=$(free_port)
  mkdir -p "$dir" && chown postgres "$dir"
  # shellcheck disable=SC2086 # the extra initdb arguments are words
  runuser -u postgres -- "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres ${TOKCTL_BENCH_INITDB_ARGS:-} >/dev/null
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $PGPORT -k $dir -c listen_addresses=127.0.0.1 $*" start >/dev/null
}
stop_postgres() {
  [ -d "$1/data" ] || return 0
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$1/data" -m "${2:-fast}" stop >/dev/null 2>&1 || true
}

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

# start_tokctl_in BIN DIR DSN [SPOOL_MODE [TOML]]: `tokctl serve` on a free port in
# front of the upstream on $UP, auth on, the ledger and identity at DSN, its
# own files under DIR (config, log, spool, chain files, dead letters).
# SPOOL_MODE: off, never, interval (as shipped, the default), always, or
# legacy (neither [ledger.spool] nor [ledger.chain], for a binary from before
# them). TOML is added to the config as it is (e.g. a [rate_limit] table).
# WORKERS sets the ledger's workers (default 1), BATCH its batch_size (default
# 1000) and FLUSH_MS its flush_ms (default 200); PIN_WORKERS=true sets
# server.pin_workers. Sets TPID, TPORT and KEY (a key of user `bench`).
start_tokctl_in() {
  local bin=$1 dir=$2 dsn=$3 mode=${4:-interval} enabled=true fsync extra
  fsync=$mode
  if [ "$mode" = off ]; then enabled=false; fsync=interval; fi
  extra="[ledger.spool]
enabled = $enabled
fsync = \"$fsync\"
dir = \"$dir/spool\"
[ledger.chain]
instance_id_path = \"$dir/instance-id\"
head_file = \"$dir/chain-head.json\""
  [ "$mode" = legacy ] && extra=""
  mkdir -p "$dir"
  TPORT=$(free_port)
  cat > "$dir/tokctl.toml" <<TOML
[server]
listen = "127.0.0.1:$TPORT"
pin_workers = ${PIN_WORKERS:-false}
[ledger]
path = "$dsn"
dead_letter_path = "$dir/dead.jsonl"
[ledger.async]
batch_size = ${BATCH:-1000}
flush_ms = ${FLUSH_MS:-200}
buffer_size = 100000
num_workers = ${WORKERS:-1}
$extra
[identity]
path = "$dsn"
[log]
level = "warn"
${5:-}
[providers.up]
kind = "openai"
base_url = "http://127.0.0.1:$UP/v1"
[[models]]
name = "bench"
provider = "up"
input_per_mtok = 1.0
output_per_mtok = 2.0
TOML
  "$bin" --config "$dir/tokctl.toml" migrate >/dev/null 2>&1
  "$bin" --config "$dir/tokctl.toml" users create bench >/dev/null 2>&1 || true
  KEY=$("$bin" --config "$dir/tokctl.toml" keys create --user bench 2>/dev/null)
  "$bin" --config "$dir/tokctl.toml" serve >/dev/null 2>"$dir/tokctl.log" &
  TPID=$!
  for _ in $(seq 50); do grep -q "listening on" "$dir/tokctl.log" && break; sleep 0.1; done
}
