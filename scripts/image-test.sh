#!/usr/bin/env bash
# Builds the tokctl container image (deploy/container/Containerfile, FROM
# scratch) with podman from the release binary and runs it:
#   - the image is smaller than 40 MB and carries the HEALTHCHECK;
#   - /readyz answers 200 and one chat completion goes through the mock provider;
#   - the HEALTHCHECK (tokctl health --live) passes;
#   - podman stop (SIGTERM) exits 0 within the grace period;
#   - the ledger on the data volume then holds that request.
# Runs with runc and explicit ulimits at or below this shell's limits, on the
# host network: CI's VM (hybrid cgroups, no right to raise limits) cannot run
# crun or raise ulimits. Prints one line per check; exit 0 when all pass.
# Env: TOKCTL_IMAGE (default localhost/tokctl:latest), TOKCTL_IMAGE_BIN (a
# tokctl binary to package instead of building target/release/tokctl).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
    # shellcheck source=/dev/null
    source "$HOME/.cargo/env"
fi

image=${TOKCTL_IMAGE:-localhost/tokctl:latest}
max_bytes=$((40 * 1000 * 1000))
# podman stop's timeout: above server.shutdown_timeout_ms (30 s) in
# deploy/container/config.toml, as for Kubernetes and compose.
grace=45
uid=65532

say() { echo "image-test: $*"; }
fail() {
    echo "image-test: FAILED: $*" >&2
    if [[ -n ${name:-} ]]; then
        echo "--- container log" >&2
        podman logs "$name" >&2 || true
    fi
    if [[ -s ${work:-}/podman.err ]]; then
        echo "--- podman's own messages" >&2
        cat "$work/podman.err" >&2
    fi
    exit 1
}

for tool in podman runc curl python3; do
    command -v "$tool" >/dev/null || fail "$tool not found; run scripts/install-test-deps.sh"
done

bin=${TOKCTL_IMAGE_BIN:-}
if [[ -z $bin ]]; then
    cargo build --release --locked --bin tokctl
    bin="${CARGO_TARGET_DIR:-target}/release/tokctl"
fi

work=$(mktemp -d)
name=""
cleanup() {
    if [[ -n $name ]]; then podman rm -f "$name" >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

bash deploy/container/rootfs.sh "$bin" "$work/ctx/rootfs"
podman build -q --format docker -f deploy/container/Containerfile -t "$image" "$work/ctx" >/dev/null

size=$(podman image inspect --format '{{.Size}}' "$image")
((size < max_bytes)) || fail "image is $size bytes, over $max_bytes"
say "built $image: $(awk -v s="$size" 'BEGIN { printf "%.1f MB", s / 1e6 }') (limit 40 MB)"
healthcheck=$(podman image inspect --format '{{json .Config.Healthcheck}}' "$image")
[[ $healthcheck == *'"--live"'* ]] || fail "the image has no HEALTHCHECK with health --live: $healthcheck"

# ulimits: the current soft limits (never above them), capped to sane values.
nofile=$(ulimit -n)
nproc=$(ulimit -u)
[[ $nofile == unlimited || $nofile -gt 65536 ]] && nofile=65536
[[ $nproc == unlimited || $nproc -gt 4096 ]] && nproc=4096

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
data=$work/data
mkdir -p "$data"
if [[ $(id -u) -eq 0 ]]; then
    chown "$uid:$uid" "$data"
else
    podman unshare chown "$uid:$uid" "$data"
fi

run=(podman --runtime runc run --network host
    --ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc"
    -v "$data:/var/lib/tokctl")
name=tokctl-image-test-$$
# Without systemd (CI's VM, this container's host) podman logs that it cannot
# schedule the HEALTHCHECK's timer; the check is run by hand below, so its
# messages go to a file shown only on failure.
"${run[@]}" -d --name "$name" --stop-timeout "$grace" \
    -e TOKCTL_SERVER_LISTEN="127.0.0.1:$port" \
    -e TOKCTL_LEDGER_CHAIN_HMAC_KEY=image-test \
    "$image" >/dev/null 2>>"$work/podman.err" || fail "podman run failed"


base=http://127.0.0.1:$port
ready=""
for _ in $(seq 1 120); do
    if [[ $(curl -s -o /dev/null -w '%{http_code}' "$base/readyz") == 200 ]]; then
        ready=1
        break
    fi
    [[ $(podman inspect --format '{{.State.Running}}' "$name") == true ]] || fail "the container exited before /readyz answered"
    sleep 0.5
done
[[ -n $ready ]] || fail "/readyz did not answer 200 within 60 s"
say "/readyz 200 on $base (runc, nofile=$nofile, nproc=$nproc)"

key=$(podman logs "$name" 2>&1 | grep -o 'tok_[A-Za-z0-9_-]*' | head -n 1 || true)
[[ -n $key ]] || fail "serve printed no bootstrap key"
body=$(curl -s -w '\n%{http_code}' "$base/v1/chat/completions" \
    -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello from the image test"}]}')
code=${body##*$'\n'}
[[ $code == 200 && $body == *'"choices"'* ]] || fail "chat completion answered $code: $body"
say "chat completion through the mock provider: 200"

podman healthcheck run "$name" >/dev/null 2>>"$work/podman.err" || fail "the HEALTHCHECK (tokctl health --live) failed"
say "HEALTHCHECK (tokctl health --live) passes"

start=$(date +%s%N)
podman stop -t "$grace" "$name" >/dev/null 2>>"$work/podman.err"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
[[ $exit_code == 0 ]] || fail "the container exited $exit_code after SIGTERM"
((elapsed_ms < grace * 1000)) || fail "stopping took ${elapsed_ms} ms, not under the ${grace} s grace period"
say "SIGTERM (podman stop): exit 0 in ${elapsed_ms} ms (grace ${grace} s)"

summary=$("${run[@]}" --rm "$image" ledger summary --json 2>>"$work/podman.err") || fail "ledger summary in the image failed"
requests=$(python3 -c 'import json, sys; print(sum(r["requests"] for r in json.load(sys.stdin)))' <<<"$summary") \
    || fail "cannot read the ledger summary: $summary"
[[ $requests == 1 ]] || fail "the ledger holds $requests requests, not 1: $summary"
say "ledger on the data volume holds the request after shutdown: 1 entry"
say "all checks passed"
