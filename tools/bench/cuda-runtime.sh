#!/usr/bin/env bash
# The runtime's CUDA backend against its CPU path, side by side in one run (issue 38, step 6):
# `earsight caption --json` of every sample with `--backend cpu` and `--backend cuda` (the
# captions must be the same, the tag scores within 1e-3), then `earsight bench --json` of the
# bundle on each backend (load, encoder, decoder per token, tagger, a window's caption), with
# the GPU/CPU ratio of each stage. Exits non-zero when a caption or tag differs.
#
#   tools/bench/cuda-runtime.sh [BUNDLE] [RUNS]     (default models/mini and 20)
#
# Needs an NVIDIA GPU with its driver, NVRTC, cuBLAS and cuDNN. On a GPU host without Rust or
# crates.io, build `cargo build --release --features cuda` elsewhere and name the binary in
# EARSIGHT (a device session carries it as target/release/earsight).
set -euo pipefail
cd "$(dirname "$0")/../.."
bundle=${1:-models/mini}
runs=${2:-20}
earsight=${EARSIGHT:-}
if [ -z "$earsight" ]; then
    cargo build --release --quiet --features cuda
    earsight=./target/release/earsight
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for backend in cpu cuda; do
    "$earsight" caption --model "$bundle" --backend "$backend" --json models/samples/*.ogg \
        >"$work/captions-$backend.jsonl"
    "$earsight" bench --model "$bundle" --backend "$backend" --runs "$runs" --json \
        >"$work/bench-$backend.json"
done
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
rows = {b: [json.loads(l) for l in open(f"{work}/captions-{b}.jsonl")] for b in ("cpu", "cuda")}
bad = 0
print("| sample | caption (CPU) | the same on CUDA | largest tag score difference |")
print("|---|---|---|---|")
for c, g in zip(rows["cpu"], rows["cuda"]):
    tags_c = {t["label"]: t["score"] for t in c["tags"]}
    tags_g = {t["label"]: t["score"] for t in g["tags"]}
    same_tags = tags_c.keys() == tags_g.keys()
    diff = max((abs(tags_c[k] - tags_g[k]) for k in tags_c if k in tags_g), default=0.0)
    same = c["caption"] == g["caption"] and same_tags and diff <= 1e-3
    bad += not same
    shown = "yes" if c["caption"] == g["caption"] else g["caption"]
    print(f"| {c['file']} {c['start']:.0f} s | {c['caption']} | {shown} | "
          f"{diff:.1e}{'' if same_tags else ' (other tags fired)'} |")
if len(rows["cpu"]) != len(rows["cuda"]):
    bad += 1
    print(f"CPU gave {len(rows['cpu'])} captions, CUDA {len(rows['cuda'])}")
bench = {b: json.load(open(f"{work}/bench-{b}.json")) for b in ("cpu", "cuda")}
print()
print("| stage | CPU | CUDA | CUDA / CPU |")
print("|---|---|---|---|")
for key in ("load_ms", "frontend_ms", "encoder_ms", "decoder_token_ms", "tagger_ms", "caption_ms",
            "peak_rss_mb"):
    c, g = bench["cpu"].get(key), bench["cuda"].get(key)
    if c is None or g is None:
        continue
    print(f"| {key} | {c:.2f} | {g:.2f} | {g / c:.2f}x |")
sys.exit(1 if bad else 0)
PY
