#!/usr/bin/env bash
# Incremental dev builds after a one-line change to the scoring or the world, side by side for
# two revisions of the checkout (for example the tools as one crate, and split in two).
#
#   tools/bench/build-times.sh REV_A REV_B [ROUNDS]       (default 2 rounds)
#
# Each revision is checked out in a scratch worktree; both build into one target directory, so
# the registry crates are built once and shared (a scratch one, or $CARGO_TARGET_DIR if set:
# one that already holds a debug build of the workspace saves those first builds). A round changes a function body
# (`score/metrics.rs`'s `mean`, then `world/classes.rs`'s `class_named`) and times:
# the tools' binary, the metrics' integration test, and the unit tests of the crate holding the
# world. Prints one line a measurement: revision, what changed -> what was built, seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
rev_a=${1:?usage: tools/bench/build-times.sh REV_A REV_B [ROUNDS]}
rev_b=${2:?usage: tools/bench/build-times.sh REV_A REV_B [ROUNDS]}
rounds=${3:-2}
work=$(mktemp -d)
cleanup() {
    git worktree remove --force "$work/a" 2>/dev/null || true
    git worktree remove --force "$work/b" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$work/target}

# Puts `let _changed = N;` first in the body of the function declared by $2 in file $1.
change() {
    python3 - "$1" "$2" "$3" <<'PY'
import re, sys
path, declaration, n = sys.argv[1:4]
text = re.sub(r"\n    let _changed = \d+;", "", open(path).read())
body = text.index("{", text.index(declaration)) + 1
open(path, "w").write(text[:body] + f"\n    let _changed = {n};" + text[body:])
PY
}

seconds() {
    local start
    start=$(date +%s.%N)
    if ! "$@" >/dev/null 2>&1; then
        echo "failed ($*)"
        return
    fi
    python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')"
}

for arm in a b; do
    rev=$rev_a
    if [ "$arm" = b ]; then rev=$rev_b; fi
    git worktree add --quiet --detach "$work/$arm" "$rev"
    cd "$work/$arm"
    # Where the scoring and the world live at this revision, and which crate holds them.
    if [ -d tools-base/src/score ]; then
        src=tools-base/src crate=earsight-tools-base
    else
        src=tools/src crate=earsight-tools
    fi
    cargo build --quiet --locked -p earsight-tools --bins
    cargo test --quiet --locked -p "$crate" --test metrics --lib --no-run
    for round in $(seq "$rounds"); do
        change "$src/score/metrics.rs" "fn mean(" "$round$RANDOM"
        echo "$rev score -> binary $(seconds cargo build --locked -p earsight-tools --bins)"
        change "$src/score/metrics.rs" "fn mean(" "$round$RANDOM"
        echo "$rev score -> metrics test $(seconds cargo test --locked -p "$crate" --test metrics --no-run)"
        change "$src/world/classes.rs" "pub fn class_named(" "$round$RANDOM"
        echo "$rev world -> unit tests $(seconds cargo test --locked -p "$crate" --lib --no-run)"
    done
    cd - >/dev/null
done
