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
installed=$(dpkg-query -W -f='${Version}' libstd-rust-web-dev:armhf 2>/dev/null || true)
if [ "$installed" != "$version" ]; then
    # The standard library must be the compiler's own version, from the suite that holds it:
    # its armhf index, read directly (apt refuses it for its size), names the files, and apt
    # installs them with their dependencies from the indexed suites.
    dir=$(mktemp -d)
    security=http://deb.debian.org/debian-security
    curl -sf "$security/dists/bookworm-security/main/binary-armhf/Packages.xz" |
        xz -dc >"$dir/Packages"
    major=$(echo "$version" | cut -d. -f1,2)
    files=$(awk -v want="libstd-rust-web-$major libstd-rust-web-dev $(
        awk -v p="libstd-rust-web-$major" '$1 == "Package:" { n = $2 }
            $1 == "Depends:" && n == p { for (i = 2; i <= NF; i++) if ($i ~ /^libllvm/) print $i }' \
            "$dir/Packages" | tr -d ',')" '
        BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) wanted[w[i]] = 1 }
        $1 == "Package:" { p = $2 }
        $1 == "Filename:" && (p in wanted) { print $2 }' "$dir/Packages")
    debs=""
    for f in $files; do
        curl -sfo "$dir/$(basename "$f")" "$security/$f"
        debs="$debs $dir/$(basename "$f")"
    done
    case "$files" in
        *libstd-rust-web-dev_${version}_armhf.deb*) ;;
        *)
            echo "install-cross.sh: no libstd-rust-web-dev $version for armhf in $security" >&2
            exit 1
            ;;
    esac
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $debs
    rm -rf "$dir"
fi
/usr/bin/rustc --version
