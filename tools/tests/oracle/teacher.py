"""Oracle for tools/tests/teacher.rs: EfficientAT's numpy frontend (mel_frontend_numpy.py, the
file beside the teacher's graph) and onnxruntime on the teacher's graph, fed the same 32 kHz
samples the Rust teacher read. Prints, per clip, the largest absolute differences from what
the Rust teacher computed, as JSON; the Rust test holds them to its tolerance.

    python3 tools/tests/oracle/teacher.py TEACHER_DIR CASE_DIR

CASE_DIR holds case.json ({"clips": [names]}) and, per clip, NAME_samples.npy [n],
NAME_mel.npy [128, T], NAME_scores.npy, NAME_logits.npy, NAME_embedding.npy. Needs numpy and
onnxruntime.
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

teacher, case = Path(sys.argv[1]), Path(sys.argv[2])
sys.path.insert(0, str(teacher))
from mel_frontend_numpy import logmel  # noqa: E402

(graph,) = sorted(teacher.glob("*.onnx"))
options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
names = [o.name for o in session.get_outputs()]

report = {}
for clip in json.loads((case / "case.json").read_text())["clips"]:
    samples = np.load(case / f"{clip}_samples.npy")
    mel = logmel(samples)
    rust_mel = np.load(case / f"{clip}_mel.npy")
    found = {"numpy_frames": int(mel.shape[1]), "rust_frames": int(rust_mel.shape[1])}
    if mel.shape == rust_mel.shape:
        found["mel"] = float(np.abs(mel.astype(np.float64) - rust_mel).max())
    outputs = dict(zip(names, session.run(None, {"mel": mel[None, None]})))
    for name in ("scores", "logits", "embedding"):
        rust = np.load(case / f"{clip}_{name}.npy")
        found[name] = float(np.abs(outputs[name][0].astype(np.float64) - rust).max())
    report[clip] = found
print(json.dumps(report, indent=1))
