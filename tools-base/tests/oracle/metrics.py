"""Writes the caption-metric oracle fixture, tools-base/tests/fixtures/metrics_oracle.json: captions
the earsight project wrote itself, tokenized and scored by pycocoevalcap 1.2 (the Java PTB
tokenizer, BLEU-1..4, ROUGE-L, CIDEr-D; METEOR 1.5 when the jar runs).

    python3 -m pip install pycocoevalcap==1.2     # needs a Java runtime
    python3 tools-base/tests/oracle/metrics.py tools-base/tests/fixtures/metrics_oracle.json

No data directory is needed. The captions come from two places, both the project's own:
- tools-base/tests/oracle/captions.txt, written by hand: sound scenes each described five ways,
  captions made to stress the PTB tokenizer, hand-made METEOR cases and normalizer lines;
- a generator in this file: templates over sound sources, their verbs, places, adverbs and a
  second sound, drawn with seeded random generators, so the fixture is the same every run.

What the fixture holds:
- "cases": caption sets (a candidate and 1-4 references) in four modes (a caption of the same
  scene, a perturbed one, one of another scene, a lower-cased one) plus four edge cases, with
  their PTB tokens; "corpus" and "per_case" hold their scores.
- "tokenizer_cases": [caption, PTB tokens] pairs, half rich in quotes, brackets, apostrophes,
  hyphens, ellipses, numbers, unicode dashes and other punctuation (hand-written ones and
  generated captions decorated with punctuation), half plain generated captions.
- "meteor_cases": more caption sets plus hand-made cases for METEOR's normalizer and aligner,
  scored only by METEOR, kept apart so that they change no other metric.
- "meteor_normalizer_cases": METEOR 1.5's own -norm tokenization of the PTB-tokenized
  captions it has work on, and of lines written to reach rules PTB output never does.

METEOR 1.5 runs twice: as pycocoevalcap runs it ("METEOR"), and restricted to what earsight
implements ("METEOR-exact-stem-d0.5": the exact and stem modules with METEOR's English weights
1.0 and 0.6, and delta 0.5, at which function and content words weigh the same, so METEOR's
function-word list drops out). The fixture is committed; the Rust tests read it and need
neither Python nor Java.
"""
import json, os, random, re, subprocess, sys, threading

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor import meteor as meteor_module
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
out = sys.argv[1]


def read_captions(path):
    """The sections of captions.txt: {name: [lines]}, blank lines kept as "" in [scenes]."""
    sections, name = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#"):
                continue
            if line.startswith("[") and line.endswith("]"):
                name = line[1:-1]
                sections[name] = []
            elif name is not None and (line or name == "scenes"):
                sections[name].append(line)
    return sections


written = read_captions(os.path.join(HERE, "captions.txt"))
hand_scenes, block = [], []
for line in written["scenes"] + [""]:
    if line:
        block.append(line)
    elif block:
        hand_scenes.append(block)
        block = []
assert all(len(s) == 5 for s in hand_scenes), [s for s in hand_scenes if len(s) != 5]

# ---------------------------------------------------------------------------------------------
# The caption generator: a scene is a sound source doing something, somewhere, perhaps with a
# second sound; its five captions say it in different words and orders, as five people would.

