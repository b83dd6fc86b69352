#!/usr/bin/env python3
"""Pictures of the measurements behind tools/bench/FINDINGS.md.

  plot.py curves OUT.png RUN_DIR [RUN_DIR ...]
      A `train teach` run's held-out accuracy and teacher agreement against examples seen,
      one line per run (read from RUN_DIR/metrics.jsonl), the teacher's accuracy dashed.
  plot.py recall OUT.png REPORT.json [REPORT.json ...]
      Per-label recall of `teacher zero-shot --json` reports side by side (teacher, students).

Needs matplotlib.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def curves(out, runs):
    fig, (acc, agree) = plt.subplots(1, 2, figsize=(11, 4))
    teacher = None
    for run in runs:
        examples, accuracy, agreement, seen = [], [], [], 0
        for line in open(os.path.join(run, "metrics.jsonl")):
            record = json.loads(line)
            if "step" in record:
                seen = record["step"] * record.get("batch_size", 32)
            elif "test_accuracy" in record:
                examples.append(seen)
                accuracy.append(record["test_accuracy"])
                agreement.append(record["test_agreement"])
                teacher = record["teacher_test_accuracy"]
        name = os.path.basename(os.path.normpath(run))
        acc.plot(examples, accuracy, marker=".", label=name)
        agree.plot(examples, agreement, marker=".", label=name)
    if teacher is not None:
        acc.axhline(teacher, color="grey", linestyle="--", label="teacher")
    acc.set(xlabel="examples seen", ylabel="accuracy", title="ESC-10 fold 4 (held out), zero-shot")
    agree.set(xlabel="examples seen", ylabel="share of clips",
              title="top AudioSet class = the teacher's")
    for ax in (acc, agree):
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def recall(out, reports):
    loaded = [json.load(open(r)) for r in reports]
    labels = [l["label"] for l in loaded[0]["per_label"]]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels)), 4))
    width = 0.8 / len(loaded)
    for k, (path, report) in enumerate(zip(reports, loaded)):
        per = {l["label"]: l["correct"] / max(1, l["clips"]) for l in report["per_label"]}
        xs = [i + k * width for i in range(len(labels))]
        name = os.path.splitext(os.path.basename(path))[0]
        ax.bar(xs, [per.get(l, 0) for l in labels], width,
               label=f"{name} ({report['accuracy']:.3f})")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))])
    ax.set_xticklabels(labels, rotation=30, ha="right")
    ax.set(ylabel="recall", ylim=(0, 1), title=f"zero-shot recall per label, fold {loaded[0]['fold']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("curves", "recall"):
        sys.exit(__doc__)
    {"curves": curves, "recall": recall}[sys.argv[1]](sys.argv[2], sys.argv[3:])


main()
