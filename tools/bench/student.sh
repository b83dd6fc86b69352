#!/usr/bin/env bash
# A convolutional student's graph against onnxruntime, and against the ViT encoder of a bundle,
# side by side in one run: writes the student's f32 and int8 graphs from a `train teach`
# checkpoint, then in interleaved rounds times each graph in tract (`teacher student-graph
# --time`) and in onnxruntime (one thread each), and the bundle's encoder in both (`earsight
# bench`, whose encoder time is tract's). Prints medians and ratios.
#
#   tools/bench/student.sh CHECKPOINT [BUNDLE] [ROUNDS]     (default models/mini, 3)
#
# Needs python3 with numpy and onnxruntime (tools/tests/oracle/requirements.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
checkpoint=${1:?usage: tools/bench/student.sh CHECKPOINT [BUNDLE] [ROUNDS]}
bundle=${2:-models/mini}
rounds=${3:-3}
cargo build --release --quiet -p earsight -p earsight-tools
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tools=./target/release/earsight-tools
"$tools" teacher student-graph --checkpoint "$checkpoint" --out "$work/f32.onnx" 2>/dev/null
"$tools" teacher student-graph --checkpoint "$checkpoint" --out "$work/int8.onnx" --int8 2>/dev/null
for round in $(seq "$rounds"); do
    for scheme in f32 int8; do
        flags=()
        if [ "$scheme" = int8 ]; then flags=(--int8); fi
        "$tools" teacher student-graph --checkpoint "$checkpoint" --out "$work/$scheme.onnx" \
            "${flags[@]}" --time 30 2>/dev/null | sed "s/^/tract $scheme $round /"
    done
    ./target/release/earsight bench --model "$bundle" --runs 30 --json 2>/dev/null |
        sed "s/^/tract vit $round /"
    python3 - "$work" "$bundle" "$round" <<'PY'
import json, os, sys, time
import numpy as np
import onnxruntime as ort
work, bundle, round_ = sys.argv[1:4]
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
graphs = {"f32": os.path.join(work, "f32.onnx"), "int8": os.path.join(work, "int8.onnx"),
          "vit": os.path.join(bundle, "encoder.onnx")}
for name, path in graphs.items():
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    window = np.random.default_rng(0).uniform(-1, 1, spec.shape).astype(np.float32)
    session.run(None, {spec.name: window})
    runs = []
    for _ in range(30):
        began = time.perf_counter()
        session.run(None, {spec.name: window})
        runs.append(1e3 * (time.perf_counter() - began))
    print(f"ort {name} {round_} " + json.dumps({"run_ms": runs}))
PY
done >"$work/results.txt"
python3 - "$work" <<'PY'
import json, os, statistics, sys
work = sys.argv[1]
times = {}
for line in open(os.path.join(work, "results.txt")):
    engine, graph, _, payload = line.split(" ", 3)
    record = json.loads(payload)
    runs = record["run_ms"] if "run_ms" in record else [record["encoder_ms"]]
    times.setdefault((engine, graph), []).append(statistics.median(runs))
def med(engine, graph):
    return statistics.median(times[(engine, graph)])
print("| graph | MB | tract ms | onnxruntime ms | tract / onnxruntime |")
print("|---|---|---|---|---|")
for graph in ["f32", "int8", "vit"]:
    path = os.path.join(work, graph + ".onnx")
    size = f"{os.path.getsize(path) / 1e6:.2f}" if os.path.exists(path) else "-"
    t, o = med("tract", graph), med("ort", graph)
    print(f"| {graph} | {size} | {t:.2f} | {o:.2f} | {t / o:.2f}x |")
PY
