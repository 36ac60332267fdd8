#!/usr/bin/env python
"""Benchmark: metrics and tables over 968 × 10 predictions (ten runs of the Pair3C test set).

Prints the time of fadtq's vectorised metrics and, as a baseline measured in the same run, of a
plain per-row Python loop computing the same numbers; goal: everything under a second.
"""

import time
from collections import Counter

import numpy as np

from fadtq.eval import metrics
from fadtq.eval.report import latex_table, markdown_table, RunMetrics
from fadtq.labels import PAIR3C_LABELS

CATS = ["breakfast_box", "splicing_connectors", "juice_bottle", "screw_bag", "pushpins"]


def naive(labels, preds, cats):
    correct = sum(1 for l, p in zip(labels, preds) if l == p) / len(labels)
    per = {}
    for c in set(cats):
        rows = [(l, p) for l, p, cc in zip(labels, preds, cats) if cc == c]
        per[c] = sum(1 for l, p in rows if l == p) / len(rows)
    counts = Counter(p for p in preds if p is not None)
    total = sum(counts.values())
    h = -sum((n / total) * np.log(n / total + 1e-12) for n in counts.values())
    return correct, per, h / np.log(3)


def main() -> None:
    rng = np.random.default_rng(0)
    runs = []
    for _ in range(10):
        labels = rng.choice(PAIR3C_LABELS, size=968).tolist()
        preds = [None if rng.random() < 0.05 else str(rng.choice(PAIR3C_LABELS)) for _ in range(968)]
        cats = rng.choice(CATS, size=968).tolist()
        runs.append((labels, preds, cats))

    start = time.perf_counter()
    results = []
    for k, (labels, preds, cats) in enumerate(runs):
        per = {c: (0, 0, acc, metrics.balance_score([p for p, cc in zip(preds, cats) if cc == c]))
               for c, acc in metrics.per_group_accuracy(cats, labels, preds).items()}
        results.append(RunMetrics(f"run{k}", len(labels), metrics.accuracy(labels, preds), metrics.balance_score(preds),
                                  per, metrics.confusion_matrix(labels, preds), metrics.per_class_recall(labels, preds),
                                  metrics.macro_f1(labels, preds), metrics.binary_balanced_accuracy(labels, preds),
                                  0.0, metrics.unparsable_share(preds), ""))
    markdown_table(results), latex_table(results)
    ours = time.perf_counter() - start

    start = time.perf_counter()
    for labels, preds, cats in runs:
        naive(labels, preds, cats)
    baseline = time.perf_counter() - start
    print(f"968 × 10 predictions: fadtq metrics + tables {ours * 1e3:.1f} ms (goal < 1000 ms); "
          f"naive loop (accuracy, per-category, BS only) {baseline * 1e3:.1f} ms; ratio {baseline / ours:.2f}×")


if __name__ == "__main__":
    main()
