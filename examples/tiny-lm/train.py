"""Tiny byte-level language model. THIS is the file the agent edits.

An interpolated n-gram model over bytes with absolute discounting (optionally
Kneser-Ney continuation counts). "Training" streams the training bytes through the
model batch by batch until the data is used up or the time budget runs out; the
model is then scored on held-out text with prepare.evaluate_bpb (lower is better).
Standard library only: run with `python3 train.py`.
"""

import math
import resource
import sys
import time
from collections import Counter

from prepare import TIME_BUDGET, evaluate_bpb, load_data

# ---------------------------------------------------------------------------
# Knobs

ORDER = 3                # longest context, in bytes; the model mixes orders 0..ORDER
DISCOUNT = 0.4           # subtracted from every seen count and given to the lower order (0 < D <= 1)
KN_CONTINUATION = False  # lower orders count distinct left contexts instead of raw occurrences
ADD_K = 1.0              # additive smoothing of the order-0 (unigram) base distribution
MAX_TRAIN_BYTES = None   # cap on training bytes consumed (None: all of them)
BATCH_BYTES = 16_384     # bytes counted per step (the final counts do not depend on it)
PROBE_BYTES = 512        # bytes per step scored before counting them, for the progress loss

# ---------------------------------------------------------------------------
# Model

BYTE = [bytes([b]) for b in range(256)]


class NGramModel:
    def __init__(self, order):
        self.order = order
        # one table per context length n: gram (context + next byte) -> count,
        # context -> total count, context -> number of distinct next bytes
        self.counts = [Counter() for _ in range(order + 1)]
        self.totals = [Counter() for _ in range(order + 1)]
        self.types = [Counter() for _ in range(order + 1)]

    def _add(self, n, grams):
        """Add a Counter of (n+1)-byte grams to table n; return the grams seen for the first time."""
        table = self.counts[n]
        new = grams.keys() - table.keys()
        table.update(grams)
        totals = self.totals[n]
        for gram, k in grams.items():
            totals[gram[:-1]] += k
        self.types[n].update(gram[:-1] for gram in new)
        return new

    def update(self, data, start, end):
        """Count every gram whose last byte is in data[start:end]."""
        new = ()
        for n in range(self.order, -1, -1):
            if KN_CONTINUATION and n < self.order:
                # Kneser-Ney: a lower-order gram counts the distinct bytes seen before it, and each
                # first-time (n+2)-gram one order up is exactly one such new left context.
                grams = Counter(gram[1:] for gram in new)
            else:
                grams = Counter(data[i - n:i + 1] for i in range(max(start, n), end))
            new = self._add(n, grams)

    def prob(self, context, byte):
        """P(byte | context), interpolating from order 0 up to the longest seen context."""
        nxt = BYTE[byte]
        p = (self.counts[0][nxt] + ADD_K) / (self.totals[0][b""] + 256 * ADD_K)
        for n in range(1, min(self.order, len(context)) + 1):
            h = context[-n:]
            total = self.totals[n].get(h)
            if not total:
                break  # an unseen context has no seen extensions either
            d = DISCOUNT
            # discounted estimate plus the freed mass d * (distinct next bytes), spread by the lower order
            p = (max(self.counts[n].get(h + nxt, 0) - d, 0.0) + d * self.types[n][h] * p) / total
        return p

    def num_params(self):
        return sum(len(table) for table in self.counts)


# ---------------------------------------------------------------------------
# Training

t_start = time.time()
train_data, val_data = load_data()
if MAX_TRAIN_BYTES is not None:
    train_data = train_data[:MAX_TRAIN_BYTES]

model = NGramModel(ORDER)
t_train = time.time()
pos = step = 0
last_print = 0.0
while pos < len(train_data):
    end = min(pos + BATCH_BYTES, len(train_data))
    # progress loss: bits per byte on the start of this batch, scored before the model has seen it
    probe = range(pos, min(pos + PROBE_BYTES, end))
    bits = sum(-math.log2(model.prob(train_data[max(0, i - ORDER):i], train_data[i])) for i in probe)
    loss = bits / len(probe)
    if math.isnan(loss) or loss > 100:
        print("\nFAIL")
        sys.exit(1)
    model.update(train_data, pos, end)
    pos, step = end, step + 1

    elapsed = time.time() - t_train
    if time.time() - last_print >= 0.1 or pos == len(train_data):  # at most ~10 records per second
        last_print = time.time()
        pct = 100.0 * pos / len(train_data)
        remaining = max(0.0, TIME_BUDGET - elapsed)
        print(f"\rstep {step:05d} ({pct:.1f}%) | loss: {loss:.4f} | tok/sec: {pos / max(elapsed, 1e-9):.0f} "
              f"| remaining: {remaining:.0f}s    ", end="", flush=True)
    if elapsed >= TIME_BUDGET:
        break
training_seconds = time.time() - t_train

# ---------------------------------------------------------------------------
# Evaluation and summary

val_bpb = evaluate_bpb(model.prob, val_data)

peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
peak_mb = peak_rss / (1024 * 1024) if sys.platform == "darwin" else peak_rss / 1024
print()
print("---")
print(f"val_bpb:          {val_bpb:.6f}")
print(f"training_seconds: {training_seconds:.1f}")
print(f"total_seconds:    {time.time() - t_start:.1f}")
print(f"peak_vram_mb:     {peak_mb:.1f}")
print(f"mfu_percent:      {0.0:.2f}")
print(f"total_tokens_M:   {pos / 1e6:.1f}")
print(f"num_steps:        {step}")
print(f"num_params_M:     {model.num_params() / 1e6:.1f}")
print(f"depth:            {ORDER}")
