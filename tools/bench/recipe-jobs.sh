#!/usr/bin/env bash
# Side-by-side benchmark of `recipe --jobs`: the mini recipe's losses' chains (alignment,
# pseudo-labels, stage 2, audio-visual captions) one after another and N at a time, on a small
# world. The stages before the chains (world, captioner, prefix, pretraining) run once and are
# copied into both work directories, so that only the chains and the evaluation are timed; both
# runs must choose a bundle with the same SHA-256s.
#
#   tools/bench/recipe-jobs.sh DATA [JOBS] [SCENES]    (default 2 jobs, 150 scenes)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=$(realpath "${1:?the real recordings, e.g. ../shared/data}")
jobs=${2:-2}
scenes=${3:-150}
if ! [[ $jobs =~ ^[0-9]+$ ]] || ((jobs < 2)); then
    echo "recipe-jobs.sh: JOBS must be a whole number of at least 2 (it is compared with 1); found '$jobs'" >&2
    exit 2
fi
cargo build --release --quiet -p earsight-tools
tools=$PWD/target/release/earsight-tools
tokenizer=$PWD/models/tokenizer/tokenizer.json
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The mini recipe at a small size: fewer scenes, and a tenth of the captioner's picture-only
# scenes.
cp -r tools/configs/mini tools/configs/mini.json tools/configs/image-mini.json \
    tools/configs/pretrain.json "$work/"
sed -i "s/\"scenes\": [0-9]*/\"scenes\": $scenes/" "$work/mini/recipe.json"
sed -i "s/\"picture_scenes\": [0-9]*/\"picture_scenes\": 200/" "$work/mini/captioner.json"
recipe() {
    "$tools" recipe "$work/mini/recipe.json" --data "$data" --tokenizer "$tokenizer" --quiet "$@"
}
recipe --work "$work/front" --out "$work/front-bundle" --jobs "$jobs" >/dev/null
for j in 1 "$jobs"; do
    mkdir "$work/jobs-$j"
    cp -a "$work"/front/{world,init,captioner,prefix,pretrain,pictures.jsonl} "$work/jobs-$j/"
done
for j in 1 "$jobs"; do
    began=$(date +%s.%N)
    recipe --work "$work/jobs-$j" --out "$work/bundle-$j" --jobs "$j" >/dev/null
    echo "$j $began $(date +%s.%N)"
done >"$work/times.txt"
python3 - "$work" "$jobs" <<'PY'
import json, os, sys
work, jobs = sys.argv[1], sys.argv[2]
times = {j: float(end) - float(began)
         for j, began, end in map(str.split, open(os.path.join(work, "times.txt")))}
# The graphs, not the card: it holds each run's timings.
sha = {j: {g: h for g, h in json.load(open(os.path.join(work, f"bundle-{j}", "manifest.json")))
           ["sha256"].items() if g.endswith(".onnx")}
       for j in ("1", jobs)}
if sha["1"] != sha[jobs]:
    sys.exit(f"--jobs {jobs} chose another bundle than --jobs 1: {sha}")
one, many = times["1"], times[jobs]
print(f"chains + evaluation, --jobs 1: {one:.1f} s; --jobs {jobs}: {many:.1f} s; "
      f"ratio {many / one:.2f}; the same bundle")
PY
