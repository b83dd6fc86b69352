#!/usr/bin/env bash
# Side-by-side benchmark of the weight schemes on one seeded bundle: exports the same weights
# with each pair of encoder and decoder schemes (f32, int8-weights = Cast -> MatMul -> scale,
# int8-dynamic = MatMulInteger), runs `earsight bench` on each in turn (one process each, so
# peak RSS is per pair), and prints ratios to f32. "load + caption" is what one
# `earsight caption` of a window costs: the graphs' load and optimisation, then the caption.
#
#   tools/bench/quantization.sh [CONFIG] [THREADS]     (default tools/configs/mini.json, 1)
set -euo pipefail
cd "$(dirname "$0")/../.."
config=${1:-tools/configs/mini.json}
threads=${2:-1}
cargo build --release --quiet -p earsight -p earsight-tools
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pairs="f32:f32 int8-weights:int8-weights int8-dynamic:int8-dynamic int8-weights:int8-dynamic"
for pair in $pairs; do
    ./target/release/earsight-tools export --config "$config" --seed 1 --out "$work/$pair" \
        --encoder-quant "${pair%%:*}" --decoder-quant "${pair##*:}" >/dev/null
done
# Interleaved rounds, so that drift of the machine's speed hits every pair alike.
for round in 1 2 3; do
    for pair in $pairs; do
        ./target/release/earsight bench --model "$work/$pair" --threads "$threads" --runs 20 --json \
            2>/dev/null | sed "s/^/$pair $round /"
    done
done >"$work/results.txt"
python3 - "$work" <<'PY'
import json, os, sys, statistics
work = sys.argv[1]
rows = {}
for line in open(os.path.join(work, "results.txt")):
    pair, _, payload = line.split(" ", 2)
    rows.setdefault(pair, []).append(json.loads(payload))
def med(pair, key):
    return statistics.median(r[key] for r in rows[pair])
def total(pair):
    return statistics.median(r["load_ms"] + r["caption_ms"] for r in rows[pair])
def size(pair, graph):
    return os.path.getsize(os.path.join(work, pair, graph)) / 1e6
base = "f32:f32"
print(f"{'encoder:decoder':<28}{'enc MB':>8}{'dec MB':>8}{'RSS MB':>8}{'load ms':>9}{'enc ms':>9}"
      f"{'tok ms':>9}{'caption ms':>12}{'load+caption':>14}")
for p in rows:
    print(f"{p:<28}{size(p,'encoder.onnx'):8.2f}{size(p,'decoder.onnx'):8.2f}{med(p,'peak_rss_mb'):8.1f}"
          f"{med(p,'load_ms'):9.1f}{med(p,'encoder_ms'):9.2f}{med(p,'decoder_token_ms'):9.3f}"
          f"{med(p,'caption_ms'):12.2f}{total(p):14.1f}")
print("\nratios to f32 (below 1 = smaller / faster):")
for p in rows:
    if p == base:
        continue
    disk = (size(p,'encoder.onnx') + size(p,'decoder.onnx')) / (size(base,'encoder.onnx') + size(base,'decoder.onnx'))
    print(f"{p:<28} size {disk:.2f}  peak RSS {med(p,'peak_rss_mb')/med(base,'peak_rss_mb'):.2f}  "
          f"load {med(p,'load_ms')/med(base,'load_ms'):.2f}  "
          f"encoder {med(p,'encoder_ms')/med(base,'encoder_ms'):.2f}  "
          f"per token {med(p,'decoder_token_ms')/med(base,'decoder_token_ms'):.2f}  "
          f"caption {med(p,'caption_ms')/med(base,'caption_ms'):.2f}  "
          f"load+caption {total(p)/total(base):.2f}")
PY