# A source: the ways to name it, and what it does: (third person, -ing form) pairs.
SOURCES = [
    (["a dog", "a small dog", "a big dog", "the neighbour's dog", "a puppy"],
     [("barks", "barking"), ("yelps", "yelping"), ("growls", "growling"), ("whines", "whining")]),
    (["a cat", "a kitten", "someone's cat"],
     [("meows", "meowing"), ("purrs", "purring"), ("hisses", "hissing")]),
    (["a baby", "an infant", "a toddler", "a small child"],
     [("cries", "crying"), ("babbles", "babbling"), ("giggles", "giggling"), ("wails", "wailing")]),
    (["a man", "an old man", "a young man", "a male voice"],
     [("speaks", "speaking"), ("talks", "talking"), ("coughs", "coughing"), ("laughs", "laughing"),
      ("shouts", "shouting"), ("mumbles", "mumbling")]),
    (["a woman", "a young woman", "an elderly woman", "a female voice"],
     [("speaks", "speaking"), ("sings", "singing"), ("laughs", "laughing"), ("calls out", "calling out"),
      ("whispers", "whispering")]),
    (["a bird", "a small bird", "a songbird", "a robin", "a blackbird"],
     [("chirps", "chirping"), ("sings", "singing"), ("tweets", "tweeting"), ("squawks", "squawking")]),
    (["a crow", "a seagull", "a pigeon"],
     [("caws", "cawing"), ("cries", "crying"), ("coos", "cooing"), ("flaps its wings", "flapping its wings")]),
    (["a rooster", "a cockerel"], [("crows", "crowing")]),
    (["a cow", "a calf"], [("moos", "mooing"), ("lows", "lowing")]),
    (["a sheep", "a lamb", "a goat"], [("bleats", "bleating")]),
    (["a horse", "a pony"], [("neighs", "neighing"), ("snorts", "snorting"), ("trots", "trotting"),
                              ("whinnies", "whinnying")]),
    (["a duck", "a goose"], [("quacks", "quacking"), ("honks", "honking")]),
    (["a frog", "a toad"], [("croaks", "croaking")]),
    (["an owl"], [("hoots", "hooting")]),
    (["a bee", "a fly", "a mosquito", "a wasp"], [("buzzes", "buzzing"), ("hums", "humming"),
                                                  ("drones", "droning")]),
    (["a car", "a small car", "a sports car", "a taxi"],
     [("drives past", "driving past"), ("accelerates", "accelerating"), ("idles", "idling"),
      ("revs its engine", "revving its engine"), ("honks", "honking")]),
    (["a truck", "a lorry", "a bus", "a van"],
     [("rumbles past", "rumbling past"), ("brakes", "braking"), ("reverses", "reversing"),
      ("idles", "idling")]),
    (["a motorcycle", "a motorbike", "a scooter"],
     [("speeds past", "speeding past"), ("revs", "revving"), ("roars along", "roaring along")]),
    (["a train", "a freight train", "a tram"],
     [("passes", "passing"), ("rattles by", "rattling by"), ("sounds its horn", "sounding its horn"),
      ("pulls into the station", "pulling into the station")]),
    (["a helicopter"], [("flies overhead", "flying overhead"), ("hovers", "hovering"),
                         ("passes low", "passing low")]),
    (["a plane", "an airplane", "a jet", "a small aircraft"],
     [("flies overhead", "flying overhead"), ("takes off", "taking off"), ("roars past", "roaring past")]),
    (["a door", "a heavy door", "a wooden door", "a car door"],
     [("slams", "slamming"), ("creaks", "creaking"), ("closes", "closing"), ("opens", "opening")]),
    (["a bell", "a church bell", "a small bell", "a bicycle bell"],
     [("rings", "ringing"), ("chimes", "chiming"), ("tolls", "tolling"), ("dings", "dinging")]),
    (["a phone", "a telephone", "a mobile phone"],
     [("rings", "ringing"), ("buzzes", "buzzing"), ("vibrates", "vibrating")]),
    (["an alarm", "a smoke alarm", "an alarm clock", "a car alarm"],
     [("beeps", "beeping"), ("goes off", "going off"), ("sounds", "sounding"), ("wails", "wailing")]),
    (["a siren", "a police siren", "an ambulance siren"],
     [("wails", "wailing"), ("blares", "blaring"), ("fades", "fading")]),
    (["a kettle"], [("whistles", "whistling"), ("boils", "boiling"), ("clicks off", "clicking off")]),
    (["a microwave", "a washing machine", "a dishwasher", "a fridge"],
     [("hums", "humming"), ("beeps", "beeping"), ("whirs", "whirring"), ("rattles", "rattling")]),
    (["a clock", "a wall clock", "a grandfather clock"],
     [("ticks", "ticking"), ("chimes", "chiming")]),
    (["a drill", "a power drill", "a jackhammer", "an electric saw"],
     [("whirs", "whirring"), ("drills", "drilling"), ("pounds", "pounding"), ("screeches", "screeching")]),
    (["a chainsaw", "a lawn mower", "a leaf blower"],
     [("runs", "running"), ("buzzes", "buzzing"), ("roars", "roaring"), ("sputters", "sputtering")]),
    (["a hammer", "someone with a hammer"], [("bangs", "banging"), ("taps", "tapping"),
                                             ("knocks", "knocking")]),
    (["a crowd", "an audience", "a group of people"],
     [("cheers", "cheering"), ("applauds", "applauding"), ("claps", "clapping"), ("chatters", "chattering")]),
    (["children", "a group of kids", "schoolchildren"],
     [("shout", "shouting"), ("laugh", "laughing"), ("play", "playing"), ("scream", "screaming")]),
    (["a guitar", "a piano", "a violin", "a trumpet", "a drum"],
     [("plays", "playing"), ("is tuned", "being tuned"), ("plays softly", "playing softly")]),
    (["a radio", "a television", "a loudspeaker"],
     [("plays music", "playing music"), ("crackles", "crackling"), ("blares", "blaring")]),
    (["water", "a stream", "a tap", "a fountain"],
     [("trickles", "trickling"), ("flows", "flowing"), ("runs", "running"), ("splashes", "splashing"),
      ("gurgles", "gurgling"), ("drips", "dripping")]),
    (["rain", "light rain", "heavy rain", "a downpour"],
     [("falls", "falling"), ("patters", "pattering"), ("pours down", "pouring down"),
      ("drums on a roof", "drumming on a roof")]),
    (["the wind", "a strong wind", "a breeze"],
     [("blows", "blowing"), ("howls", "howling"), ("gusts", "gusting"), ("rustles the leaves", "rustling the leaves")]),
    (["thunder"], [("rumbles", "rumbling"), ("booms", "booming"), ("cracks", "cracking")]),
    (["waves", "the waves", "big waves"], [("crash", "crashing"), ("break on the shore", "breaking on the shore"),
                                    ("lap against rocks", "lapping against rocks")]),
    (["a fire", "a campfire", "burning wood"], [("crackles", "crackling"), ("pops", "popping"),
                                                 ("hisses", "hissing")]),
    (["footsteps", "heavy footsteps", "someone's footsteps"],
     [("approach", "approaching"), ("echo", "echoing"), ("crunch on gravel", "crunching on gravel"),
      ("fade away", "fading away")]),
    (["a person", "someone", "somebody"],
     [("types on a keyboard", "typing on a keyboard"), ("knocks on a door", "knocking on a door"),
      ("whistles", "whistling"), ("sneezes", "sneezing"), ("snores", "snoring"),
      ("claps", "clapping"), ("walks", "walking")]),
    (["a fan", "an air conditioner", "an engine", "a generator", "a motor"],
     [("hums", "humming"), ("whirs", "whirring"), ("drones", "droning"), ("runs", "running")]),
]

