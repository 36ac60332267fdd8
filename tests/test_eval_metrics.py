"""Metrics against hand-computed values, and the paper's FAD-TQ row reproduced by `fadtq report`."""

import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from fadtq.eval import metrics

N, S, L = "normal", "structural", "logical"


def test_accuracy_is_micro_and_unparsable_is_wrong():
    labels = [N, S, L, N]
    preds = [N, S, None, L]
    assert metrics.accuracy(labels, preds) == 0.5
    assert metrics.accuracy(np.array(labels, dtype=object), pd.Series(preds)) == 0.5  # any sequence type
    assert metrics.accuracy([], []) == 0.0
    # micro, not the mean of categories: a (2/2), b (0/1) → 2/3, whereas the category mean would be 1/2
    cats, labels, preds = ["a", "a", "b"], [N, S, L], [N, S, N]
    assert metrics.accuracy(labels, preds) == pytest.approx(2 / 3)
    assert metrics.per_category_counts(cats, labels, preds) == {"a": (2, 2), "b": (0, 1)}
    assert metrics.per_category_accuracy(cats, labels, preds) == {"a": 1.0, "b": 0.0}


def test_class_codes_put_unknown_and_none_last():
    assert metrics.class_codes([L, None, "banana", N, S]).tolist() == [2, 3, 3, 0, 1]


def test_balance_score_extremes_and_hand_values():
    assert metrics.balance_score([N] * 10) == 0.0
    assert metrics.balance_score([L] * 3) == 0.0
    assert metrics.balance_score([N, S, L] * 5) == pytest.approx(1.0, abs=1e-9)
    # p = (1/2, 1/2, 0): H = log 2 → BS = log 2 / log 3
    assert metrics.balance_score([N, S]) == pytest.approx(math.log(2) / math.log(3), abs=1e-9)
    # p = (1/2, 1/4, 1/4): H = 1.5 log 2
    assert metrics.balance_score([N, N, S, L]) == pytest.approx(1.5 * math.log(2) / math.log(3), abs=1e-9)
    # unparsable answers are no class: p over the parsable ones only
    assert metrics.balance_score([N, N, None, None]) == 0.0
    assert metrics.balance_score([N, S, None, None, None]) == pytest.approx(math.log(2) / math.log(3), abs=1e-9)
    assert metrics.balance_score([]) == 0.0 and metrics.balance_score([None]) == 0.0
    # K = 2 for a binary set: uniform → 1
    assert metrics.balance_score([N, "anomalous"], classes=(N, "anomalous")) == pytest.approx(1.0, abs=1e-9)


def test_entropy_uses_the_papers_epsilon():
    p = np.array([0.5, 0.5, 0.0])
    assert metrics.entropy(p) == pytest.approx(-(2 * 0.5 * math.log(0.5 + 1e-12)), abs=1e-15)
    assert metrics.prediction_distribution([N, N, S, None, "x"]).tolist() == [2 / 3, 1 / 3, 0.0]


def test_per_category_balance_score_matches_the_scalar_one():
    cats = ["a", "a", "a", "b", "b", "c"]
    preds = [N, S, L, N, None, None]
    got = metrics.per_category_balance_score(cats, preds)
    assert got["a"] == pytest.approx(1.0, abs=1e-9) and got["b"] == 0.0 and got["c"] == 0.0
    rng = np.random.default_rng(1)
    cats = rng.choice(["x", "y", "z"], size=200).tolist()
    preds = [None if r < 0.1 else str(c) for r, c in zip(rng.random(200), rng.choice([N, S, L], size=200), strict=True)]
    per = metrics.per_category_balance_score(cats, preds)
    for c in ("x", "y", "z"):
        assert per[c] == pytest.approx(metrics.balance_score([p for p, cc in zip(preds, cats, strict=True) if cc == c]), abs=1e-12)


def test_confusion_recall_f1_hand_values():
    labels = [N, N, S, S, L, L]
    preds = [N, S, S, S, None, N]
    m = metrics.confusion_matrix(labels, preds)
    assert m.tolist() == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 1]]  # last column: unparsable
    assert metrics.per_class_recall(labels, preds) == {N: 0.5, S: 1.0, L: 0.0}
    # precision: N 1/2, S 2/3, L 0 (no prediction); recall: N 1/2, S 1, L 0 → F1: 1/2, 4/5, 0
    assert metrics.macro_f1(labels, preds) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert metrics.macro_f1([N, S, L], [N, S, L]) == 1.0


