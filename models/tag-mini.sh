#!/usr/bin/env bash
# Gives models/mini its tagger: a convolutional student distilled from the AudioSet teacher
# (`earsight-tools train teach`), its thresholds per tag (`teacher thresholds`), and the model
# card's section on them (tools/configs/mini/tags-card.md). The captioner's files are copied
# unchanged; tagging again replaces the tagger and its section of the card.
#
#     models/tag-mini.sh RUN/best THRESHOLDS.json
set -euo pipefail
student=${1:?usage: models/tag-mini.sh RUN/best THRESHOLDS.json}
thresholds=${2:?usage: models/tag-mini.sh RUN/best THRESHOLDS.json}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r models/mini "$tmp/mini"
cargo run --release --quiet -p earsight-tools -- teacher bundle --bundle "$tmp/mini" \
    --student "$student" --thresholds "$thresholds" --int8 \
    --card tools/configs/mini/tags-card.md --out models/mini --force
cargo run --release --quiet -- caption models/samples/*.ogg
