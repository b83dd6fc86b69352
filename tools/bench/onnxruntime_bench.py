"""One round of what `earsight bench` measures, in onnxruntime, on a bundle's own graphs.

    python3 tools/bench/onnxruntime_bench.py BUNDLE RUNS TOKENS

Prints one JSON line with the same keys as `earsight bench --json` (milliseconds, medians over
RUNS): loading every graph, the encoder on one window, one decoder step of a forced-length
greedy search with the explicit KV cache (TOKENS steps from an empty cache, as `earsight
bench --tokens TOKENS`), and the tagger over a window cut in pieces as the runtime cuts it.
Also the process's peak RSS, and its RSS before any graph was loaded (Python, numpy and
onnxruntime imported).
Used by tools/bench/onnxruntime.sh; the baseline for the runtime, never part of it.
"""

import json
import os
import resource
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def piece_starts(available, frames):
    if available <= frames:
        return [0]
    return list(range(0, available - frames, frames)) + [available - frames]


def timed(f, runs):
    f()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        f()
        times.append(1e3 * (time.perf_counter() - began))
    return statistics.median(times)


def main():
    bundle, runs, tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    baseline = rss_mb()
    manifest = json.load(open(os.path.join(bundle, "manifest.json")))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    cpu = ["CPUExecutionProvider"]
    began = time.perf_counter()
    encoder = ort.InferenceSession(os.path.join(bundle, "encoder.onnx"), options, providers=cpu)
    decoder = ort.InferenceSession(os.path.join(bundle, "decoder.onnx"), options, providers=cpu)
    tagger = None
    if "tagger" in manifest:
        tagger = ort.InferenceSession(os.path.join(bundle, "tagger.onnx"), options, providers=cpu)
    load_ms = 1e3 * (time.perf_counter() - began)

    frontend = manifest["model"]["frontend"]
    frames, n_mels = frontend["clip_frames"], frontend["n_mels"]
    rng = np.random.default_rng(0)
    mel = rng.normal(0.0, 1.0, (1, frames, n_mels)).astype(np.float32)
    memory = encoder.run(None, {"mel": mel})
    encoder_ms = timed(lambda: encoder.run(None, {"mel": mel}), runs)

    names = [o.name for o in encoder.get_outputs()]
    cross = {n: v for n, v in zip(names, memory) if n.startswith("cross_")}
    past_names = [i.name for i in decoder.get_inputs() if i.name.startswith("past_")]
    d = manifest["model"]["decoder"]
    head_dim = d["dim"] // d["heads"]
    bos = manifest["tokens"]["bos"]

    def decode():
        past = {n: np.zeros((1, d["heads"], 0, head_dim), np.float32) for n in past_names}
        token = bos
        for position in range(tokens):
            outputs = decoder.run(None, {
                "input_ids": np.array([[token]], np.int64),
                "position_ids": np.array([[position]], np.int64),
                **past,
                **cross,
            })
            token = int(np.argmax(outputs[0][0, -1]))
            past = {n: v for n, v in zip(past_names, outputs[1:])}

    decoder_token_ms = timed(decode, runs) / tokens

    tagger_ms = None
    if tagger is not None:
        piece = manifest["tagger"]["frames"]
        pieces = [np.ascontiguousarray(mel[:, s:s + piece]) for s in piece_starts(frames, piece)]

        def tag():
            for p in pieces:
                tagger.run(None, {"mel": p})

        tagger_ms = timed(tag, runs)

    model_ms = encoder_ms + tokens * decoder_token_ms + (tagger_ms or 0.0)
    print(json.dumps({
        "load_ms": load_ms,
        "encoder_ms": encoder_ms,
        "decoder_token_ms": decoder_token_ms,
        "tagger_ms": tagger_ms,
        "tokens": tokens,
        "model_ms": model_ms,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "baseline_rss_mb": baseline,
        "onnxruntime": ort.__version__,
    }))


main()