def test_binary_balanced_accuracy_hand_values():
    labels = [N, N, S, L]
    preds = [N, L, L, None]  # TNR 1/2; TPR 1/2 (the unparsable anomaly is wrong)
    assert metrics.binary_balanced_accuracy(labels, preds) == 0.5
    # a structural pair called logical is still a detected anomaly: TNR 1, TPR 1
    assert metrics.binary_balanced_accuracy([N, S, L], [N, L, S]) == 1.0
    # imbalanced: 1 normal (missed), 3 anomalies (all found) → (0 + 1) / 2
    assert metrics.binary_balanced_accuracy([N, S, S, L], [S, S, L, L]) == 0.5
    assert metrics.binary_balanced_accuracy([S, L], [S, N]) == 0.5  # only anomalies: their recall


def test_reasoning_words_and_unparsable_share():
    assert metrics.think_word_count("look at  the\nleft   part") == 5
    assert metrics.think_word_count(None) == 0
    assert metrics.mean_reasoning_words([3, 0, 1]) == pytest.approx(4 / 3)
    assert metrics.mean_reasoning_words([3, float("nan"), 1]) == 2.0  # a missing row has no length
    assert metrics.mean_reasoning_words([]) == 0.0
    assert metrics.unparsable_share([N, None, None, S]) == 0.5


def test_summarize_run_hand_values():
    s = metrics.summarize_run(["a", "a", "b", "b"], [N, S, L, N], [N, L, L, None], [10, 20, 30, 0])
    assert s.pairs == 4 and s.accuracy == 0.5
    assert s.per_category["a"] == {"correct": 1, "total": 2, "accuracy": 0.5,
                                   "balance_score": pytest.approx(math.log(2) / math.log(3))}
    assert s.per_category["b"]["balance_score"] == 0.0
    assert s.prediction_distribution == {N: pytest.approx(1 / 3), S: 0.0, L: pytest.approx(2 / 3)}
    assert s.mean_reasoning_words == 15.0 and s.unparsable_share == 0.25


# The paper's Table 2, FAD-TQ row: (correct, total) per category.
FADTQ_ROW = {"breakfast_box": (112, 155), "splicing_connectors": (104, 192), "juice_bottle": (114, 210),
             "screw_bag": (99, 221), "pushpins": (112, 190)}


