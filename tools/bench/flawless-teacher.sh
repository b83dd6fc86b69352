#!/usr/bin/env bash
# How much of the chain's real-recording recall the teacher costs. Stage 2 is run twice from
# the same aligned checkpoint of a finished recipe run, side by side: on the run's own
# pseudo-labels (the audio-visual teacher's captions), and on the world's visual captions (the
# first of each scene: what a flawless picture captioner would say). Each student is exported in
# int8 and captioned through the runtime on the held-out real fold and on world-test scenes;
# the table gives source recall and false source captions of both.
#
#   tools/bench/flawless-teacher.sh RUN [LOSS] [DISTILL_CONFIG]
#
# RUN is a recipe's --work directory (world/, align-LOSS/best, labels-LOSS.jsonl); LOSS is
# contrastive unless named; DISTILL_CONFIG defaults to tools/configs/mini/distill.json. Each
# distillation takes as long as the recipe's (about 9 min on two CPU cores for a world of 2,000
# scenes). Nothing it trains is kept.
set -euo pipefail
cd "$(dirname "$0")/../.."
run=${1:?usage: flawless-teacher.sh RUN [LOSS] [DISTILL_CONFIG]}
loss=${2:-contrastive}
config=${3:-tools/configs/mini/distill.json}
for need in "$run/world/scenes.jsonl" "$run/world/manifest.jsonl" "$run/world/held_out.jsonl" \
    "$run/align-$loss/best/weights.safetensors" "$run/labels-$loss.jsonl"; do
    [ -e "$need" ] || { echo "flawless-teacher.sh: $need: not found (a finished recipe run?)" >&2; exit 1; }
done
tools=${EARSIGHT_TOOLS:-}
if [ -z "$tools" ]; then
    cargo build --release --quiet -p earsight-tools
    tools=./target/release/earsight-tools
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$run/world/scenes.jsonl" "$run/labels-$loss.jsonl" "$work/pictured.jsonl" <<'PY'
import json, sys
scenes = {}
for line in open(sys.argv[1]):
    s = json.loads(line)
    scenes[s["id"]] = s
with open(sys.argv[3], "w") as out:
    for line in open(sys.argv[2]):
        label = json.loads(line)
        shown = scenes[label["id"]]["visual_captions"]
        if not shown:
            sys.exit(f"{sys.argv[1]}: scene {label['id']} has no visual caption")
        out.write(json.dumps({"id": label["id"], "split": label["split"], "caption": shown[0]}) + "\n")
PY
cp "$run/labels-$loss.jsonl" "$work/teacher.jsonl"
for teacher in teacher pictured; do
    "$tools" train distill --config "$config" --data "$run/world" \
        --model "$run/align-$loss/best" --out "$work/$teacher" \
        --labels "$work/$teacher.jsonl" --quiet >"$work/$teacher.log" 2>&1 ||
        { cat "$work/$teacher.log" >&2; exit 1; }
    "$tools" export --weights "$work/$teacher/best" --out "$work/$teacher-int8" --int8 >/dev/null
    "$tools" eval --model "$work/$teacher-int8" --data "$run/world/held_out.jsonl" \
        --out "$work/$teacher-real" >/dev/null
    "$tools" eval --model "$work/$teacher-int8" --data "$run/world/manifest.jsonl" \
        --split test --out "$work/$teacher-test" >/dev/null
done
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
names = {"teacher": "the run's teacher (pseudo-labels)", "pictured": "flawless picture captioner"}
print("| stage 2 learns from | real-fold recall | real-fold false source captions | world-test recall |")
print("|---|---|---|---|")
for teacher, name in names.items():
    real = json.load(open(f"{work}/{teacher}-real/eval.json"))
    test = json.load(open(f"{work}/{teacher}-test/eval.json"))
    print(f"| {name} | {real['source_recall']:.3f} | {real['false_source_captions']} of "
          f"{real['labelled_clips']} | {test['source_recall']:.3f} |")
PY
