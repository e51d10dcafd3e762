#!/usr/bin/env bash
# Runs every test: installs the test dependencies when missing, then
# `cargo test --all-targets`. The last lines printed are cargo's summaries.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
exec cargo test --all-targets
