#!/usr/bin/env bash
# Steers models/mini's captions by its tags (`earsight-tools teacher guide`): the tag set's
# words (tools/configs/tags.json), each tag's typical score on the validation scenes of the
# world WORLD (`tools/bench/guidance.sh` makes it, in OUT/world), and the weight and veto that
# script chose, with the card's section on them (tools/configs/mini/guidance-card.md). The
# graphs are copied unchanged.
#
#     models/guide-mini.sh WORLD WEIGHT [VETO]
set -euo pipefail
usage="usage: models/guide-mini.sh WORLD WEIGHT [VETO]"
world=${1:?$usage}
weight=${2:?$usage}
veto=${3:-0}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r models/mini "$tmp/mini"
cargo run --release --quiet -p earsight-tools -- teacher guide --bundle "$tmp/mini" \
    --data "$world/manifest.jsonl" --tag-guidance "$weight" --tag-veto "$veto" \
    --card tools/configs/mini/guidance-card.md --out models/mini --force
cargo run --release --quiet -- caption models/samples/*.ogg
