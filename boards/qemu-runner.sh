#!/bin/sh
# Cargo runner for ARM binaries on an x86_64 host: `cargo test --target ...` runs each test
# binary through this script, and its exit code decides the test run.
#
# The dynamic loader and libc come from one sysroot: with QEMU_LD_PREFIX alone the guest mixes
# the cross sysroot's ld.so with the multiarch libc and the first pthread_create spins forever.
# The CPU model is the oldest core a board profile supports, so that an instruction those
# boards lack fails here, not on the board.
set -eu
bin=$1
shift
machine=$(od -An -j18 -N2 -tu2 "$bin" | tr -d ' ')
case "$machine" in
    183)
        qemu="qemu-aarch64-static"
        sysroot=/usr/aarch64-linux-gnu
        cpu=${EARSIGHT_QEMU_CPU:-cortex-a53}
        ;;
    40)
        qemu="qemu-arm-static"
        sysroot=/usr/arm-linux-gnueabihf
        cpu=${EARSIGHT_QEMU_CPU:-cortex-a7}
        ;;
    *)
        echo "qemu-runner: $bin: ELF machine $machine is neither aarch64 (183) nor arm (40)" >&2
        exit 2
        ;;
esac
# Tests that run the earsight binary run it through this script too.
EARSIGHT_EXE_RUNNER="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
export EARSIGHT_EXE_RUNNER
exec timeout "${EARSIGHT_QEMU_TIMEOUT:-1200}" env QEMU_LD_PREFIX="$sysroot" \
    LD_LIBRARY_PATH="$sysroot/lib" "$qemu" -cpu "$cpu" "$bin" "$@"
