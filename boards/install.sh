#!/bin/sh
# Installs earsight from this unpacked board package (made by `earsight-tools board build`):
# the binary and the default model under /opt/earsight, the systemd unit, and the service's
# options in /etc/default/earsight, which is kept when it exists.
#
#   sudo ./install.sh              install, enable and start the service
#   sudo ./install.sh --no-start   install only
#   sudo ./install.sh --uninstall  remove the service and /opt/earsight (keeps /etc/default/earsight)
#
# DESTDIR=/some/root ./install.sh lays the files out under that root and leaves the system
# alone (no user, no systemctl): for packaging and for the tests.
set -eu

usage() {
    sed -n '2,12s/^# \{0,1\}//p' "$0"
}

die() {
    echo "install.sh: $*" >&2
    exit 1
}

here=$(cd "$(dirname "$0")" && pwd)
action=install
for arg in "$@"; do
    case "$arg" in
        --no-start) action=install-only ;;
        --uninstall) action=uninstall ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown option $arg (see --help)" ;;
    esac
done

root=${DESTDIR:-}
prefix=$root/opt/earsight
unit=$root/etc/systemd/system/earsight.service
settings=$root/etc/default/earsight
board=$(sed -n 's/^name = "\(.*\)"$/\1/p' "$here/board.toml")

if [ -z "$root" ] && [ "$(id -u)" != 0 ]; then
    die "run it as root: sudo $0 $*"
fi

if [ "$action" = uninstall ]; then
    if [ -z "$root" ]; then
        systemctl disable --now earsight.service 2>/dev/null || true
    fi
    rm -f "$unit"
    rm -rf "$prefix"
    if [ -z "$root" ]; then
        systemctl daemon-reload
    fi
    echo "earsight removed; $settings is kept"
    exit 0
fi

if [ -z "$root" ]; then
    if ! ldconfig -p | grep -q 'libasound\.so\.2'; then
        die "libasound.so.2 is missing (microphone capture needs it): apt install libasound2"
    fi
    # A binary for another architecture, or one using an instruction this CPU lacks, fails
    # here rather than in a restart loop of the service.
    if ! "$here/bin/earsight" --version >/dev/null 2>&1; then
        die "bin/earsight does not run on this machine ($(uname -m)); this package is for the $board"
    fi
fi

mkdir -p "$prefix/bin" "$prefix/share/earsight/models" "$(dirname "$unit")" "$(dirname "$settings")"
install -m 0755 "$here/bin/earsight" "$prefix/bin/earsight.new"
mv "$prefix/bin/earsight.new" "$prefix/bin/earsight"
# The new model goes in beside the old one and replaces it in one rename.
models=$prefix/share/earsight/models
rm -rf "$models/mini.new" "$models/mini.old"
cp -R "$here/share/earsight/models/mini" "$models/mini.new"
if [ -d "$models/mini" ]; then
    mv "$models/mini" "$models/mini.old"
fi
mv "$models/mini.new" "$models/mini"
rm -rf "$models/mini.old"
for f in README.md board.toml earsight.default; do
    install -m 0644 "$here/$f" "$prefix/$f"
done

if [ -f "$unit" ] && ! cmp -s "$here/earsight.service" "$unit"; then
    backup="$unit.$(date +%Y%m%d%H%M%S).bak"
    cp "$unit" "$backup"
    echo "your edited unit is kept as $backup (use systemctl edit earsight for changes)"
fi
install -m 0644 "$here/earsight.service" "$unit"

if [ -f "$settings" ]; then
    if ! cmp -s "$here/earsight.default" "$settings"; then
        echo "kept your $settings; this board's defaults are in $prefix/earsight.default"
    fi
else
    install -m 0644 "$here/earsight.default" "$settings"
fi

if [ -n "$root" ]; then
    echo "earsight staged under $root"
    exit 0
fi

if ! id -u earsight >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin --groups audio earsight
fi
systemctl daemon-reload
if [ "$action" = install ]; then
    systemctl enable earsight.service
    systemctl restart earsight.service
    echo "earsight is running: journalctl -u earsight -f"
else
    echo "earsight installed: systemctl enable --now earsight"
fi
