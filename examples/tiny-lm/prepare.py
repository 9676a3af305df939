"""Data and evaluation for the tiny-lm example. READ-ONLY for the agent.

Builds a deterministic English-like corpus procedurally (no downloads), splits it
into train/validation, and defines the metric: val_bpb, bits per byte on the
held-out text. Everything here is pure standard-library Python.

    python3 prepare.py     # optional: prints corpus statistics
"""

import math
import os
import random

TIME_BUDGET = float(os.environ.get("AUTORESEARCH_BUDGET_SECONDS", "15"))  # training seconds
SEED = 1337
CORPUS_BYTES = 300_000  # total corpus size, validation included
VAL_BYTES = 30_000      # held-out tail, cut at a paragraph boundary
EVAL_CONTEXT = 64       # bytes of history the model sees at each evaluated position

# ---------------------------------------------------------------------------
# Corpus: a small grammar over real words. Each paragraph has a topic with its own
# vocabulary and a cast of characters, words are drawn from Zipf-like weights, and
# verbs agree with their subjects, so there is structure at several ranges: spelling
# (short contexts), word choice given the previous words (longer contexts), and the
# fixed phrasing of the sentence templates.

NAMES = "Mara Tobias Ines Arlo Petra Silas Nadia Felix Greta Oren Lena Hugo Clara Jonas Wren Basil".split()
PLACES = "Avonlea Brightwater Coldharbour Dunmore Eastwick Fairhaven Glenrock Highmoor".split()
NUMBERS = "two three four five six seven eight nine ten twelve twenty forty".split()
ADVERBS = "slowly quietly suddenly carefully again quickly often never always gently".split()
PREPS = "near behind under beside across inside above toward beyond without".split()
COMMON_ADJ = "old small large quiet bright dark cold warm long strange".split()

# topic: (nouns, verbs as (present-singular stem, past), adjectives)
TOPICS = {
    "sea": ("ship harbour sailor wave storm island anchor rope lighthouse captain gull tide net deck compass shore",
            "sail:sailed drift:drifted watch:watched pull:pulled reach:reached turn:turned steer:steered mend:mended",
            "salty grey rough calm distant wooden"),
    "farm": ("field barn horse orchard farmer fence wheat goat tractor apple cart well hen meadow ditch sheep",
             "plant:planted harvest:harvested feed:fed carry:carried mend:mended open:opened plough:ploughed sell:sold",
             "green muddy golden ripe dusty tired"),
    "city": ("street market tower bridge window merchant lamp clock square train crowd door station shop roof coin",
             "sell:sold cross:crossed light:lit wait:waited close:closed follow:followed build:built buy:bought",
             "busy narrow crowded noisy stone empty"),
    "kitchen": ("bread kettle oven table spoon soup onion garden cook plate cup knife flour butter jar basket",
                "bake:baked stir:stirred cut:cut taste:tasted boil:boiled serve:served pour:poured wash:washed",
                "hot fresh sweet bitter clean heavy"),
    "forest": ("tree path fox river stone cabin owl hunter moss trail deer branch wolf bridge fern valley",
               "climb:climbed hide:hid follow:followed cross:crossed hear:heard find:found track:tracked gather:gathered",
               "deep silent green ancient wild misty"),
    "school": ("teacher book lesson student letter map chalk desk question bell page story pencil window garden poem",
               "read:read write:wrote learn:learned answer:answered draw:drew ring:rang copy:copied study:studied",
               "difficult simple careful curious patient new"),
}


def _zipf(words):
    """Word list -> (words, cumulative weights) with weight 1/(rank+1)."""
    cum, total = [], 0.0
    for rank in range(len(words)):
        total += 1.0 / (rank + 1)
        cum.append(total)
    return words, cum


