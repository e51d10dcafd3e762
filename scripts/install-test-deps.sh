#!/usr/bin/env bash
# Installs what the tests and benchmarks need, only when something is
# missing: PostgreSQL server binaries, redis-server, promtool (prometheus),
# nginx and wrk, a C compiler when none is there, and the OpenAI/Anthropic Python SDKs;
# for deploy/: kubectl (kubernetes-client), systemd-analyze (systemd), podman
# and runc (scripts/image-test.sh), curl, and binutils (strip). Idempotent, quiet, needs no stdin; uses sudo when not root.
set -euo pipefail

PG_BIN="${TOKCTL_PG_BIN:-/usr/lib/postgresql/15/bin}"

missing=()
[[ -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]] || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
# rustup needs a C toolchain to link, and some crates compile C (SQLite).
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
# deploy/: the kustomize base, the systemd unit, the container image.
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v strip >/dev/null 2>&1 || missing+=(binutils)
[[ -f /etc/ssl/certs/ca-certificates.crt ]] || missing+=(ca-certificates)

# The official OpenAI and Anthropic Python SDKs, for the SDK compatibility test.
if ! python3 -c 'import openai, anthropic' >/dev/null 2>&1; then
    echo "install-test-deps: installing the openai and anthropic Python SDKs" >&2
    python3 -m pip install -q --disable-pip-version-check openai anthropic </dev/null >/dev/null 2>&1 \
        || python3 -m pip install -q --break-system-packages openai anthropic </dev/null >/dev/null
fi

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-test-deps: missing ${missing[*]}; run as root or install sudo" >&2
        exit 1
    fi
    sudo=(sudo -n)
fi

echo "install-test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Installing a package must not start its service (the tests start their own).
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${sudo[@]}" chmod +x /usr/sbin/policy-rc.d
    trap '"${sudo[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
fi
"${sudo[@]}" apt-get update -qq </dev/null >/dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
