#!/usr/bin/env bash
# Every measurement of a convolutional student (issue 34) from one `train teach` run, into one
# folder: zero-shot accuracy of the student (f32 and int8 graphs) and of the teacher on ESC-10
# fold 4 and UrbanSound8K fold 1 (both held out by tools/configs/teach-conv.json), thresholds
# per tag, the tags measured on both folds and on silence and quiet noise, the training curves
# and the per-label recall as PNG, and the graph's speed against onnxruntime.
#
#   tools/bench/student-report.sh RUN TEACHER DATA OUT [CONFIG]
#   (here: runs/teach-conv ../shared/models/efficientat-mn04 ../shared/data runs/report)
#
# CONFIG is the recipe the run was trained with (default tools/configs/teach-conv.json): the
# thresholds are tuned on mixtures of the clips it holds out for validation.
set -euo pipefail
cd "$(dirname "$0")/../.."
run=${1:?usage: tools/bench/student-report.sh RUN TEACHER DATA OUT}
teacher=${2:?}
data=${3:?}
out=${4:?}
config=${5:-tools/configs/teach-conv.json}
mkdir -p "$out"
cargo build --release --quiet -p earsight-tools
tools=./target/release/earsight-tools
student="$run/best"
us8k=(--metadata urbansound8k/metadata.csv --map tools/configs/us8k-audioset.json --fold 1)
"$tools" teacher zero-shot --teacher "$teacher" --data "$data" --json >"$out/esc10-teacher.json"
"$tools" teacher zero-shot --teacher "$teacher" --data "$data" --student "$student" --json \
    >"$out/esc10-student.json"
"$tools" teacher zero-shot --teacher "$teacher" --data "$data" --student "$student" --int8 \
    --json >"$out/esc10-student-int8.json"
"$tools" teacher zero-shot --teacher "$teacher" --data "$data" "${us8k[@]}" --json \
    >"$out/us8k-teacher.json"
"$tools" teacher zero-shot --teacher "$teacher" --data "$data" --student "$student" \
    "${us8k[@]}" --json >"$out/us8k-student.json"
"$tools" teacher thresholds --student "$student" --teacher "$teacher" --data "$data" \
    --config "$config" --out "$out/thresholds.json" >/dev/null
"$tools" teacher tag-eval --student "$student" --thresholds "$out/thresholds.json" \
    --data "$data" >"$out/tags-esc10.json"
"$tools" teacher tag-eval --student "$student" --thresholds "$out/thresholds.json" \
    --data "$data" "${us8k[@]}" >"$out/tags-us8k.json"
python3 tools/bench/plot.py curves "$out/curves.png" "$run"
python3 tools/bench/plot.py recall "$out/esc10-recall.png" "$out/esc10-teacher.json" \
    "$out/esc10-student.json"
python3 tools/bench/plot.py recall "$out/us8k-recall.png" "$out/us8k-teacher.json" \
    "$out/us8k-student.json"
tools/bench/student.sh "$student" >"$out/speed.md"
python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
def load(name):
    return json.load(open(os.path.join(out, name)))
for name in ["esc10-teacher", "esc10-student", "esc10-student-int8", "us8k-teacher", "us8k-student"]:
    r = load(name + ".json")
    print(f"{name}: {r['correct']}/{r['clips']} = {r['accuracy']:.4f}")
t = load("thresholds.json")
tuned = [x["label"] for x in t["tags"] if x["threshold"] is not None]
print(f"thresholds: {len(tuned)} of {len(t['tags'])} tags tuned ({', '.join(tuned)})")
for name in ["tags-esc10", "tags-us8k"]:
    r = load(name + ".json")
    print(f"{name}: top tag {r['top_tag_accuracy']:.4f}, precision {r['right']}/{r['fired']} = "
          f"{r['precision']:.4f}, recall {r['recall']:.4f}, on silence {r['fired_on_silence']}, "
          f"on -70 dBFS noise {r['fired_on_quiet_noise']}")
print(open(os.path.join(out, "speed.md")).read())
PY
