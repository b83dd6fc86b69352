#!/usr/bin/env python3
"""How much of the held-out real fold the world can teach at most.

Trains an audio encoder of the model config's shape (patches, blocks, heads, width) on a
world's train scenes with a perfect teacher: each scene's true sources, either those heard or
those pictured (what a flawless picture captioner would say). Then it asks the held-out real
clips which of their classes sounds (arg max over the classes the held-out fold has) and prints
the accuracy after every epoch.

The DALI chain learns from pictures and a captioner's words; this learns from the world's own
labels, so it is a ceiling for the chain at this world and encoder size, not a model to ship:
nothing here is exported. Log-mel windows are the runtime's (tests/oracle's librosa frontend,
which the frontend tests hold the runtime to), a clip looped to the window as the runtime does.

  python3 tools/bench/ceiling.py --world runs/NAME/world --config tools/configs/mini.json \
      --teacher heard --epochs 5

Needs torch besides tests/oracle/requirements.txt (CI does not run it).
"""
import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bench_world import ROLES, World


class Encoder(nn.Module):
    """Patches -> pre-norm transformer blocks -> norm, as the mini audio encoder; then mean and
    max pooled into one logit per class. With `stem` channel counts, stride-2 3x3 convolutions
    (GELU between) make the tokens instead of the linear patch embedding, one per patch as
    before: as many convolutions as halve the window to the patch grid."""

    def __init__(self, f, e, classes, stem=()):
        super().__init__()
        self.grid = (f["clip_frames"] // e["patch_time"], f["n_mels"] // e["patch_freq"])
        self.patch_shape = (e["patch_time"], e["patch_freq"])
        tokens = self.grid[0] * self.grid[1]
        self.patch = nn.Linear(e["patch_time"] * e["patch_freq"], e["dim"])
        self.stem = None
        if stem:
            widths = [1, *stem, e["dim"]]
            if 2 ** (len(widths) - 1) != e["patch_time"] or e["patch_time"] != e["patch_freq"]:
                raise SystemExit(f"--stem: {len(widths) - 1} stride-2 convolutions do not make "
                                 f"{e['patch_time']}x{e['patch_freq']} patches")
            layers = []
            for a, b in zip(widths, widths[1:]):
                layers += [nn.Conv2d(a, b, 3, 2, 1), nn.GELU()]
            self.stem = nn.Sequential(*layers[:-1])
        self.pos = nn.Parameter(torch.randn(tokens, e["dim"]) * 0.02)
        layer = nn.TransformerEncoderLayer(
            e["dim"], e["heads"], e["dim"] * e["mlp_ratio"], 0.0, activation="gelu",
            batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, e["depth"], enable_nested_tensor=False)
        self.norm = nn.LayerNorm(e["dim"])
        self.out = nn.Linear(2 * e["dim"], classes)

    def forward(self, mel):
        b = mel.shape[0]
        (gt, gf), (pt, pf) = self.grid, self.patch_shape
        if self.stem is None:
            p = mel.reshape(b, gt, pt, gf, pf).transpose(2, 3).reshape(b, gt * gf, pt * pf)
            tokens = self.patch(p)
        else:
            tokens = self.stem(mel.unsqueeze(1)).flatten(2).transpose(1, 2)
        h = self.norm(self.blocks(tokens + self.pos))
        return self.out(torch.cat([h.mean(1), h.amax(1)], 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--world", type=Path, required=True, help="a world made with --hold-out-fold")
    ap.add_argument("--config", type=Path, required=True, help="a model config (frontend, encoder)")
    ap.add_argument("--teacher", choices=sorted(ROLES), default="heard")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--stem", default="", help="channels of a convolutional stem, e.g. 16,32,64")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    torch.set_num_threads(1)
    config = json.loads(a.config.read_text())
    f, e = config["frontend"], config["encoder"]
    world = World(a.world)
    y = np.array(world.targets(a.teacher), np.float32)
    x, x_real = world.windows(f, a.jobs)
    x_real = torch.tensor(x_real.astype(np.float32))

    net = Encoder(f, e, len(world.classes), [int(c) for c in a.stem.split(",") if c])
    opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=1e-4)
    gain = 5.0 * np.log(10) / 10 / f["norm_std"]  # +-5 dB in normalised log-mel units
    for epoch in range(a.epochs):
        net.train()
        order = rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), 32):
            idx = order[start:start + 32]
            batch = np.roll(x[idx].astype(np.float32), rng.integers(f["clip_frames"]), axis=1)
            batch = torch.tensor(batch) + torch.empty(len(idx), 1, 1).uniform_(-gain, gain)
            loss = nn.functional.binary_cross_entropy_with_logits(net(batch), torch.tensor(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        net.eval()
        with torch.no_grad():
            logits = torch.cat([net(x_real[i:i + 16]) for i in range(0, len(x_real), 16)])
        accuracy = world.accuracy(logits.numpy())
        print(json.dumps({"epoch": epoch + 1, "teacher": a.teacher, "train_scenes": len(x),
                          "loss": round(total / len(x), 4), "real_clips": len(world.real),
                          "real_accuracy": round(accuracy, 3)}), flush=True)


if __name__ == "__main__":
    main()
