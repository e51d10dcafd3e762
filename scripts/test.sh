#!/usr/bin/env bash
# Runs every test: installs the test dependencies when missing, then
# `cargo test --lib --bins --tests`. The last lines printed are cargo's summaries.
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
exec cargo test --lib --bins --tests
