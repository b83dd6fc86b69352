#!/usr/bin/env bash
# Gives models/mini's tagger other thresholds (`earsight-tools teacher retune`: what `teacher
# thresholds --bundle models/mini` tuned, the graph unchanged) and the model card's section on
# them (tools/configs/mini/tags-card.md). Retuning drops the tag guidance: run
# models/guide-mini.sh after it.
#
#     models/retune-mini.sh THRESHOLDS.json
set -euo pipefail
thresholds=${1:?usage: models/retune-mini.sh THRESHOLDS.json}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r models/mini "$tmp/mini"
cargo run --release --quiet -p earsight-tools -- teacher retune --bundle "$tmp/mini" \
    --thresholds "$thresholds" --card tools/configs/mini/tags-card.md --out models/mini --force