PLACES = [
    ["in a kitchen", "in the kitchen", "inside a small kitchen"],
    ["outside", "outdoors", "out in the open"],
    ["in a park", "in a public park", "in the park"],
    ["on a busy street", "in a busy street", "by a busy road"],
    ["in a forest", "in the woods", "among trees"],
    ["in a large hall", "in a big echoing room", "inside a hall"],
    ["at a train station", "on a station platform", "at the station"],
    ["on a farm", "in a farmyard", "at a farm"],
    ["near a river", "by a stream", "beside running water"],
    ["in an office", "inside an office", "in a quiet office"],
    ["on a beach", "at the seaside", "by the sea"],
    ["in a garden", "in a back garden", "in someone's garden"],
    ["in a car", "inside a moving car", "from inside a car"],
    ["in a small room", "indoors", "inside a room"],
    ["at night", "late at night", "during the night"],
    ["in the distance", "far away", "some distance away"],
    ["nearby", "close by", "close to the microphone"],
    ["in a cafe", "inside a busy cafe", "in a coffee shop"],
]

ADVERBS = ["loudly", "softly", "quietly", "repeatedly", "twice", "three times", "briefly",
           "constantly", "intermittently", "suddenly", "slowly", "rapidly", "now and then",
           "again and again", "for a while", "once", "steadily", "faintly", "in bursts"]

LINKERS = ["while", "as", "and", "before", "after", "then", "until", "and then", "whilst"]


def cap(s):
    return s[0].upper() + s[1:] if s else s


# Subjects that take a plural verb (their verbs above are written for them).
PLURAL = {"children", "a group of kids", "schoolchildren", "waves", "footsteps", "heavy footsteps",
          "someone's footsteps", "the waves", "big waves"}


def be(np):
    return "are" if np in PLURAL else "is"