def fadtq_row_predictions(path):
    """968 prediction lines with exactly the FAD-TQ row's correct count in each category."""
    rng = np.random.default_rng(0)
    lines, index = [], 0
    for category, (correct, total) in FADTQ_ROW.items():
        for i, label in enumerate(rng.choice([N, S, L], size=total)):
            wrong = [c for c in (N, S, L) if c != label][i % 2]
            lines.append({"index": index, "category": category, "label": str(label),
                          "pred": str(label) if i < correct else wrong, "think_words": 12, "model": "FAD-TQ"})
            index += 1
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_report_prints_the_papers_fadtq_row(tmp_path):
    run = fadtq_row_predictions(tmp_path / "fadtq.jsonl")
    result = subprocess.run([sys.executable, "-m", "fadtq", "report", str(run), "--out", str(tmp_path / "report")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    row = next(line for line in result.stdout.splitlines() if line.startswith("| FAD-TQ |"))
    accuracies = [cell.strip() for cell in row.strip("|").split("|")][1::2]
    assert accuracies == ["72.26", "54.17", "54.29", "44.80", "58.95", "55.89"]  # paper order, overall = micro
    latex = (tmp_path / "report" / "table.tex").read_text()
    assert all(figure in latex for figure in ("72.26", "54.17", "54.29", "44.80", "58.95", "55.89"))
    overall = json.loads((tmp_path / "report" / "metrics.json").read_text())[0]
    assert overall["pairs"] == 968 and round(100 * overall["accuracy"], 2) == 55.89
    assert sum(v["correct"] for v in overall["per_category"].values()) == 541
    # the mean of the category accuracies is not what the table prints
    assert round(np.mean([c / t for c, t in FADTQ_ROW.values()]) * 100, 2) != 55.89


def test_summarize_run_agrees_with_the_single_metric_functions():
    rng = np.random.default_rng(3)
    cats = rng.choice(["a", "b", "c", "d"], size=500).tolist()
    labels = rng.choice([N, S, L], size=500).tolist()
    preds = [None if r < 0.08 else str(p) for r, p in zip(rng.random(500), rng.choice([N, S, L], size=500), strict=True)]
    s = metrics.summarize_run(cats, labels, preds, rng.integers(0, 50, size=500))
    assert s.accuracy == metrics.accuracy(labels, preds)
    assert s.balance_score == pytest.approx(metrics.balance_score(preds), abs=1e-12)
    assert {c: v["accuracy"] for c, v in s.per_category.items()} == metrics.per_category_accuracy(cats, labels, preds)
    assert {c: v["balance_score"] for c, v in s.per_category.items()} == metrics.per_category_balance_score(cats, preds)
    assert (s.confusion_matrix == metrics.confusion_matrix(labels, preds)).all()
    assert s.per_class_recall == metrics.per_class_recall(labels, preds)
    assert s.macro_f1 == metrics.macro_f1(labels, preds)
    assert s.binary_balanced_accuracy == pytest.approx(metrics.binary_balanced_accuracy(labels, preds), abs=1e-12)
    assert s.unparsable_share == metrics.unparsable_share(preds)
    binary = metrics.summarize_run(["a"] * 4, [N, N, "anomalous", "anomalous"], [N, "anomalous", "anomalous", None],
                                   classes=(N, "anomalous"))
    # TNR 1/2, TPR 1/2; p = (1/3, 2/3) over the three parsable answers, K = 2
    entropy = -(1 / 3 * math.log(1 / 3) + 2 / 3 * math.log(2 / 3))
    assert binary.binary_balanced_accuracy == 0.5 and binary.balance_score == pytest.approx(entropy / math.log(2))
    with pytest.raises(ValueError, match="outside the classes"):
        metrics.summarize_run(["a"], ["weird"], [N])


def as_dict(summary: metrics.RunSummary) -> dict:
    fields = {field.name: getattr(summary, field.name) for field in dataclasses.fields(summary)}
    return {**fields, "confusion_matrix": fields["confusion_matrix"].tolist()}


def summary_from_the_public_functions(cats, labels, preds, words, classes) -> dict:
    """What `summarize_run` must return, built only from the per-metric functions the tests above check."""
    counts = metrics.per_category_counts(cats, labels, preds)
    accuracy = metrics.per_category_accuracy(cats, labels, preds)
    balance = metrics.per_category_balance_score(cats, preds, classes)
    return {
        "pairs": len(labels), "classes": tuple(classes), "accuracy": metrics.accuracy(labels, preds),
        "balance_score": metrics.balance_score(preds, classes),
        "per_category": {c: {"correct": ok, "total": n, "accuracy": accuracy[c], "balance_score": balance[c]}
                         for c, (ok, n) in counts.items()},
        "confusion_matrix": metrics.confusion_matrix(labels, preds, classes).tolist(),
        "per_class_recall": metrics.per_class_recall(labels, preds, classes),
        "macro_f1": metrics.macro_f1(labels, preds, classes),
        "binary_balanced_accuracy": metrics.binary_balanced_accuracy(labels, preds),
        "mean_reasoning_words": metrics.mean_reasoning_words(words),
        "unparsable_share": metrics.unparsable_share(preds),
        "prediction_distribution": dict(zip(classes, metrics.prediction_distribution(preds, classes).tolist(), strict=True)),
    }


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("classes", [(N, S, L), (N, "anomalous")], ids=["pair3c", "binary"])
def test_summarize_run_prints_exactly_what_the_metric_functions_compute(seed, classes):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 400))
    cats = rng.choice(["a", "b", "c"], size=size).tolist()
    labels = rng.choice(classes, size=size).tolist()
    # a model that prefers "normal" and sometimes fails to answer; category "c" never parses
    skew = [0.6] + [0.4 / (len(classes) - 1)] * (len(classes) - 1)
    answers = rng.choice(classes, size=size, p=skew)
    preds = [None if c == "c" or r < 0.1 else str(a) for c, r, a in zip(cats, rng.random(size), answers, strict=True)]
    words = rng.integers(0, 80, size=size).astype(np.float64)
    words[rng.random(size) < 0.1] = np.nan  # rows without a recorded length
    summary = as_dict(metrics.summarize_run(cats, labels, preds, words, classes))
    assert summary == summary_from_the_public_functions(cats, labels, preds, words, classes)  # exact, not approx
    # an answer that is no class counts as unparsable in every metric, as None does
    odd = ["banana" if p is None else p for p in preds]
    assert as_dict(metrics.summarize_run(cats, labels, odd, words, classes)) == summary


def test_summarize_run_of_nothing_is_zero():
    s = metrics.summarize_run([], [], [])
    assert (s.pairs, s.accuracy, s.balance_score, s.macro_f1, s.binary_balanced_accuracy, s.unparsable_share) == (
        0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert s.per_category == {} and s.confusion_matrix.tolist() == [[0] * 4] * 3