def _plural(noun):
    if noun.endswith(("s", "sh", "ch", "x")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    if noun == "knife":
        return "knives"
    return noun + "s"


def _third_person(stem):
    if stem.endswith(("s", "sh", "ch", "x")):
        return stem + "es"
    if stem.endswith("y") and stem[-2] not in "aeiou":
        return stem[:-1] + "ies"
    return stem + "s"


def _paragraph(rng, topic):
    nouns_s, verbs_s, adjs_s = TOPICS[topic]
    nouns, verbs = _zipf(nouns_s.split()), [v.split(":") for v in verbs_s.split()]
    adjs = _zipf(adjs_s.split() + COMMON_ADJ)
    cast = rng.sample(NAMES, 3)  # a paragraph keeps returning to the same few people

    def pick(words_cum):
        words, cum = words_cum
        return rng.choices(words, cum_weights=cum)[0]

    def np():  # noun phrase: (text, is_plural)
        noun = pick(nouns)
        adj = pick(adjs) + " " if rng.random() < 0.5 else ""
        if rng.random() < 0.25:
            return f"the {adj}{_plural(noun)}", True
        det = rng.choice(("the", "the", "a", "this", "that"))
        if det == "a" and (adj or noun)[0] in "aeiou":
            det = "an"
        return f"{det} {adj}{noun}", False

    def subject():
        return (rng.choice(cast), False) if rng.random() < 0.4 else np()

    def sentence():
        kind = rng.random()
        stem, past = verbs[min(int(rng.expovariate(0.6)), len(verbs) - 1)]
        subj, plural = subject()
        obj, _ = np()
        if kind < 0.35:
            s = f"{subj} {past} {obj} {rng.choice(PREPS)} {np()[0]}"
        elif kind < 0.55:
            verb = stem if plural else _third_person(stem)
            s = f"{subj} {verb} {obj} {rng.choice(ADVERBS)}"
        elif kind < 0.70:
            quoted = f"{'the' if plural else 'this'} {pick(nouns)} is {pick(adjs)}"
            return f'"I think {quoted}," said {rng.choice(cast)}.'
        elif kind < 0.80:
            s = f"there were {rng.choice(NUMBERS)} {_plural(pick(nouns))} {rng.choice(PREPS)} {obj}"
        elif kind < 0.88:
            s = f"in {rng.randint(1820, 1899)}, {subj} {past} {obj} in {rng.choice(PLACES)}"
        elif kind < 0.94:
            s = f"when {subj} {past} {obj}, {rng.choice(cast)} {rng.choice(verbs)[1]} {np()[0]} {rng.choice(ADVERBS)}"
        elif kind < 0.97:
            return f'"Where is the {pick(nouns)}?" asked {rng.choice(cast)}.'
        else:
            s = f"{subj} {past} {obj} because {np()[0]} was {pick(adjs)}"
        return s[0].upper() + s[1:] + "."

    return " ".join(sentence() for _ in range(rng.randint(3, 7)))


def build_corpus(seed=SEED, size=CORPUS_BYTES):
    """Deterministic corpus text of at least `size` bytes."""
    rng = random.Random(seed)
    topics = sorted(TOPICS)
    parts, n, chapter = [], 0, 0
    while n < size:
        if rng.random() < 0.05 or not parts:
            chapter += 1
            parts.append(f"Chapter {chapter}\n\n")
        parts.append(_paragraph(rng, rng.choice(topics)) + "\n\n")
        n += len(parts[-1])
    return "".join(parts)


def load_data():
    """Return (train_bytes, val_bytes). Regenerated in memory each call (well under 1 s)."""
    data = build_corpus().encode("utf-8")
    cut = data.index(b"\n\n", len(data) - VAL_BYTES) + 2
    return data[:cut], data[cut:]


# ---------------------------------------------------------------------------
# Metric. Do not change: this is what the experiments are compared on.

def evaluate_bpb(prob_fn, val_data):
    """Bits per byte of `val_data` (bytes) under the model.

    prob_fn(context: bytes, next_byte: int) -> probability of next_byte given the
    preceding bytes (at most EVAL_CONTEXT of them). val_bpb is the mean over all
    validation bytes of -log2 p(byte | context); lower is better.
    """
    # A model must be a proper distribution over the 256 byte values, otherwise the
    # number is meaningless (returning p=1 everywhere would "win"). Spot-check it.
    for i in range(0, len(val_data), max(1, len(val_data) // 16)):
        ctx = val_data[max(0, i - EVAL_CONTEXT):i]
        total = sum(prob_fn(ctx, b) for b in range(256))
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"model probabilities sum to {total:.6f}, not 1, at byte {i}")
    bits = 0.0
    log2 = math.log2
    for i, b in enumerate(val_data):
        p = prob_fn(val_data[max(0, i - EVAL_CONTEXT):i], b)
        if not p > 0.0:
            raise ValueError(f"model gave probability {p} to byte {i}; log loss is infinite")
        bits -= log2(p)
    return bits / len(val_data)


if __name__ == "__main__":
    import time
    t0 = time.time()
    train, val = load_data()
    print(f"built corpus in {time.time() - t0:.2f}s: train {len(train):,} bytes, val {len(val):,} bytes")
    print(f"time budget: {TIME_BUDGET:g}s (env AUTORESEARCH_BUDGET_SECONDS)")
    print("sample:", val[:300].decode("utf-8"))