class Scene:
    """One imagined scene: a main source and action, a place, an adverb, maybe a second sound."""

    def __init__(self, rng):
        self.rng = rng
        self.src = rng.randrange(len(SOURCES))
        self.verb = rng.randrange(len(SOURCES[self.src][1]))
        self.place = rng.choice(PLACES)
        self.adverb = rng.choice(ADVERBS)
        self.second = None
        if rng.random() < 0.7:
            other = rng.choice([i for i in range(len(SOURCES)) if i != self.src])
            self.second = (other, rng.randrange(len(SOURCES[other][1])))

    def main(self, rng):
        names, verbs = SOURCES[self.src]
        # Mostly the scene's own verb; sometimes another verb of the same source, as people
        # hear the same sound differently.
        verb = verbs[self.verb] if rng.random() < 0.7 else rng.choice(verbs)
        return rng.choice(names), verb

    def other(self, rng):
        names, verbs = SOURCES[self.second[0]]
        verb = verbs[self.second[1]] if rng.random() < 0.8 else rng.choice(verbs)
        return rng.choice(names), verb

    def caption(self, rng):
        """One person's description of the scene."""
        s, (v, ving) = self.main(rng)
        place = rng.choice(self.place)
        adv = self.adverb if rng.random() < 0.6 else rng.choice(ADVERBS)
        if self.second is None:
            forms = [
                f"{s} {v} {adv} {place}",
                f"{s} {v} {place}",
                f"{place}, {s} {v} {adv}",
                f"{s} {be(s)} {ving} {place}",
                f"{s} can be heard {ving} {adv}",
                f"the sound of {s} {ving} {place}",
                f"{s} {'keep' if s in PLURAL else 'keeps'} {ving} {place}",
                f"{s} {v} {adv} and then stops",
                f"someone records {s} {ving} {place}",
                f"{s} {v} {adv} with some background noise",
            ]
        else:
            t, (w, wing) = self.other(rng)
            link = rng.choice(LINKERS)
            forms = [
                f"{s} {v} {link} {t} {w}",
                f"{s} {v} {adv} {place} {link} {t} {w}",
                f"{t} {w} {link} {s} {v} {adv}",
                f"{s} {be(s)} {ving} {place} and {t} {be(t)} {wing}",
                f"{place}, {s} {v} and {t} {w}",
                f"the sound of {s} {ving} with {t} {wing} in the background",
                f"{s} {v} over the sound of {t} {wing}",
                f"{t} {w} {place} while {s} {v} {adv}",
                f"{s} {v} {adv}, then {t} {w}",
                f"{s} and {t} can be heard {place}",
            ]
        text = cap(rng.choice(forms))
        return text + ("." if rng.random() < 0.75 else "")

    def captions(self, n):
        seen, out = set(), []
        while len(out) < n:
            c = self.caption(self.rng)
            if c not in seen:
                seen.add(c)
                out.append(c)
        return out


def generated_scenes(rng, n):
    return [Scene(rng).captions(5) for _ in range(n)]


# Punctuation to stress the PTB tokenizer with, laid over generated captions.
QUOTE_PAIRS = [('"', '"'), ("'", "'"), ("\u201c", "\u201d"), ("\u2018", "\u2019"), ("``", "''"),
               ("\u00ab", "\u00bb"), ('"', '"'), ("'", "'")]
BRACKETS = [("(", ")"), ("[", "]"), ("{", "}"), ("(", ")"), ("(", ")")]
ASIDES = ["loudly", "twice", "maybe", "far away", "I think", "again!", "or so it seems",
          "very faint", "3 times", "about 2 seconds", "it's hard to tell", "on and off",
          "at 7:15", "10% louder", "a 2nd time", "the neighbours'", "don't ask", "sort of...",
          "see above", "?", "!!", "1/2 a second", "1,500 rpm", "no. 9", "5-6 times"]
DASHES = [" -- ", " - ", "\u2014", " \u2014 ", " \u2013 ", "--", " --- ", " ---- ", "\u2013"]
ELLIPSES = ["...", "..", "\u2026", ".....", " ...", ". . .", "....", " .. "]
NUMBERS = ["at 7:15", "3 times", "for 2.5 seconds", "at 1,500 rpm", "about 10% louder",
           "for $5", "#2", "for 1/2 a second", "for the 2nd time", "like in the 1980s",
           "at 90 km/h", "for 30-40 seconds", "at 6 a.m.", "at 11 p.m.", "every 0.5 seconds",
           "for 3-4 minutes", "in 2019", "on the 3rd floor", "at 20\u00b0C", "for \u00a35",
           "for \u20ac10", "at -5 degrees", "about 1,000,000 times", "+3 dB", "at 9:45:30",
           "2x", "in 10 minutes' time", "from 1 to 10", "for \u00bd an hour", "no. 42"]
TAILS = [", doesn't it?", " (it's loud!)", " -- that's all", ", and that's it.", " and it won't stop",
         "; nobody's around", ": that's what it sounds like", " -- or so it seems...",
         ", isn't it?", " & more", " (again?!)", ", y'know", " 'til it stops",
         " -- can't tell what it is", " and it's getting louder!!", "; it's the '90s all over",
         " at 5 o'clock", " -- rock'n'roll style"]
