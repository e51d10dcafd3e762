#!/usr/bin/env bash
# Runs the ledger writer benchmark on SQLite and on a throwaway PostgreSQL
# cluster (temp dir, free port, stopped at exit). Needs root for runuser.
# The knobs are environment variables (see bench/ledger_writer.rs), e.g.
#   TOKCTL_BENCH_N=500000 bench/ledger.sh
# Arguments, when given, are run instead of `cargo bench` (with
# TOKCTL_BENCH_PG set), e.g. a bench executable already built.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=bench/lib.sh
. bench/lib.sh
dir=$(mktemp -d /tmp/tokctl-bench-pg.XXXXXX)

stop() {
    stop_postgres "$dir"
    rm -rf "$dir"
}
trap stop EXIT

start_postgres "$dir" -c fsync=on -c synchronous_commit=on
runuser -u postgres -- "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres tokctl_bench

export TOKCTL_BENCH_PG="postgres://postgres@127.0.0.1:$PGPORT/tokctl_bench"
if [ $# -gt 0 ]; then
    "$@" # e.g. target/release/deps/ledger_writer-HASH --bench (the flag is required), run several times while tuning
else
    cargo bench --bench ledger_writer
fi
