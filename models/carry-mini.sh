#!/usr/bin/env bash
# Makes BUNDLE, a captioner the mini recipe wrote (`earsight-tools recipe mini --out BUNDLE`),
# the default model: models/mini becomes BUNDLE with the tagger models/mini has now (`teacher
# carry`: its graph, tags, thresholds and the card's section on them). Guidance is not carried:
# `models/guide-mini.sh` chooses it again for the new captioner.
#
#     models/carry-mini.sh BUNDLE
set -euo pipefail
bundle=${1:?usage: models/carry-mini.sh BUNDLE}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r models/mini "$tmp/tagged"
cargo run --release --quiet -p earsight-tools -- teacher carry --bundle "$bundle" \
    --tagger "$tmp/tagged" --out models/mini --force
cargo run --release --quiet -- caption models/samples/*.ogg
