"""What the benchmark scripts ask of a world: the runtime's windows of its train scenes and
held-out real clips, which of its classes each train scene holds, and which class each real clip
is. Only benchmarks read these labels; no stage of the recipe trains on them."""
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "oracle"))
from oracle import runtime_window  # noqa: E402

# Which sources a perfect teacher names: those a scene's audio holds, or those its picture shows.
ROLES = {
    "heard": ("seen_and_heard", "heard_offscreen"),
    "pictured": ("seen_and_heard", "seen_silent"),
}


class World:
    def __init__(self, world: Path):
        held_out = world / "held_out.jsonl"
        if not held_out.is_file():
            raise SystemExit(f"{held_out}: missing; make the world with --hold-out-fold")
        scenes = [json.loads(line) for line in open(world / "scenes.jsonl")]
        self.real = [json.loads(line) for line in open(held_out)]
        self.train = [s for s in scenes if s["split"] == "train"]
        self.classes = sorted({x["class"] for s in scenes for x in s["sources"]})
        # The held-out fold's labels are ESC-10's; the world's classes name them in lower case.
        by_label = {"person_sneeze": "sneezing"}
        self.truth = [by_label.get(r["labels"][0].lower(), r["labels"][0].lower())
                      for r in self.real]
        missing = sorted(set(self.truth) - set(self.classes))
        if missing:
            raise SystemExit(f"held-out classes the world lacks: {missing}")
        # The real clips are asked which of the held-out fold's classes they are.
        self.asked = sorted(set(self.truth))
        self.asked_index = [self.classes.index(c) for c in self.asked]
        self.audio = [str(world / "audio" / f"{s['id']}.wav") for s in self.train]
        self.audio += [r["audio"] for r in self.real]

    def windows(self, f, jobs):
        """The runtime's normalised log-mel windows for frontend `f` (float16, to keep a few
        thousand in memory): those of the train scenes, then those of the real clips."""
        with ProcessPoolExecutor(jobs) as ex:
            w = np.stack(list(ex.map(_window, [(p, f) for p in self.audio], chunksize=16)))
        return w[: len(self.train)], w[len(self.train):]

    def targets(self, teacher):
        """[train scenes, classes] booleans: the sources a `teacher` (a key of ROLES) names."""
        roles = ROLES[teacher]
        return [[any(x["class"] == c and x["role"] in roles for x in s["sources"])
                 for c in self.classes] for s in self.train]

    def accuracy(self, scores):
        """Arg max of each real clip's scores over the asked classes, against its label.
        `scores` is [real clips, classes]."""
        guess = np.asarray(scores)[:, self.asked_index].argmax(1)
        return float(np.mean([self.asked[g] == t for g, t in zip(guess, self.truth)]))


def _window(args):
    return runtime_window(*args).astype(np.float16)
