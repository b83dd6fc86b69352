#!/usr/bin/env bash
# Tag guidance's weight and veto, chosen on validation and measured side by side (issue 35,
# step 4): for each setting, WEIGHT or WEIGHT/VETO, `teacher guide` steers a copy of BUNDLE
# (typical scores from the world's validation scenes), and `eval` captions the world's
# validation and test scenes, the held-out ESC-10 fold 4, and the UrbanSound8K fold 1 clips of
# the classes the world has recordings of: real recordings neither the tagger (which held that
# fold out) nor the world (which takes no UrbanSound8K) ever used. Chosen on those: the best
# source F1 among the settings in which at most one world validation caption in twenty runs
# two sources' words together or says a word twice back to back (`tools/bench/plot.py
# guidance`). Writes OUT/guidance.md, its JSON and OUT/guidance.png.
#
#   tools/bench/guidance.sh BUNDLE DATA OUT [WEIGHT[/VETO] ...]
#   (here: models/mini ../shared/data runs/guidance)
#
# The world is the mini recipe's (tools/configs/mini/recipe.json: seed 1, 2000 scenes, fold 4
# held out), made again in OUT/world unless it is there.
set -euo pipefail
cd "$(dirname "$0")/../.."
bundle=${1:?usage: tools/bench/guidance.sh BUNDLE DATA OUT [WEIGHT[/VETO] ...]}
data=${2:?}
out=${3:?}
shift 3
weights=("$@")
[ ${#weights[@]} -gt 0 ] || weights=(0 0.5 1 1.5 2 2.5 3 3.5 4 5 6 8 10)
mkdir -p "$out"
cargo build --release --quiet -p earsight-tools
tools=./target/release/earsight-tools
world="$out/world"
[ -f "$world/held_out.jsonl" ] ||
    "$tools" world --sources "$data" --seed 1 --scenes 2000 --hold-out-fold 4 --out "$world" \
        2>"$out/world.log"
# The validation clips: UrbanSound8K fold 1, those of the classes the world has recordings of.
unheard="$out/unheard.jsonl"
python3 - "$data" "$world/stats.json" "$unheard" <<'PY'
import csv, json, os, sys
data, stats, out = sys.argv[1:4]
known = {c for c, n in json.load(open(stats))["recordings_per_class"].items() if n > 0}
root = os.path.abspath(os.path.join(data, "urbansound8k"))
with open(out, "w") as f:
    for row in csv.DictReader(open(os.path.join(root, "metadata.csv"))):
        if row["fold"] == "fold1" and row["label"] in known:
            f.write(json.dumps({"id": row["path"], "audio": os.path.join(root, row["path"]),
                                "labels": [row["label"]], "split": "val"}) + "\n")
PY
for w in "${weights[@]}"; do
    echo "tag guidance $w" >&2
    weight=${w%/*}
    veto=0
    [ "$w" = "$weight" ] || veto=${w#*/}
    w=${w/\//v}
    "$tools" teacher guide --bundle "$bundle" --data "$world/manifest.jsonl" \
        --tag-guidance "$weight" --tag-veto "$veto" --out "$out/w$w" --force
    "$tools" eval --model "$out/w$w" --data "$world/manifest.jsonl" --split val \
        --out "$out/e$w/val" --force >/dev/null
    "$tools" eval --model "$out/w$w" --data "$world/manifest.jsonl" --split test \
        --out "$out/e$w/test" --force >/dev/null
    "$tools" eval --model "$out/w$w" --data "$world/held_out.jsonl" \
        --out "$out/e$w/real" --force >/dev/null
    "$tools" eval --model "$out/w$w" --data "$unheard" --out "$out/e$w/unheard" --force >/dev/null
done
settings=("${weights[@]//\//v}")
python3 tools/bench/plot.py guidance "$out/guidance.png" "${settings[@]/#/$out/e}" \
    >"$out/guidance.md"
cat "$out/guidance.md"
