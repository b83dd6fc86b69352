#!/bin/sh
# Runs Debian's cargo for an ARM target with everything cross-compiling needs:
#   boards/cross.sh aarch64-unknown-linux-gnu build --release -p earsight --features mic
#   boards/cross.sh armv7-unknown-linux-gnueabihf test -p earsight --features mic --locked
# Tests run under qemu through boards/qemu-runner.sh. Debian's rustc and cargo are used
# together (rustup cannot add targets offline); RUSTFLAGS may add a board's -C target-cpu.
set -eu
target=$1
shift
case "$target" in
    aarch64-unknown-linux-gnu) triple=aarch64-linux-gnu ;;
    armv7-unknown-linux-gnueabihf) triple=arm-linux-gnueabihf ;;
    *)
        echo "cross.sh: unknown target $target (aarch64-unknown-linux-gnu or armv7-unknown-linux-gnueabihf)" >&2
        exit 2
        ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
env_name=$(echo "$target" | tr 'a-z-' 'A-Z_')
pkg_name=$(echo "$target" | tr '-' '_')
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
export PKG_CONFIG_ALLOW_CROSS=1
export "CARGO_TARGET_${env_name}_LINKER=${triple}-gcc"
export "CARGO_TARGET_${env_name}_RUNNER=${here}/qemu-runner.sh"
export "PKG_CONFIG_${pkg_name}=/usr/bin/pkg-config"
export "PKG_CONFIG_LIBDIR_${pkg_name}=/usr/lib/${triple}/pkgconfig:/usr/share/pkgconfig"
# Separate from the host's target directory: Debian's rustc cannot read rustup's artefacts.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/cross}"
command=$1
shift
exec /usr/bin/cargo "$command" --target "$target" "$@"