COMPOUNDS = ["high-pitched", "low-pitched", "ear-splitting", "old-fashioned", "non-stop",
             "half-hearted", "two-tone", "far-off", "well-tuned", "battery-powered",
             "run-of-the-mill", "x-ray-like", "sing-song", "never-ending", "stop-start"]
ENDINGS = ["!", "?!", "!!!", "?", "??", "!?", ".", ". . .", "!!", " !", " ?"]


def decorate(caption, rng):
    """The caption with 1-3 kinds of stressful punctuation laid over it."""
    words = caption.split()
    kinds = rng.sample(range(11), rng.choice([1, 2, 2, 3]))
    for kind in kinds:
        if kind == 0 and len(words) > 2:  # quote a span
            i = rng.randrange(len(words))
            j = min(len(words), i + rng.randint(1, 3))
            q = rng.choice(QUOTE_PAIRS)
            words[i] = q[0] + words[i]
            words[j - 1] = words[j - 1] + q[1]
        elif kind == 1:  # an aside in brackets
            b = rng.choice(BRACKETS)
            words.insert(rng.randint(1, len(words)), f"{b[0]}{rng.choice(ASIDES)}{b[1]}")
        elif kind == 2:  # a dash for a linking word, or between two words
            text = " ".join(words)
            for link in (" while ", " and ", " as ", " then ", ", "):
                if link in text:
                    text = text.replace(link, rng.choice(DASHES), 1)
                    break
            else:
                i = rng.randint(1, len(words) - 1) if len(words) > 1 else 1
                text = " ".join(words[:i]) + rng.choice(DASHES) + " ".join(words[i:])
            words = text.split(" ")
        elif kind == 3:  # an ellipsis
            words[-1] = words[-1].rstrip(".") + rng.choice(ELLIPSES)
            if rng.random() < 0.3:
                words.insert(0, rng.choice(["...", "\u2026", ".."]))
        elif kind == 4:  # a number
            words.insert(rng.randint(1, len(words)), rng.choice(NUMBERS))
        elif kind == 5:  # an apostrophe-rich tail
            words[-1] = words[-1].rstrip(".") + rng.choice(TAILS)
        elif kind == 6:  # a hyphenated compound before the first noun
            for i, w in enumerate(words):
                if w.lower() in ("a", "an", "the") and i + 1 < len(words):
                    compound = rng.choice(COMPOUNDS)
                    if w.lower() != "the":  # a or an, as the compound needs
                        article = "an" if compound[0] in "aeiou" else "a"
                        words[i] = cap(article) if w[0].isupper() else article
                    words.insert(i + 1, compound)
                    break
            else:
                words.insert(0, cap(rng.choice(COMPOUNDS)))
        elif kind == 7:  # a stronger ending
            words[-1] = words[-1].rstrip(".") + rng.choice(ENDINGS)
        elif kind == 8:  # other punctuation inside
            text = " ".join(words)
            sub = rng.choice([(" and ", " & "), (" and ", " + "), (" or ", "/"), (", ", "; "),
                              (", ", ": "), (" while ", "; meanwhile, "), (" with ", " w/ "),
                              (" the ", " *the* "), (" is ", " ~is~ "), (" a ", " a/the ")])
            if sub[0] in text:
                text = text.replace(sub[0], sub[1], 1)
            else:
                text = text.rstrip(".") + rng.choice([" *", " ~", " ^^", " =)", " (:", " #", " @ home"])
            words = text.split(" ")
        elif kind == 9:  # shouting
            i = rng.randrange(len(words))
            words[i] = words[i].upper()
        else:  # possessives and contractions
            text = " ".join(words)
            for a, b in ((" is ", "'s "), (" can not ", " can't "), (" does not ", " doesn't "),
                         (" a ", " someone's "), (" the ", " the neighbours' "),
                         (" there ", " there's ")):
                if a in text:
                    text = text.replace(a, b, 1)
                    break
            else:
                opener = rng.choice(["I'd say ", "I'm sure ", "There's no doubt: ", "Here's how it sounds: "])
                text = opener + text[0].lower() + text[1:]
            words = text.split(" ")
    return " ".join(w for w in words if w)


def perturb(caption, rng):
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


