"""Writes the caption-metric oracle fixture: caption sets drawn from Clotho v1 evaluation
captions and AudioCaps v1 val captions, scored by pycocoevalcap 1.2 (the Java PTB tokenizer,
BLEU-1..4, ROUGE-L, CIDEr-D; METEOR 1.5 when the jar runs).

METEOR 1.5 runs twice: as pycocoevalcap runs it ("METEOR"), and restricted to what earsight
implements ("METEOR-exact-stem-d0.5": the exact and stem modules with METEOR's English weights
1.0 and 0.6, and delta 0.5, at which function and content words weigh the same, so METEOR's
function-word list drops out). Both also score "meteor_cases", more caption sets plus hand-made
cases for METEOR's normalizer and aligner, kept apart so that they change no other metric; and
"meteor_normalizer_cases" records METEOR's own -norm tokenization of PTB-tokenized captions.

    python3 tools/tests/oracle/metrics.py DATA_DIR tools/tests/fixtures/metrics_oracle.json

DATA_DIR holds clotho-captions/ and audiocaps-captions/ (here: ../shared/data). The fixture is
committed; the Rust tests read it and need neither Python nor the data.
"""
import csv, json, os, random, subprocess, sys, threading

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor import meteor as meteor_module
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

def perturb(caption, rng=rng):
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

# METEOR-only cases, drawn with their own generator so that the draws above stay as they were.
meteor_rng = random.Random(11)
development = []
with open(f"{data}/clotho-captions/clotho_v1_development_en.csv", newline="") as f:
    for row in csv.DictReader(f):
        development.append([row[f"caption_{i}"] for i in range(1, 6)])
meteor_cases = []
for i, caps in enumerate(meteor_rng.sample(development, 150)):
    cand = perturb(caps[0], meteor_rng) if i % 3 == 1 else caps[0]
    meteor_cases.append({"id": f"clotho-dev-{i}", "candidate": cand, "references": caps[1:]})
for i, (cand, refs) in enumerate([
    ("a dog barks and barks", ["the dogs bark", "a barking dog"]),
    ("dog dog dog", ["a dog", "dog and cat"]),
    ("running runs", ["a man runs while running"]),
    ("a dog barks", ["a dog barks"]),
    ("a high-pitched ear-piercing-loud beep", ["a loud high pitched beep"]),
    ("mr. smith talks to mr.", ["a man talks vs. another", "mr. smith talks"]),
    ("1,000 birds chirp at 5:30 a.m.", ["a thousand birds chirp at dawn"]),
    ("rock'n'roll music plays while it's 1990's style", ["rock and roll music plays"]),
    ("the dogs' owner can't stop them", ["the owner cannot stop the dogs"]),
    ("wind & rain // on 50% of the roof !? ...", ["wind and rain on the roof"]),
    ("birds chirp.. then stop", ["birds chirp then stop"]),
    ("a car passes", ["...", "a car passes by"]),
    ("rain falls", ["rain"]),
    ("Music plays while a crowd cheers", ["a crowd cheers while music plays"]),
]):
    meteor_cases.append({"id": f"meteor-edge-{i}", "candidate": cand, "references": refs})

tok = PTBTokenizer()

def tokenized(cases):
    gts = {c["id"]: [{"caption": r} for r in c["references"]] for c in cases}
    res = {c["id"]: [{"caption": c["candidate"]}] for c in cases}
    return tok.tokenize(gts), tok.tokenize(res)

class ExactStemMeteor(Meteor):
    """METEOR 1.5 with only the exact and stem modules and delta 0.5 (see the top)."""

    def __init__(self):
        self.meteor_cmd = ["java", "-jar", "-Xmx2G", meteor_module.METEOR_JAR, "-", "-",
                           "-stdio", "-l", "en", "-norm", "-m", "exact stem", "-w", "1.0 0.6",
                           "-p", "0.85 0.2 0.6 0.5"]
        self.meteor_p = subprocess.Popen(
            self.meteor_cmd, cwd=os.path.dirname(os.path.abspath(meteor_module.__file__)),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lock = threading.Lock()

def meteor_normalized(lines):
    """METEOR 1.5's -norm of each line, lower-cased after, as its scorer does."""
    jar = os.path.join(os.path.dirname(os.path.abspath(meteor_module.__file__)),
                       meteor_module.METEOR_JAR)
    out = subprocess.run(["java", "-Dfile.encoding=UTF-8", "-cp", jar,
                          "edu.cmu.meteor.util.Normalizer", "en", "true"],
                         input="".join(l + "\n" for l in lines).encode(), capture_output=True,
                         check=True).stdout.decode().split("\n")
    assert len(out) == len(lines) + 1 and out[-1] == "", out[-3:]
    return [l.lower() for l in out[:-1]]

def scored(scorers, cases, gts_t, res_t):
    ids = [c["id"] for c in cases]
    corpus, per_case = {}, {i: {} for i in ids}
    for scorer, names in scorers:
        score, scores = scorer.compute_score(gts_t, res_t)
        if len(names) == 1:
            score, scores = [score], [scores]
        for name, s, per in zip(names, score, scores):
            corpus[name] = float(s)
            for i, v in zip(ids, per):
                per_case[i][name] = float(v)
    for c in cases:
        c["candidate_tokens"] = res_t[c["id"]][0]
        c["references_tokens"] = gts_t[c["id"]]
    return corpus, per_case

gts_t, res_t = tokenized(cases)
report = {"pycocoevalcap": "1.2"}
scorers = [(Bleu(4), ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"]), (Rouge(), ["ROUGE-L"]),
           (Cider(), ["CIDEr-D"])]
meteors = []
try:
    meteors = [(Meteor(), ["METEOR"]), (ExactStemMeteor(), ["METEOR-exact-stem-d0.5"])]
except Exception as e:  # no Java: the fixture says so
    report["meteor_error"] = str(e)
report["corpus"], report["per_case"] = scored(scorers + meteors, cases, gts_t, res_t)
report["cases"] = cases
report["tokenizer_cases"] = tokenizer_cases
if meteors:
    m_gts_t, m_res_t = tokenized(meteor_cases)
    corpus, per_case = scored(meteors, meteor_cases, m_gts_t, m_res_t)
    report["meteor_cases"] = {"corpus": corpus, "per_case": per_case, "cases": meteor_cases}
    # The captions the normalizer has work on (any character but a lower-case letter, a digit or
    # a space), and lines that no PTB output has, for the rules PTB tokenization leaves no work for.
    lines = sorted({t for c in cases + meteor_cases
                    for t in [c["candidate_tokens"]] + c["references_tokens"]
                    if any(not (ch.islower() or ch.isdigit() or ch == " ") for ch in t)})
    lines += ["birds chirp.. then stop...", "x...y", "a-b-c u.s.-based e.g. i.e. x.", "--a -b- c--",
              "rev. smith and pp. 5 vs. no. 5 vs. pp. x", "it 's dogs' 90's o'clock ' 'tis '",
              "\u201cquoted\u201d ``text'' \u2018single\u2019 `tick`", "a,b 1,2 a,1 1,a ,, 1,,2",
              "caf\u00e9 na\u00efve \u00fcber-cool stra\u00dfe", "1.5 3.0. end.", "mr. x", "mr."]
    report["meteor_normalizer_cases"] = [list(p) for p in zip(lines, meteor_normalized(lines))]
with open(out, "w") as f:
    json.dump(report, f, indent=1)
print(json.dumps(report["corpus"], indent=1))
