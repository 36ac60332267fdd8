#!/usr/bin/env python
"""Benchmark: metrics and tables over 968 × 10 predictions (ten runs of the Pair3C test set).

1. Metrics and tables (the goal: under a second): every metric of docs/design.md and Table 2 in
   Markdown and LaTeX from ten already-read runs, fadtq's numpy path vs a baseline measured in the
   same run on the same rows: plain per-row Python loops computing the same numbers (accuracy,
   per-category accuracy and Balance Score, confusion matrix, recall, macro-F1, balanced accuracy,
   reasoning length, unparsable share). Both must agree.
2. For information, the whole of `fadtq report`'s reading and scoring: ten JSONL files read and
   checked against the test set (broken lines, duplicates, missing rows…) plus step 1, vs
   json.loads + the loops.
3. Step 1 again on a test set ``--scale`` times larger: how each path scales.

Timed round-robin; goals and ratios on the median.

    python scripts/bench_metrics.py [--runs 10] [--repeat 5] [--scale 50] [--json]
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from _bench import Bench, bench_parser

from fadtq.data.build import PAPER_TABLE1_TEST
from fadtq.eval.predictions import GroundTruth, read_predictions
from fadtq.eval.report import Run, latex_table, markdown_table, summarize
from fadtq.labels import NORMAL, PAIR3C_LABELS

#: Pair3C test set sizes per category (the paper's Table 1, see docs/design.md): 968 pairs.
CATEGORY_SIZES = {category: sum(counts.values()) for category, counts in PAPER_TABLE1_TEST.items()}


def make_runs(folder: Path, n_runs: int, seed: int = 0, scale: int = 1) -> tuple[GroundTruth, list[Path]]:
    rng = np.random.default_rng(seed)
    categories = [c for c, n in CATEGORY_SIZES.items() for _ in range(n * scale)]
    labels = rng.choice(PAIR3C_LABELS, size=len(categories)).tolist()
    truth = GroundTruth(index=np.arange(len(categories)), category=np.array(categories, dtype=object),
                        label=np.array(labels, dtype=object), classes=PAIR3C_LABELS)
    paths = []
    for k in range(n_runs):
        path = folder / f"run{k}.jsonl"
        with open(path, "w") as fh:
            for i, (category, label) in enumerate(zip(categories, labels, strict=True)):
                unparsable = rng.random() < 0.05
                pred = None if unparsable else (label if rng.random() < 0.5 else str(rng.choice(PAIR3C_LABELS)))
                fh.write(json.dumps({"index": i, "category": category, "label": label, "pred": pred,
                                     "think_words": int(rng.integers(0, 200)), "model": f"run{k}"}) + "\n")
        paths.append(path)
    return truth, paths


def fadtq_metrics(files) -> tuple[list[Run], str]:
    runs = [Run(file.name, file, summarize(file)) for file in files]
    return runs, markdown_table(runs) + latex_table(runs)


def fadtq_path(truth: GroundTruth, paths: list[Path]) -> tuple[list[Run], str]:
    return fadtq_metrics([read_predictions(path, truth) for path in paths])


def naive_metrics(rows: list[dict], classes=PAIR3C_LABELS) -> dict:
    """The same numbers with one Python loop per metric over the rows (no numpy)."""
    n = len(rows)
    correct = sum(1 for r in rows if r["pred"] == r["label"])
    per_cat = defaultdict(lambda: [0, 0, Counter()])
    for r in rows:
        entry = per_cat[r["category"]]
        entry[0] += r["pred"] == r["label"]
        entry[1] += 1
        if r["pred"] is not None:
            entry[2][r["pred"]] += 1

    def bs(counter: Counter) -> float:
        total = sum(counter.values())
        if not total:
            return 0.0
        h = -sum((counter[c] / total) * math.log(counter[c] / total + 1e-12) for c in classes)
        return min(1.0, max(0.0, h / math.log(len(classes))))

    confusion = [[0] * (len(classes) + 1) for _ in classes]
    for r in rows:
        j = classes.index(r["pred"]) if r["pred"] in classes else len(classes)
        confusion[classes.index(r["label"])][j] += 1
    recall, f1 = {}, []
    for i, c in enumerate(classes):
        support, predicted = sum(confusion[i]), sum(row[i] for row in confusion)
        rec = confusion[i][i] / support if support else 0.0
        prec = confusion[i][i] / predicted if predicted else 0.0
        recall[c] = rec
        f1.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    normals = [r for r in rows if r["label"] == NORMAL]
    anomalies = [r for r in rows if r["label"] != NORMAL]
    tnr = sum(r["pred"] == NORMAL for r in normals) / len(normals)
    tpr = sum(r["pred"] is not None and r["pred"] != NORMAL for r in anomalies) / len(anomalies)
    words = [r["think_words"] for r in rows if r.get("think_words") is not None]
    return {"accuracy": correct / n, "balance_score": bs(Counter(r["pred"] for r in rows if r["pred"] is not None)),
            "per_category": {c: (v[0] / v[1], bs(v[2])) for c, v in per_cat.items()}, "confusion": confusion,
            "recall": recall, "macro_f1": sum(f1) / len(f1), "balanced": (tnr + tpr) / 2,
            "words": sum(words) / len(words), "unparsable": sum(r["pred"] is None for r in rows) / n}


def naive_tables(row_sets: list[list[dict]]) -> tuple[list[dict], str]:
    results = [naive_metrics(rows) for rows in row_sets]
    table = "\n".join(" | ".join(f"{100 * a:.2f} | {b:.3f}" for a, b in r["per_category"].values()) for r in results)
    return results, table


def naive_path(paths: list[Path]) -> tuple[list[dict], str]:
    return naive_tables([[json.loads(line) for line in path.read_text().splitlines()] for path in paths])


def check_same_numbers(runs: list[Run], naive: list[dict]) -> None:
    """Both paths computed the same numbers, or the comparison means nothing."""
    for run, ref in zip(runs, naive, strict=True):
        s = run.summary
        assert math.isclose(s.accuracy, ref["accuracy"]) and math.isclose(s.balance_score, ref["balance_score"])
        assert math.isclose(s.macro_f1, ref["macro_f1"]) and math.isclose(s.binary_balanced_accuracy, ref["balanced"])
        assert s.confusion_matrix.tolist() == ref["confusion"] and math.isclose(s.mean_reasoning_words, ref["words"])
        assert math.isclose(s.unparsable_share, ref["unparsable"])
        for c, (acc, bs) in ref["per_category"].items():
            mine = s.per_category[c]
            assert math.isclose(mine["accuracy"], acc) and math.isclose(mine["balance_score"], bs)


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5, help="round-robin repeats (default: %(default)s)")
    parser.add_argument("--scale", type=int, default=50, help="3. also time step 1 on a test set this many times "
                        "larger (default: %(default)s; 0 = skip)")
    args = parser.parse_args()
    bench = Bench("metrics", args)
    pairs = sum(CATEGORY_SIZES.values())
    bench.say(f"{pairs} × {args.runs} predictions, {args.repeat} round-robin repeats")
    bench.say("1. all metrics + Table 2 (Markdown, LaTeX) from read runs; "
              "2. including reading the JSONL files (fadtq: checked against the test set, every bad line counted; "
              "the baseline checks nothing):")
    with tempfile.TemporaryDirectory() as tmp:
        truth, paths = make_runs(Path(tmp), args.runs)
        files = [read_predictions(path, truth) for path in paths]
        row_sets = [[json.loads(line) for line in path.read_text().splitlines()] for path in paths]
        measured = bench.round_robin({
            "1. fadtq (numpy)": lambda: fadtq_metrics(files),
            "1. per-row Python loops": lambda: naive_tables(row_sets),
            "2. fadtq": lambda: fadtq_path(truth, paths),
            "2. json.loads + loops": lambda: naive_path(paths),
        }, args.repeat)
    if measured["1. fadtq (numpy)"].error is None and measured["1. per-row Python loops"].error is None:
        check_same_numbers(measured["1. fadtq (numpy)"].value[0], measured["1. per-row Python loops"].value[0])
        bench.say("   (results of both paths checked equal)")
    bench.ratio("1. loops / fadtq", "1. per-row Python loops", "1. fadtq (numpy)")
    bench.ratio("2. json.loads + loops / fadtq", "2. json.loads + loops", "2. fadtq")
    bench.goal("1. fadtq under 1000 ms", "1. fadtq (numpy)", at_most=1.0)
    bench.goal("2. fadtq under 1000 ms", "2. fadtq", at_most=1.0)
    if args.scale > 1:
        bench.say(f"3. step 1 on {pairs * args.scale} × {args.runs} predictions (how each scales):")
        with tempfile.TemporaryDirectory() as tmp:
            truth, paths = make_runs(Path(tmp), args.runs, seed=1, scale=args.scale)
            files = [read_predictions(path, truth) for path in paths]
            row_sets = [[json.loads(line) for line in path.read_text().splitlines()] for path in paths]
            bench.round_robin({
                "3. fadtq (numpy)": lambda: fadtq_metrics(files),
                "3. per-row Python loops": lambda: naive_tables(row_sets),
            }, max(1, args.repeat // 2), warmup=False)
        bench.ratio("3. loops / fadtq", "3. per-row Python loops", "3. fadtq (numpy)")
    return bench.finish()


if __name__ == "__main__":
    sys.exit(main())
