#!/usr/bin/env bash
# Live pipeline benchmark: a scene made of the fixture recordings, each followed by 10 s of a
# quiet room (white noise at about -70 dBFS), repeated to the wanted length, is played at
# real-time pace into `earsight listen`,
# pinned to one core, with a mini-sized bundle. Side by side in one run: f32 weights, int8
# weights (the `--int8` scheme, int8-weights), and int8 with the gate off. Prints per-stage
# latency, CPU use and ratios.
#
#   tools/bench/listen.sh [SECONDS] [HOP]      (default 60 s of audio, 2 s hop)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
hop=${2:-2}
cargo build --release --quiet -p earsight -p earsight-tools
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for scheme in f32 int8-weights; do
    ./target/release/earsight-tools export --config tools/configs/mini.json --seed 1 \
        --out "$work/$scheme" --encoder-quant "$scheme" --decoder-quant "$scheme" >/dev/null
done
python3 - "$work/scene.wav" "$seconds" <<'PY'
import sys, numpy as np, librosa, soundfile
out, seconds = sys.argv[1], float(sys.argv[2])
rng = np.random.default_rng(1)
parts = []
for name in ["dog_bark.ogg", "rain.ogg", "rooster.mp3", "factory_whistle.wav"]:
    y, _ = librosa.load(f"tests/fixtures/audio/{name}", sr=16000, mono=True)
    quiet = rng.uniform(-0.00055, 0.00055, 10 * 16000).astype(np.float32)
    parts += [y, quiet]
scene = np.concatenate(parts)
scene = np.tile(scene, int(np.ceil(seconds * 16000 / len(scene))))[: int(seconds * 16000)]
soundfile.write(out, scene, 16000, subtype="FLOAT")
PY
pin=""
command -v taskset >/dev/null && pin="taskset -c 0"
run() {  # label, bundle, extra args...
    local label=$1 bundle=$2
    shift 2
    $pin ./target/release/earsight listen --model "$work/$bundle" --input "$work/scene.wav" \
        --realtime --hop "$hop" --json "$@" >"$work/$label.events" 2>"$work/$label.err"
    grep '^{"summary"' "$work/$label.err" | sed "s/^/$label /"
}
{
    run f32 f32
    run int8 int8-weights
    run int8-gate-off int8-weights --gate-db -200 --gate-active 0
} >"$work/results.txt"
python3 - "$work/results.txt" "$seconds" "$hop" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    label, payload = line.split(" ", 1)
    rows[label] = json.loads(payload)["summary"]
print(f"mini-sized bundle, {sys.argv[2]} s scene at real-time pace, hop {sys.argv[3]} s, one core")
print("frontend/wait/encoder/decoder: mean ms per captioned window; latency: window end to event")
cols = ["windows", "captioned", "gated", "skipped_behind", "frontend_ms_mean", "wait_ms_mean",
        "encoder_ms_mean", "decoder_ms_mean", "latency_ms_mean", "latency_ms_p95",
        "real_time_factor", "cpu_percent", "peak_rss_mb"]
print(f"{'':<16}" + "".join(f"{c.replace('_mean','').replace('_ms','')[:10]:>11}" for c in cols))
for label, s in rows.items():
    print(f"{label:<16}" + "".join(f"{s[c]:>11.3f}" if isinstance(s[c], float) else f"{s[c]:>11}" for c in cols))
f, i, g = rows["f32"], rows["int8"], rows["int8-gate-off"]
print("\nratios (below 1 = less):")
print(f"int8 / f32           latency {i['latency_ms_mean']/f['latency_ms_mean']:.2f}  "
      f"encoder {i['encoder_ms_mean']/f['encoder_ms_mean']:.2f}  decoder {i['decoder_ms_mean']/f['decoder_ms_mean']:.2f}  "
      f"CPU {i['cpu_percent']/f['cpu_percent']:.2f}  peak RSS {i['peak_rss_mb']/f['peak_rss_mb']:.2f}")
print(f"gate on / gate off   CPU {i['cpu_percent']/g['cpu_percent']:.2f}  "
      f"windows captioned {i['captioned']}/{g['captioned']}")
PY
