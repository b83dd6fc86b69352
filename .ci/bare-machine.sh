#!/usr/bin/env bash
# The README's promise, checked: on a bare Debian 12 machine with only a Rust toolchain and a C
# compiler, the README's first command captions the samples and its second passes the tests.
#
# Makes a minimal Debian root with debootstrap (build-essential and ca-certificates; no ALSA
# headers, no Python packages, no espeak-ng, no shellcheck), copies in this machine's stable
# Rust toolchain as rustup lays it out, with an empty cargo home that cargo fills itself,
# clones the committed HEAD into it (so no ../shared beside it), and runs the README's first two
# fenced code blocks there, verbatim. Needs root and Debian's package mirror.
#
#     .ci/bare-machine.sh [ROOT]     # ROOT: where the Debian root goes (default target/bare-root)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${1:-$repo/target/bare-root}
toolchain=${RUSTUP_HOME:-$HOME/.rustup}/toolchains/stable-x86_64-unknown-linux-gnu

if [ ! -x "$root/usr/bin/cc" ]; then
    echo "== debootstrap bookworm (minbase + build-essential) into $root"
    debootstrap --variant=minbase --include=build-essential,ca-certificates \
        bookworm "$root" http://deb.debian.org/debian >/dev/null
fi

echo "== the Rust toolchain ($("$toolchain/bin/rustc" --version)), an empty cargo home"
rm -rf "$root/root/.rustup" "$root/root/.cargo"
mkdir -p "$root/root/.rustup/toolchains" "$root/root/.cargo/bin"
cp -a "$toolchain" "$root/root/.rustup/toolchains/"
printf 'version = "12"\ndefault_toolchain = "stable-x86_64-unknown-linux-gnu"\nprofile = "default"\n' \
    >"$root/root/.rustup/settings.toml"
for tool in rustup cargo rustc rustdoc; do
    cp "${CARGO_HOME:-$HOME/.cargo}/bin/rustup" "$root/root/.cargo/bin/$tool"
done

echo "== a clean clone of HEAD ($(git -C "$repo" rev-parse --short HEAD))"
rm -rf "$root/home/user/earsight"
mkdir -p "$root/home/user"
git clone --quiet --no-hardlinks "$repo" "$root/home/user/earsight"
# The network of this machine, not software: its name servers and its trust store (a proxy
# between here and the registry may sign with a CA of its own).
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"

mounted=()
cleanup() { for m in "${mounted[@]}"; do umount "$m" || true; done; }
trap cleanup EXIT
for m in proc dev sys; do
    mount --bind "/$m" "$root/$m"
    mounted=("$root/$m" "${mounted[@]}")
done

# The README's first two fenced blocks: build-and-caption, then test.
readme=$root/home/user/earsight/README.md
block() { awk -v want="$1" '/^```/ { n++; next } n == want' "$readme"; }
first=$(block 1)
second=$(block 3)
in_root() {
    chroot "$root" env -i HOME=/root PATH=/root/.cargo/bin:/usr/bin:/bin TERM=dumb \
        bash -euo pipefail -c "cd /home/user/earsight && $1"
}
for command in "$first" "$second"; do
    echo "== \$ $command"
    start=$(date +%s)
    in_root "$command"
    echo "== ok in $(($(date +%s) - start)) s"
done
echo "== both of the README's commands passed on a bare machine"
