#!/bin/sh
# Installs what cross-compiling the runtime for ARM and testing it under emulation needs, on
# an x86_64 Debian 12 host (run as root): Debian's own Rust with the aarch64 and armhf standard
# libraries (rustup cannot add targets offline), the cross C toolchains and ALSA headers,
# qemu-user-static, and shellcheck for the board scripts.
set -eu
sources=/etc/apt/sources.list.d/debian.sources
# The security suite's armhf index has failed to download ("File has unexpected size"), which
# makes apt drop the whole suite, and with it the current rustc-web. Index the suite for amd64
# and arm64 only, and take the armhf standard library from the suite's pool below.
if [ -f "$sources" ] && ! grep -q '^Architectures:' "$sources"; then
    sed -i '/^Suites: bookworm-security/a Architectures: amd64 arm64' "$sources"
fi
dpkg --add-architecture arm64
dpkg --add-architecture armhf
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    rustc-web cargo-web libstd-rust-web-dev:arm64 \
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross libasound2-dev:arm64 \
    gcc-arm-linux-gnueabihf libc6-dev-armhf-cross libasound2-dev:armhf \
    qemu-user-static pkg-config shellcheck binutils-aarch64-linux-gnu binutils-arm-linux-gnueabihf
version=$(dpkg-query -W -f='${Version}' rustc-web)
rustlib=/usr/lib/rustlib/armv7-unknown-linux-gnueabihf
stamp="$rustlib/debian-version"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$version" ]; then
    # The standard library must be the compiler's own version, from the suite that holds it:
    # its armhf index, read directly (apt refuses it for its size), names the file. Only its
    # rlibs are unpacked, not installed: apt cannot install it, because its dependencies
    # (libllvm, then libzstd1) must match the security updates of their amd64 twins, which that
    # suite has not built for armhf. Cross-compiling needs the rlibs alone.
    dir=$(mktemp -d)
    security=http://deb.debian.org/debian-security
    curl -sf "$security/dists/bookworm-security/main/binary-armhf/Packages.xz" |
        xz -dc >"$dir/Packages"
    file=$(awk -v want=libstd-rust-web-dev -v version="$version" '
        $1 == "Package:" { p = $2 }
        $1 == "Version:" { v = $2 }
        $1 == "Filename:" && p == want && v == version { print $2 }' "$dir/Packages")
    if [ -z "$file" ]; then
        echo "install-cross.sh: no libstd-rust-web-dev $version for armhf in $security" >&2
        exit 1
    fi
    curl -sfo "$dir/std.deb" "$security/$file"
    # An older version's rlibs left beside the new ones make every std import ambiguous.
    rm -rf "$rustlib"
    dpkg-deb -x "$dir/std.deb" "$dir/root"
    cp -a "$dir/root$rustlib" "$rustlib"
    echo "$version" >"$stamp"
    rm -rf "$dir"
fi
/usr/bin/rustc --version
