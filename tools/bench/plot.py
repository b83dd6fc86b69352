#!/usr/bin/env python3
"""Pictures of the measurements behind tools/bench/FINDINGS.md.

  plot.py curves OUT.png RUN_DIR [RUN_DIR ...]
      A `train teach` run's held-out accuracy and teacher agreement against examples seen,
      one line per run (read from RUN_DIR/metrics.jsonl), the teacher's accuracy dashed.
  plot.py recall OUT.png REPORT.json [REPORT.json ...]
      Per-label recall of `teacher zero-shot --json` reports side by side (teacher, students).
  plot.py guidance OUT.png EVAL_DIR [EVAL_DIR ...]
      Source recall, precision and F1 against the tag guidance weight, from each guided
      bundle's `eval` into EVAL_DIR/val, test and real (tools/bench/guidance.sh); prints the table
      with the chosen weight marked, and writes it as JSON beside OUT. Chosen: the best
      validation source F1 (then CIDEr-D, then the smaller weight and veto) among the settings
      in which at most one validation caption in twenty (or the unguided captions' share, if
      higher; weight 0 without a veto, which must be among the settings) runs two sources' words
      together ("dog helicopter", a pair of words the world's audio captions never say) or says
      a word twice back to back.

Needs matplotlib.
"""
import json
import os
import re
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


def word_pairs(text):
    """The pairs of words side by side in `text`, lowercased, a comma counted as a word."""
    words = re.findall(r"[a-z]+|,", text.lower())
    return list(zip(words, words[1:]))


def run_together(caption, tags, said):
    """Whether two words side by side name two different tags' sources ("dog helicopter"), in
    a pair the world's audio captions never say (`said`: "a microwave beeps" names the
    microwave and the beeping appliance, and is English)."""
    return any(
        (a, b) not in said
        and not any(a in t and b in t for t in tags)
        and any(a in t for t in tags)
        and any(b in t for t in tags)
        for a, b in word_pairs(caption)
    )


def repeats(caption):
    """Whether a word is said twice back to back ("a wooden wooden door"): what a decoder says
    when a word it wanted is forbidden, never in the world's captions."""
    words = re.findall(r"[a-z]+", caption)
    return any(a == b for a, b in zip(words, words[1:]))


def guidance(out, bundles):
    tag_set = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "tags.json")
    tags = [set(t["words"]) for t in json.load(open(tag_set))["labels"]]
    rows = []
    for b in bundles:
        val = json.load(open(os.path.join(b, "val", "eval.json")))
        decoding = json.load(open(os.path.join(val["model"], "manifest.json")))["decoding"]
        row = {"weight": decoding.get("tag_guidance", 0.0), "veto": decoding.get("tag_veto", 0.0)}
        said = {
            p
            for line in open(val["manifest"])
            for ref in json.loads(line).get("captions", [])
            for p in word_pairs(ref)
        }
        for split in ("val", "test", "real", "unheard"):
            r = json.load(open(os.path.join(b, split, "eval.json")))
            recall, precision = r["source_recall"] or 0.0, r["source_precision"] or 0.0
            f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
            clips = [json.loads(line) for line in open(os.path.join(b, split, "clips.jsonl"))]
            faults = [(run_together(c["caption"], tags, said), repeats(c["caption"])) for c in clips]
            row[split] = {
                "recall": recall,
                "precision": precision,
                "f1": f1,
                "cider_d": ((r.get("captions") or {}).get("scores") or {}).get("CIDEr-D"),
                "false_source_captions": r["false_source_captions"],
                "labelled_clips": r["labelled_clips"],
                "false_captions_on_silence": r["false_captions_on_silence"],
                "silent_clips": r["silent_clips"],
                "run_together": sum(together for together, _ in faults),
                "repeats": sum(repeated for _, repeated in faults),
                "faulty": sum(together or repeated for together, repeated in faults),
                "clips": len(clips),
            }
        rows.append(row)
    unguided = [r for r in rows if r["weight"] == 0 and r["veto"] == 0]
    if not unguided:
        sys.exit("guidance: weight 0 without a veto (unguided) must be among the settings")
    # A fault in one caption in twenty is the price allowed for naming the sound more often,
    # or the unguided captions' own rate where that is higher.
    allowed = max(unguided[0]["val"]["faulty"], unguided[0]["val"]["clips"] // 20)
    fluent = [r for r in rows if r["val"]["faulty"] <= allowed]
    # How far to trust the tagger is chosen on real recordings neither model has heard: the
    # world's validation scenes are made of the tagger's training clips, which it is sure of.
    chosen = max(
        fluent,
        key=lambda r: (r["unheard"]["f1"], r["val"]["f1"], -r["weight"], -r["veto"]),
    )
    json.dump(
        {"chosen": {"weight": chosen["weight"], "veto": chosen["veto"]}, "settings": rows},
        open(os.path.splitext(out)[0] + ".json", "w"),
        indent=1,
    )

    def cider(x):
        return "-" if x is None else f"{x:.3f}"

    print("| weight | veto | split | source recall | source precision | F1 | captions naming an absent "
          "source | captions on silence | CIDEr-D | captions running two sources together | captions "
          "repeating a word |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        mark = " (chosen)" if r is chosen else ""
        for split, name in (("val", "world val"), ("test", "world test"), ("real", "ESC-10 fold 4"),
                            ("unheard", "UrbanSound8K fold 1")):
            m = r[split]
            print(
                f"| {r['weight']:g}{mark} | {r['veto']:g} | {name} | {m['recall']:.3f} | {m['precision']:.3f} | "
                f"{m['f1']:.3f} | {m['false_source_captions']} of {m['labelled_clips']} | "
                f"{m['false_captions_on_silence']} of {m['silent_clips']} | {cider(m['cider_d'])} | "
                f"{m['run_together']} of {m['clips']} | {m['repeats']} of {m['clips']} |"
            )
    fig, axes = plt.subplots(1, 4, figsize=(17, 5.2), sharey=True)
    vetoes = sorted({r["veto"] for r in rows})
    styles = ["-", "--", ":", "-."]
    for ax, (split, name) in zip(
        axes,
        (("val", "world validation"), ("test", "world test"), ("real", "ESC-10 fold 4 (real)"),
         ("unheard", "UrbanSound8K fold 1 (real, validation)")),
    ):
        for i, veto in enumerate(vetoes):
            at = [r for r in rows if r["veto"] == veto]
            for color, (key, label) in zip(
                ("C0", "C1", "C2"),
                (("recall", "source recall"), ("precision", "source precision"), ("f1", "F1")),
            ):
                ax.plot(
                    [r["weight"] for r in at],
                    [r[split][key] for r in at],
                    marker="o",
                    color=color,
                    linestyle=styles[i % len(styles)],
                    label=f"{label}, veto {veto:g}",
                )
        ax.axvline(chosen["weight"], color="grey", linestyle="--", linewidth=1)
        ax.set_title(name)
        ax.set_xlabel("tag guidance weight")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(vetoes), fontsize=7)
    fig.suptitle(
        f"Captions steered by the tags (dashed grey: the weight chosen on UrbanSound8K fold 1, "
        f"veto {chosen['veto']:g})"
    )
    fig.tight_layout(rect=(0, 0.17, 1, 1))
    fig.savefig(out, dpi=110)


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("curves", "recall", "guidance"):
        sys.exit(__doc__)
    {"curves": curves, "recall": recall, "guidance": guidance}[sys.argv[1]](
        sys.argv[2], sys.argv[3:]
    )


main()
