#!/usr/bin/env bash
# Side-by-side benchmark of the weight schemes on one seeded bundle: exports the same weights
# as f32, int8-weights (DequantizeLinear) and int8-dynamic (MatMulInteger), runs `earsight bench`
# on each in turn (one process each, so peak RSS is per scheme), and prints ratios to f32.
#
#   tools/bench/quantization.sh [CONFIG] [THREADS]     (default tools/configs/mini.json, 1)
set -euo pipefail
cd "$(dirname "$0")/../.."
config=${1:-tools/configs/mini.json}
threads=${2:-1}
cargo build --release --quiet -p earsight -p earsight-tools
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for scheme in f32 int8-weights int8-dynamic; do
    ./target/release/earsight-tools export --config "$config" --seed 1 --out "$work/$scheme" \
        --encoder-quant "$scheme" --decoder-quant "$scheme" >/dev/null
done
# Interleaved rounds, so that drift of the machine's speed hits every scheme alike.
for round in 1 2 3; do
    for scheme in f32 int8-weights int8-dynamic; do
        ./target/release/earsight bench --model "$work/$scheme" --threads "$threads" --runs 20 --json \
            2>/dev/null | sed "s/^/$scheme $round /"
    done
done >"$work/results.txt"
python3 - "$work" <<'PY'
import json, os, sys, statistics
work = sys.argv[1]
rows = {}
for line in open(os.path.join(work, "results.txt")):
    scheme, _, payload = line.split(" ", 2)
    rows.setdefault(scheme, []).append(json.loads(payload))
def med(scheme, key):
    return statistics.median(r[key] for r in rows[scheme])
def size(scheme, graph):
    return os.path.getsize(os.path.join(work, scheme, graph)) / 1e6
print(f"{'scheme':<14}{'enc MB':>8}{'dec MB':>8}{'RSS MB':>8}{'enc ms':>9}{'tok ms':>9}{'caption ms':>12}{'RTF':>9}")
for s in rows:
    print(f"{s:<14}{size(s,'encoder.onnx'):8.2f}{size(s,'decoder.onnx'):8.2f}{med(s,'peak_rss_mb'):8.1f}"
          f"{med(s,'encoder_ms'):9.2f}{med(s,'decoder_token_ms'):9.3f}{med(s,'caption_ms'):12.2f}{med(s,'real_time_factor'):9.5f}")
print("\nratios to f32 (below 1 = smaller / faster):")
for s in rows:
    if s == "f32":
        continue
    disk = (size(s,'encoder.onnx') + size(s,'decoder.onnx')) / (size('f32','encoder.onnx') + size('f32','decoder.onnx'))
    print(f"{s:<14} size {disk:.2f}  peak RSS {med(s,'peak_rss_mb')/med('f32','peak_rss_mb'):.2f}  "
          f"encoder time {med(s,'encoder_ms')/med('f32','encoder_ms'):.2f}  "
          f"decoder time per token {med(s,'decoder_token_ms')/med('f32','decoder_token_ms'):.2f}  "
          f"caption time {med(s,'caption_ms')/med('f32','caption_ms'):.2f}")
PY
