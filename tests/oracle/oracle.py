"""Independent oracles for earsight's tests: the `onnx` checker, onnxruntime and librosa.

Called by the Rust integration tests with a directory of .npy files that the runtime wrote;
prints what it measured and exits non-zero when a check fails.

  oracle.py onnx CASE_DIR      graphs in CASE_DIR/bundle*/ against tract's outputs
  oracle.py frontend CASE_DIR  log-mel frames against librosa on the same samples
"""

import json
import sys
from pathlib import Path

import numpy as np


def relative_error(found, reference):
    scale = max(1.0, float(np.abs(reference).max()))
    return float(np.abs(found.astype(np.float64) - reference).max()) / scale


def cosine(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def check_onnx(case: Path) -> bool:
    import onnx
    import onnxruntime as ort

    spec = json.loads((case / "case.json").read_text())
    ok = True
    for bundle in spec["bundles"]:
        root = case / bundle["dir"]
        manifest = json.loads((root / "manifest.json").read_text())
        for graph in ("encoder.onnx", "decoder.onnx"):
            onnx.checker.check_model(str(root / graph), full_check=True)
        print(f"{bundle['dir']}: onnx.checker full_check passed for both graphs")

        options = ort.SessionOptions()
        # ALL would rewrite the int8 patterns into fused kernels; BASIC keeps the graph's maths.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        enc = ort.InferenceSession(str(root / "encoder.onnx"), options, providers=["CPUExecutionProvider"])
        dec = ort.InferenceSession(str(root / "decoder.onnx"), options, providers=["CPUExecutionProvider"])
        depth = manifest["model"]["decoder"]["depth"]
        heads = manifest["model"]["decoder"]["heads"]
        head_dim = manifest["model"]["decoder"]["dim"] // heads
        worst_memory, worst_logits = 0.0, 0.0
        cosines = {"onnxruntime": 1.0, "tract": 1.0}
        for i in range(spec["inputs"]):
            mel = np.load(case / f"mel_{i}.npy")
            outputs = dict(zip([o.name for o in enc.get_outputs()], enc.run(None, {"mel": mel})))
            tract_memory = np.load(root / f"memory_{i}.npy")
            worst_memory = max(worst_memory, relative_error(outputs["memory"], tract_memory))
            tokens = np.load(root / f"tokens_{i}.npy")
            tract_logits = np.load(root / f"logits_{i}.npy")
            past = {}
            for layer in range(depth):
                for kv in ("k", "v"):
                    past[f"past_{kv}.{layer}"] = np.zeros((1, heads, 0, head_dim), np.float32)
            for step, token in enumerate(tokens):
                feed = {
                    "input_ids": np.array([[token]], np.int64),
                    "position_ids": np.array([[step]], np.int64),
                    **past,
                }
                for layer in range(depth):
                    feed[f"cross_k.{layer}"] = outputs[f"cross_k.{layer}"]
                    feed[f"cross_v.{layer}"] = outputs[f"cross_v.{layer}"]
                result = dict(zip([o.name for o in dec.get_outputs()], dec.run(None, feed)))
                ort_logits = result["logits"][0, 0]
                worst_logits = max(worst_logits, relative_error(ort_logits, tract_logits[step]))
                if "reference" in bundle:
                    f32 = np.load(case / bundle["reference"] / f"logits_{i}.npy")[step]
                    for who, found in (("onnxruntime", ort_logits), ("tract", tract_logits[step])):
                        cosines[who] = min(cosines[who], cosine(found, f32))
                for layer in range(depth):
                    for kv in ("k", "v"):
                        past[f"past_{kv}.{layer}"] = result[f"present_{kv}.{layer}"]
        if "reference" in bundle:
            passed = min(cosines.values()) > bundle["min_cosine"]
            verdict = (
                f"lowest cosine with the f32 logits: onnxruntime {cosines['onnxruntime']:.5f}, "
                f"tract {cosines['tract']:.5f} (must exceed {bundle['min_cosine']})"
            )
        else:
            tolerance = bundle["tolerance"]
            passed = worst_memory <= tolerance and worst_logits <= tolerance
            verdict = f"tolerance {tolerance:.0e}"
        ok &= passed
        print(
            f"{bundle['dir']}: onnxruntime (BASIC) vs tract over {spec['inputs']} inputs: "
            f"memory {worst_memory:.2e}, logits {worst_logits:.2e} relative; {verdict} "
            f"{'ok' if passed else 'FAILED'}"
        )
    return ok


def runtime_log_mel(samples, f):
    """The runtime's log-mel of `samples` for the bundle frontend `f`, made with librosa:
    `[frames, n_mels]` natural logs of the power, floored at `log_floor`, before normalisation."""
    import librosa

    pad = (f["n_fft"] - f["win_length"]) // 2
    # librosa centres a win_length window in each n_fft frame; padding the front by the
    # difference puts frame k's window on samples [k*hop, k*hop + win_length), as ours.
    power = librosa.feature.melspectrogram(
        y=np.pad(samples, (pad, pad)),
        sr=f["sample_rate"],
        n_fft=f["n_fft"],
        hop_length=f["hop_length"],
        win_length=f["win_length"],
        window="hann",
        center=False,
        power=2.0,
        n_mels=f["n_mels"],
        fmin=f["fmin"],
        fmax=f["fmax"],
        htk=True,
        norm=None,
    ).T
    return power, np.log(np.maximum(power, f["log_floor"]))


def runtime_window(path, f):
    """The normalised log-mel window `[clip_frames, n_mels]` the runtime makes of the audio file
    at `path`: resampled to the frontend's rate, a short clip looped to fill the window."""
    import librosa

    need = f["hop_length"] * (f["clip_frames"] - 1) + f["win_length"]
    audio, _ = librosa.load(path, sr=f["sample_rate"])
    if len(audio) == 0:
        raise SystemExit(f"{path}: no audio")
    audio = np.tile(audio, need // len(audio) + 1)[:need]
    _, log_power = runtime_log_mel(audio.astype(np.float64), f)
    return ((log_power - f["norm_mean"]) / f["norm_std"]).astype(np.float32)


def check_frontend(case: Path) -> bool:
    spec = json.loads((case / "case.json").read_text())
    f = spec["frontend"]
    ok = True
    for name in spec["clips"]:
        samples = np.load(case / f"{name}_samples.npy").astype(np.float64)
        ours = np.load(case / f"{name}_mel.npy").astype(np.float64)
        power, reference = runtime_log_mel(samples, f)
        if reference.shape != ours.shape:
            print(f"{name}: shape {ours.shape}, librosa {reference.shape} FAILED")
            ok = False
            continue
        above = power > f["log_floor"]
        error = float(np.abs(ours - reference)[above].max())
        passed = error <= 1e-3
        ok &= passed
        print(
            f"{name}: {ours.shape[0]} frames, max |ours - librosa| above the floor = {error:.2e} "
            f"(ln units, {above.mean() * 100:.1f}% of bins) {'ok' if passed else 'FAILED'}"
        )
    return ok


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("onnx", "frontend"):
        print(__doc__)
        sys.exit(2)
    case = Path(sys.argv[2])
    ok = check_onnx(case) if sys.argv[1] == "onnx" else check_frontend(case)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
