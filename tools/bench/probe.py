#!/usr/bin/env python3
"""Whether a bundle's audio encoder holds what the world's scenes hold, apart from its decoder.

A caption can miss a source that the encoder heard. This asks the encoder alone: its memory
(the audio tokens the decoder reads) of each train scene, mean and max pooled, goes to a
logistic probe per class, fitted to the scenes' true sources (heard, or pictured); then each
held-out real clip is asked which of its fold's classes it holds (arg max), and the accuracy is
printed. Side by side in the same run, the same probe on log-mel statistics of the same windows
(per band: mean, standard deviation, mean absolute frame-to-frame change): what a learnt encoder
should beat. The labels are the probe's alone; nothing here trains a model that ships.

  python3 tools/bench/probe.py --world runs/NAME/world runs/NAME/bundles/*-int8

Windows are the runtime's (tests/oracle's librosa frontend, a clip looped to the window).
Needs scikit-learn besides tests/oracle/requirements.txt (CI does not run it).
"""
import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from bench_world import ROLES, World


def mel_statistics(w):
    return np.concatenate([w.mean(0), w.std(0), np.abs(np.diff(w, axis=0)).mean(0)])


def encoder_features(bundle, windows):
    encoder = bundle / "encoder.onnx"
    session = ort.InferenceSession(str(encoder), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    features = []
    for w in windows:
        memory = session.run(None, {name: w[None].astype(np.float32)})[0][0]
        features.append(np.concatenate([memory.mean(0), memory.max(0)]))
    return np.stack(features)


def probe(world, y, train, real):
    scale = StandardScaler().fit(train)
    train, real = scale.transform(train), scale.transform(real)
    scores = np.full((len(real), len(world.classes)), -1.0)
    for k in world.asked_index:
        if y[:, k].all() or not y[:, k].any():
            raise SystemExit(f"class {world.classes[k]}: in every train scene or in none")
        fit = LogisticRegression(C=0.1, max_iter=3000).fit(train, y[:, k])
        scores[:, k] = fit.predict_proba(real)[:, 1]
    return world.accuracy(scores)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--world", type=Path, required=True, help="a world made with --hold-out-fold")
    ap.add_argument("--teacher", choices=sorted(ROLES), default="heard")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("bundles", type=Path, nargs="+")
    a = ap.parse_args()
    frontends = {}
    for bundle in a.bundles:
        manifest = bundle / "manifest.json"
        if not manifest.is_file():
            raise SystemExit(f"{bundle}: not a bundle (no manifest.json)")
        frontends[bundle] = json.loads(manifest.read_text())["model"]["frontend"]
    f = frontends[a.bundles[0]]
    for bundle, other in frontends.items():
        if other != f:
            raise SystemExit(f"{bundle}: its frontend differs from {a.bundles[0]}'s")
    world = World(a.world)
    y = np.array(world.targets(a.teacher))
    train, real = world.windows(f, a.jobs)
    windows = np.concatenate([train, real])
    n = len(train)
    rows = [("log-mel statistics (baseline)", np.stack([mel_statistics(w) for w in windows]))]
    rows += [(str(b), encoder_features(b, windows)) for b in a.bundles]
    print(f"{n} train scenes ({a.teacher} sources), {len(world.real)} real clips")
    print("| features | dims | real-fold probe accuracy |")
    print("|---|---|---|")
    for name, x in rows:
        print(f"| {name} | {x.shape[1]} | {probe(world, y, x[:n], x[n:]):.3f} |", flush=True)


if __name__ == "__main__":
    main()
