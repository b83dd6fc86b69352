#!/bin/sh
# Peak resident memory of `earsight caption` and `earsight listen` with a bundle, for any
# build: an ARM binary runs under qemu (boards/qemu-runner.sh), a host binary natively.
#
#   boards/peak-rss.sh BINARY BUNDLE CLIP [THREADS]
#
# Under qemu-user the figure is qemu's own peak: the guest's memory plus the emulator's
# (translated code, its own heap). `earsight --version` is measured too, as the floor of that
# overhead. Timings under emulation say nothing about a board's speed.
set -eu
if [ $# -lt 3 ]; then
    sed -n '2,9s/^# \{0,1\}//p' "$0" >&2
    exit 2
fi
binary=$1
bundle=$2
clip=$3
threads=${4:-1}
here=$(cd "$(dirname "$0")" && pwd)
case "$(od -An -j18 -N2 -tu2 "$binary" | tr -d ' ')" in
    183 | 40) runner="$here/qemu-runner.sh" ;;
    *) runner= ;;
esac

peak() {
    label=$1
    shift
    log=$(mktemp)
    # shellcheck disable=SC2086
    if ! /usr/bin/time -f '%M' -o "$log" $runner "$binary" "$@" >/dev/null 2>"$log.err"; then
        echo "peak-rss.sh: $label failed:" >&2
        cat "$log.err" >&2
        exit 1
    fi
    printf '%-10s %8.1f MB\n' "$label" "$(awk '{ print $1 / 1024 }' "$log")"
    rm -f "$log" "$log.err"
}

echo "$binary (${runner:+under qemu, }threads $threads)"
peak version --version
peak caption caption --model "$bundle" --threads "$threads" "$clip"
peak listen listen --model "$bundle" --threads "$threads" --input "$clip"
