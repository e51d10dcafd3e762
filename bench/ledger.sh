#!/usr/bin/env bash
# Runs the ledger writer benchmark on SQLite and on a throwaway PostgreSQL
# cluster (temp dir, free port, stopped at exit). Needs root for runuser.
# The knobs are environment variables (see bench/ledger_writer.rs), e.g.
#   TOKCTL_BENCH_N=500000 bench/ledger.sh
# Arguments, when given, are run instead of `cargo bench` (with
# TOKCTL_BENCH_PG set), e.g. a bench executable already built.
set -euo pipefail
cd "$(dirname "$0")/.."

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
dir=$(mktemp -d /tmp/tokctl-bench-pg.XXXXXX)
chown postgres "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

stop() {
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT

# TOKCTL_BENCH_INITDB_ARGS: extra initdb arguments, e.g. "--locale=C" (experiments)
runuser -u postgres -- "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres ${TOKCTL_BENCH_INITDB_ARGS:-} >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on" start >/dev/null
runuser -u postgres -- "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres tokctl_bench

export TOKCTL_BENCH_PG="postgres://postgres@127.0.0.1:$port/tokctl_bench"
if [ $# -gt 0 ]; then
    "$@" # e.g. target/release/deps/ledger_writer-HASH --bench (the flag is required), run several times while tuning
else
    cargo bench --bench ledger_writer
fi
