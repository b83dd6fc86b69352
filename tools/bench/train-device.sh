#!/usr/bin/env bash
# The training stages on the CPU and on a CUDA GPU, side by side in one run: the same seeded
# data and weights, a few steps of each stage at the mini size, timed after 3 warm-up steps (a
# GPU compiles and tunes its kernels in its first steps). Checks that the first step's loss
# agrees between devices (relative difference under 1e-3: float rounding only) and prints the
# step times, examples/s and the GPU/CPU throughput ratio per stage.
#
#   tools/bench/train-device.sh [BATCH] [STEPS]     (default 8 and 10)
#
# Needs an NVIDIA driver; the CUDA build needs no nvcc (burn loads libcuda and NVRTC at run
# time). On a GPU host without Rust or crates.io, build `cargo build --release -p earsight-tools
# --features cuda` elsewhere and name the binary in EARSIGHT_TOOLS.
set -euo pipefail
cd "$(dirname "$0")/../.."
batch=${1:-8}
steps=${2:-10}
tools=${EARSIGHT_TOOLS:-}
if [ -z "$tools" ]; then
    cargo build --release --quiet -p earsight-tools --features cuda
    tools=./target/release/earsight-tools
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for device in cpu cuda; do
    "$tools" bench-train --device "$device" --batch-size "$batch" \
        --steps "$steps" --json >"$work/$device.json"
done
python3 - "$work/cpu.json" "$work/cuda.json" <<'PY'
import json, sys
cpu, gpu = (json.load(open(p)) for p in sys.argv[1:3])
print("| stage | CPU ms/step | GPU ms/step | CPU ex/s | GPU ex/s | GPU/CPU throughput | first loss CPU | first loss GPU |")
print("|---|---|---|---|---|---|---|---|")
bad = []
for c, g in zip(cpu, gpu):
    ratio = g["examples_per_s"] / c["examples_per_s"]
    print(f"| {c['stage']} | {c['mean_step_ms']:.1f} | {g['mean_step_ms']:.1f} | "
          f"{c['examples_per_s']:.1f} | {g['examples_per_s']:.1f} | {ratio:.2f}x | "
          f"{c['first_loss']:.6f} | {g['first_loss']:.6f} |")
    if abs(c["first_loss"] - g["first_loss"]) > 1e-3 * max(1.0, abs(c["first_loss"])):
        bad.append(c["stage"])
if bad:
    sys.exit(f"first losses differ between CPU and GPU in: {', '.join(bad)}")
print("first losses agree between CPU and GPU")
PY
