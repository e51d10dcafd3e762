#!/usr/bin/env bash
# Assembles the root filesystem of the FROM-scratch image in OUTDIR:
#   /usr/local/bin/tokctl      the binary given (debug info stripped when `strip` is there)
#   the libraries it links     exactly what `ldd` lists, at the same paths, and the loader
#   /etc/ssl/certs/...         the system CA bundle (package ca-certificates)
#   /etc/passwd, /etc/group    user and group tokctl (65532), so the process has a name
#   /etc/nsswitch.conf         hosts from /etc/hosts, then DNS (glibc has both built in)
#   /etc/tokctl/config.toml    deploy/container/config.toml: every path on /var/lib/tokctl
#   /var/lib/tokctl, /tmp      the data directory (the image's volume) and a scratch dir
# A statically linked binary gets no libraries. Usage: rootfs.sh BINARY OUTDIR
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 BINARY OUTDIR" >&2
    exit 2
fi
bin=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
ca=/etc/ssl/certs/ca-certificates.crt

[[ -x $bin ]] || { echo "rootfs: $bin is not an executable; build it first (cargo build --release)" >&2; exit 1; }
[[ -f $ca ]] || { echo "rootfs: no $ca; install the Debian package ca-certificates" >&2; exit 1; }
command -v ldd >/dev/null || { echo "rootfs: ldd not found; install the Debian package libc-bin" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out"/usr/local/bin "$out"/etc/tokctl "$out"/etc/ssl/certs "$out"/var/lib/tokctl "$out"/tmp
install -m 0755 "$bin" "$out/usr/local/bin/tokctl"
if command -v strip >/dev/null; then
    strip --strip-debug "$out/usr/local/bin/tokctl"
fi

# `ldd` prints "name => /path (addr)" for each library, "/path (addr)" for
# the loader and "linux-vdso.so.1 (addr)" for the kernel's own (no file).
if ldd_out=$(ldd "$bin" 2>&1); then
    if grep -q 'not found' <<<"$ldd_out"; then
        echo "rootfs: $bin links a library this machine lacks:" >&2
        echo "$ldd_out" >&2
        exit 1
    fi
    while read -r lib; do
        mkdir -p "$out$(dirname "$lib")"
        cp -L "$lib" "$out$lib"
    done < <(grep -o '/[^ ]*' <<<"$ldd_out" | sort -u)
elif ! grep -qE 'not a dynamic executable|statically linked' <<<"$ldd_out"; then
    echo "rootfs: ldd $bin failed: $ldd_out" >&2
    exit 1
fi

cp "$ca" "$out/etc/ssl/certs/ca-certificates.crt"
echo 'tokctl:x:65532:65532:tokctl:/var/lib/tokctl:/sbin/nologin' >"$out/etc/passwd"
echo 'tokctl:x:65532:' >"$out/etc/group"
echo 'hosts: files dns' >"$out/etc/nsswitch.conf"
install -m 0644 "$here/config.toml" "$out/etc/tokctl/config.toml"
chmod 1777 "$out/tmp"
