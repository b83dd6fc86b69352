"""Writes the caption-metric oracle fixture: caption sets drawn from Clotho v1 evaluation
captions and AudioCaps v1 val captions, scored by pycocoevalcap 1.2 (the Java PTB tokenizer,
BLEU-1..4, ROUGE-L, CIDEr-D; METEOR 1.5 when the jar runs).

    python3 tools/tests/oracle/metrics.py DATA_DIR tools/tests/fixtures/metrics_oracle.json

DATA_DIR holds clotho-captions/ and audiocaps-captions/ (here: ../shared/data). The fixture is
committed; the Rust tests read it and need neither Python nor the data.
"""
import csv, json, random, sys

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

data, out = sys.argv[1], sys.argv[2]
rng = random.Random(7)

clotho = []
with open(f"{data}/clotho-captions/clotho_v1_evaluation_en.csv", newline="") as f:
    for row in csv.DictReader(f):
        clotho.append([row[f"caption_{i}"] for i in range(1, 6)])
audiocaps = {}
with open(f"{data}/audiocaps-captions/v1/val.csv", newline="") as f:
    for row in csv.DictReader(f):
        audiocaps.setdefault(row["youtube_id"], []).append(row["caption"])
audiocaps = [caps for caps in audiocaps.values() if len(caps) >= 2]

def perturb(caption):
    words = caption.split()
    kind = rng.randrange(4)
    if kind == 0:
        return caption.upper()
    if kind == 1:
        return " ".join(words[: max(1, len(words) // 2)]) + "!"
    if kind == 2:
        rng.shuffle(words)
        return " ".join(words)
    return caption.replace(" ", ", ", 2) + " ..."

cases = []
for i, caps in enumerate(rng.sample(clotho, 40)):
    refs = caps[1:]
    mode = i % 4
    if mode == 0:
        cand = caps[0]
    elif mode == 1:
        cand = perturb(caps[0])
    elif mode == 2:
        cand = rng.choice(clotho)[0]
    else:
        cand = caps[0].lower().rstrip(".")
    cases.append({"id": f"clotho-{i}", "candidate": cand, "references": refs})
for i, caps in enumerate(rng.sample(audiocaps, 20)):
    cand = caps[0] if i % 2 == 0 else perturb(caps[0])
    cases.append({"id": f"audiocaps-{i}", "candidate": cand, "references": caps[1:]})
# Edge cases pycocoevalcap has an answer for.
cases.append({"id": "edge-empty", "candidate": "", "references": ["a dog barks", "a dog is barking"]})
cases.append({"id": "edge-one-reference", "candidate": "a dog barks loudly",
              "references": ["A dog barks."]})
cases.append({"id": "edge-punctuation", "candidate": "Rain -- falls (heavily); on a roof!!",
              "references": ["Rain falls heavily on a roof.", "Heavy rain is falling on the roof"]})
cases.append({"id": "edge-contractions", "candidate": "A man's voice, and a dog that won't stop.",
              "references": ["A man speaks while a dog can't stop barking", "A man's voice and a dog's bark"]})

# Tokenizer-only cases: many more real captions, for the tokenizer's own parity test.
pool = []
with open(f"{data}/clotho-captions/clotho_v1_development_en.csv", newline="") as f:
    for row in csv.DictReader(f):
        pool += [row[f"caption_{i}"] for i in range(1, 6)]
with open(f"{data}/audiocaps-captions/v1/train.csv", newline="") as f:
    pool += [row["caption"] for row in csv.DictReader(f)]
tricky = [c for c in pool if any(ch in c for ch in "'\"()[]{}&%$/;:!?") or "--" in c or ".." in c]
sample = rng.sample(pool, 600) + rng.sample(tricky, min(600, len(tricky)))
tokenized = PTBTokenizer().tokenize({f"t{i}": [{"caption": c}] for i, c in enumerate(sample)})
tokenizer_cases = [[c, tokenized[f"t{i}"][0]] for i, c in enumerate(sample)]

gts = {c["id"]: [{"caption": r} for r in c["references"]] for c in cases}
res = {c["id"]: [{"caption": c["candidate"]}] for c in cases}
tok = PTBTokenizer()
gts_t, res_t = tok.tokenize(gts), tok.tokenize(res)
ids = [c["id"] for c in cases]
report = {"pycocoevalcap": "1.2", "corpus": {}, "per_case": {i: {} for i in ids}}
scorers = [(Bleu(4), ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"]), (Rouge(), ["ROUGE-L"]),
           (Cider(), ["CIDEr-D"])]
try:
    Meteor()
    scorers.append((Meteor(), ["METEOR"]))
except Exception as e:  # no Java: the fixture says so
    report["meteor_error"] = str(e)
for scorer, names in scorers:
    score, scores = scorer.compute_score(gts_t, res_t)
    if len(names) == 1:
        score, scores = [score], [scores]
    for name, s, per in zip(names, score, scores):
        report["corpus"][name] = float(s)
        for i, v in zip(ids, per):
            report["per_case"][i][name] = float(v)
for c in cases:
    c["candidate_tokens"] = res_t[c["id"]][0]
    c["references_tokens"] = gts_t[c["id"]]
report["cases"] = cases
report["tokenizer_cases"] = tokenizer_cases
with open(out, "w") as f:
    json.dump(report, f, indent=1)
print(json.dumps(report["corpus"], indent=1))
