#!/usr/bin/env bash
# earsight against onnxruntime on the same bundle, stage by stage, side by side in one run.
#
#   tools/bench/onnxruntime.sh [BUNDLE] [ROUNDS] [CPU]     (default models/mini, 5, the last core)
#
# Each round runs `earsight bench --threads 1 --json` (load, frontend, encoder, one decoder step
# of a forced-length greedy search with the KV cache, the tagger over a window) and then the
# same work in onnxruntime on the bundle's own encoder.onnx, decoder.onnx and tagger.onnx: one
# intra-op thread, every graph optimisation, the same input shapes, the same number of decoder
# steps from an empty cache, the tagger run once per piece as the runtime cuts a window. Both
# are pinned to the same core and alternate, round after round. Prints the medians over rounds
# and earsight's time over onnxruntime's per stage (below 1: earsight is faster), and both
# processes' peak RSS (onnxruntime's with and without the Python interpreter and its imports).
#
# Needs python3 with numpy and onnxruntime (tools/tests/oracle/requirements.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
bundle=${1:-models/mini}
rounds=${2:-5}
cpu=${3:-$(($(nproc) - 1))}
cargo build --release --quiet -p earsight
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for round in $(seq "$rounds"); do
    taskset -c "$cpu" ./target/release/earsight bench --model "$bundle" --threads 1 --runs 20 \
        --tokens 20 --json 2>/dev/null | sed "s/^/earsight /"
    taskset -c "$cpu" python3 tools/bench/onnxruntime_bench.py "$bundle" 20 20 | sed "s/^/onnxruntime /"
done >"$work/results.txt"
python3 - "$work/results.txt" "$bundle" "$rounds" <<'PY'
import json, statistics, sys
path, bundle, rounds = sys.argv[1:4]
runs = {"earsight": [], "onnxruntime": []}
for line in open(path):
    engine, payload = line.split(" ", 1)
    runs[engine].append(json.loads(payload))
def med(engine, key):
    values = [r[key] for r in runs[engine] if r.get(key) is not None]
    return statistics.median(values) if values else None
tokens = runs["earsight"][0]["tokens"]
stages = [
    ("load (all graphs)", "load_ms"),
    ("frontend, one window", "frontend_ms"),
    ("encoder, one window", "encoder_ms"),
    ("decoder, per token", "decoder_token_ms"),
    ("tagger, one window", "tagger_ms"),
    (f"caption of a window ({tokens} tokens, no load)", "model_ms"),
    ("peak RSS, MB", "peak_rss_mb"),
]
for r in runs["earsight"]:
    r["model_ms"] = r["caption_ms"] - r["frontend_ms"]
print(f"{bundle}: medians of {rounds} interleaved rounds, one thread, pinned")
print(f"| stage | earsight | onnxruntime | earsight / onnxruntime |")
print(f"|---|---|---|---|")
for name, key in stages:
    e, o = med("earsight", key), med("onnxruntime", key)
    fmt = lambda v: "-" if v is None else f"{v:.2f}"
    ratio = "-" if e is None or o is None else f"{e / o:.2f}x"
    print(f"| {name} | {fmt(e)} | {fmt(o)} | {ratio} |")
base = med("onnxruntime", "baseline_rss_mb")
print(f"onnxruntime's peak RSS less Python with numpy and onnxruntime imported ({base:.1f} MB): "
      f"{med('onnxruntime', 'peak_rss_mb') - base:.1f} MB")
print("caption of a window: encoder + tokens x decoder step + tagger (frontend apart: onnxruntime has none)")
PY