# ---------------------------------------------------------------------------------------------
# Caption sets for every metric: the hand-written scenes and as many generated ones.
rng = random.Random(7)
scenes = hand_scenes + generated_scenes(rng, 56)
cases = []
for i, caps in enumerate(scenes):
    # Most sets have four references, as the corpora do; some fewer.
    refs = caps[1:] if i % 9 not in (4, 7) else caps[1 : 2 + (i // 9) % 3]
    mode = i % 4
    if mode == 0:
        cand = caps[0]
    elif mode == 1:
        cand = perturb(caps[0], rng)
    elif mode == 2:
        cand = rng.choice([s for s in scenes if s is not caps])[0]
    else:
        cand = caps[0].lower().rstrip(".")
    kind = "written" if i < len(hand_scenes) else "generated"
    cases.append({"id": f"{kind}-{i}", "candidate": cand, "references": refs})
# Edge cases pycocoevalcap has an answer for.
cases.append({"id": "edge-empty", "candidate": "",
              "references": ["a dog barks at the gate", "a dog is barking by the gate"]})
cases.append({"id": "edge-one-reference", "candidate": "a dog barks loudly at the gate",
              "references": ["A dog barks at the gate."]})
cases.append({"id": "edge-punctuation", "candidate": "Rain -- falls (heavily); on a roof!!",
              "references": ["Rain falls heavily on a roof.", "Heavy rain is falling on the roof"]})
cases.append({"id": "edge-contractions", "candidate": "A man's voice, and a dog that won't stop.",
              "references": ["A man speaks while a dog can't stop barking", "A man's voice and a dog's bark"]})

# Tokenizer-only captions, for the tokenizer's own parity test: plain generated ones, and as
# many rich in punctuation (the hand-written ones, then generated ones decorated).
tok_rng = random.Random(13)
plain, seen = [], set()
while len(plain) < 660:
    c = Scene(tok_rng).caption(tok_rng)
    if c not in seen:
        seen.add(c)
        plain.append(c)
stressed = list(written["tokenizer"])
while len(stressed) < 660:
    c = decorate(Scene(tok_rng).caption(tok_rng), tok_rng)
    if c not in seen:
        seen.add(c)
        stressed.append(c)
# The batch ends on a plain caption: the Java tokenizer reads a batch as one text, and a few of
# its decisions look past the end of a line (see below).
sample = stressed + plain
tokenized = PTBTokenizer().tokenize({f"t{i}": [{"caption": c}] for i, c in enumerate(sample)})
tokenizer_cases = [[c, tokenized[f"t{i}"][0]] for i, c in enumerate(sample)]


def crosses_captions(caption):
    """Whether PTB's tokens of the caption depend on the caption after it in a batch: a lone
    letter with a period at the end (`plan B.`) loses its period before a line starting "The",
    "A", ...; `no.`, `fig.` and the like keep theirs before a line starting with a digit. The
    Rust tokenizer sees one caption at a time, so the fixture has none of these."""
    c = caption.rstrip()
    return bool(re.search(r"(^|[^A-Za-z.])[A-Za-z]\.$", c)
                or re.search(r"(?i)(^|[^A-Za-z])(ca|figs?|prop|nos?|art|bldg|pp|op)\.$", c))


# METEOR-only cases, drawn with their own generator so that the draws above stay as they are.
meteor_rng = random.Random(11)
meteor_cases = []
for i, caps in enumerate(generated_scenes(meteor_rng, 150)):
    cand = perturb(caps[0], meteor_rng) if i % 3 == 1 else caps[0]
    meteor_cases.append({"id": f"generated-{i}", "candidate": cand, "references": caps[1:]})
for i, line in enumerate(written["meteor"]):
    cand, *refs = [part.strip() for part in line.split("|||")]
    meteor_cases.append({"id": f"meteor-edge-{i}", "candidate": cand, "references": refs})

every_caption = sample + [t for c in cases + meteor_cases for t in [c["candidate"]] + c["references"]]
assert not [c for c in every_caption if crosses_captions(c)], [c for c in every_caption if crosses_captions(c)]
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
    lines += written["normalizer"]
    report["meteor_normalizer_cases"] = [list(p) for p in zip(lines, meteor_normalized(lines))]
with open(out, "w", encoding="utf-8") as f:
    json.dump(report, f, indent=1)
print(json.dumps(report["corpus"], indent=1))
print(f"{len(cases)} caption sets, {len(tokenizer_cases)} tokenizer captions "
      f"({len(plain)} plain, {len(stressed)} rich in punctuation), "
      f"{len(meteor_cases)} METEOR cases, {len(report.get('meteor_normalizer_cases', []))} "
      f"normalizer cases", file=sys.stderr)
