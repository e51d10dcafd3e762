#!/usr/bin/env bash
# Builds the previous release's `tokctl` (debug) for the rolling-upgrade
# tests (tests/it/gateway/upgrade.rs) and prints its path. The previous
# release is the last commit before the ledger's column table and the
# compatible-migration scheme; it is built from this clone's history, into
# target/prev, reusing this tree's compiled dependencies when there are any.
set -euo pipefail
cd "$(dirname "$0")/.."

PREV=$(git rev-parse --verify --quiet "e32250e^{commit}" || true)
out=target/prev/debug/tokctl
if [[ -z "$PREV" ]]; then
    echo "prev-binary: commit e32250e (the previous release) is not in this clone; a shallow clone? run: git fetch --unshallow" >&2
    exit 1
fi
if [[ -x "$out" && "$(cat target/prev/commit 2>/dev/null)" == "$PREV" ]]; then
    echo "$PWD/$out"
    exit 0
fi
src=target/prev/src
rm -rf "$src"
mkdir -p "$src" target/prev/debug
git archive "$PREV" | tar -x -C "$src"
# Registry crates are the same versions: start from this tree's build.
built="${CARGO_TARGET_DIR:-target}/debug"
if [[ -d "$built/deps" && ! -d target/prev/debug/deps ]]; then
    for d in deps build .fingerprint; do
        cp -r "$built/$d" target/prev/debug/
    done
fi
CARGO_TARGET_DIR="$PWD/target/prev" cargo build --quiet --manifest-path "$src/Cargo.toml" --bin tokctl >&2
echo "$PREV" > target/prev/commit
echo "$PWD/$out"
