#!/usr/bin/env bash
# Guest instructions per caption on the boards' instruction sets, counted under QEMU: the
# runtime built for aarch64 (cortex-a53, the Zero 2 W's and the Pi 3's core) and armv7
# (cortex-a7, the Pi 2's), run by Debian's qemu-user with a counting plugin
# (boards/insn-count/insn_count.c). A count is not a time, but it moves with the work done, so
# speed work can be measured on the boards' instruction sets without a board.
#
#   boards/insn-count.sh [BUNDLE] [FILE]     (default models/mini, models/samples/rain.ogg)
#
# For each target it counts `earsight caption FILE --threads 1` (one-shot: load, then every
# window of FILE), and `earsight bench` with one and with three rounds (load, then rounds of
# frontend, encoder, 20 decoder steps and the tagger over one window), whose difference over
# two is one window. Prints a markdown table.
#
# Needs Debian's qemu-user (the dynamic qemu, which loads plugins), gcc, curl and xz; the plugin
# header comes from Debian's source of that qemu, downloaded into target/insn-count/ once. The
# cross builds go to target/cross/insn (boards/cross.sh; boards/install-cross.sh sets it up).
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=${1:-models/mini}
file=${2:-models/samples/rain.ogg}
work=target/insn-count
mkdir -p "$work"

version=$(dpkg-query -W -f '${Version}' qemu-user)
upstream=${version#*:}
upstream=${upstream%%-*}
header=$work/qemu-$upstream/qemu-plugin.h
if [ ! -f "$header" ]; then
    tarball=qemu_${upstream}.orig.tar.xz
    source=$(mktemp -d)
    curl -sSf -o "$source/$tarball" "http://deb.debian.org/debian/pool/main/q/qemu/$tarball"
    tar -xJf "$source/$tarball" -C "$source" --wildcards '*/include/qemu/qemu-plugin.h'
    mkdir -p "$(dirname "$header")"
    cp "$source"/*/include/qemu/qemu-plugin.h "$header"
    rm -rf "$source"
fi
plugin=$work/libinsn_count.so
gcc -shared -fPIC -O2 -Wall -Wextra -I"$(dirname "$header")" boards/insn-count/insn_count.c \
    -o "$plugin"

# Runs the earsight of $1 (a target triple) under qemu with the plugin; prints the count.
count() {
    local triple=$1
    shift
    local qemu sysroot cpu
    case "$triple" in
        aarch64-unknown-linux-gnu) qemu=qemu-aarch64 sysroot=/usr/aarch64-linux-gnu cpu=cortex-a53 ;;
        armv7-unknown-linux-gnueabihf) qemu=qemu-arm sysroot=/usr/arm-linux-gnueabihf cpu=cortex-a7 ;;
    esac
    # The sysroot's loader and libc together, as boards/qemu-runner.sh runs the tests.
    rm -f "$work/log"
    QEMU_LD_PREFIX="$sysroot" LD_LIBRARY_PATH="$sysroot/lib" timeout 1200 "$qemu" -cpu "$cpu" \
        -plugin "$PWD/$plugin" -d plugin -D "$work/log" \
        "target/cross/insn/$triple/release/earsight" "$@" >/dev/null
    sed -n 's/^insns //p' "$work/log"
}

echo "| build | caption of $(basename "$file"), load included | bench, load and one window | one more window |"
echo "|---|---|---|---|"
for triple in aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
    CARGO_TARGET_DIR=target/cross/insn boards/cross.sh "$triple" build --release -p earsight \
        --locked --quiet
    bench=(bench --model "$bundle" --threads 1 --tokens 20)
    caption=$(count "$triple" caption --model "$bundle" --threads 1 "$file")
    one=$(count "$triple" "${bench[@]}" --runs 1)
    three=$(count "$triple" "${bench[@]}" --runs 3)
    python3 - "$triple" "$caption" "$one" "$three" <<'PY'
import sys
triple, caption, one, three = sys.argv[1], *map(int, sys.argv[2:])
g = lambda n: f"{n / 1e9:.2f} G"
print(f"| {triple} | {g(caption)} | {g(one)} | {g((three - one) / 2)} |")
PY
done
