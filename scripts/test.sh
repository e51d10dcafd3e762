#!/usr/bin/env bash
# Runs every test: installs the test dependencies when missing, builds the
# previous release for the rolling-upgrade tests (scripts/prev-binary.sh),
# then `cargo test --lib --bins --tests`. The last lines printed are cargo's summaries.
set -euo pipefail
cd "$(dirname "$0")/.."

# rustup's cargo may not be on PATH in a non-login shell.
if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
    # shellcheck source=/dev/null
    source "$HOME/.cargo/env"
fi

bash scripts/install-test-deps.sh
# Benchmarks are not tests (they print numbers and need arguments); clippy
# --all-targets in .ci/run still compiles them.
cargo test --lib --bins --tests --no-run
# The rolling-upgrade tests run the previous release beside this one.
TOKCTL_PREV_BIN="$(bash scripts/prev-binary.sh)"
export TOKCTL_PREV_BIN
exec cargo test --lib --bins --tests
