"""Metrics against hand-computed values, and the paper's FAD-TQ row reproduced by the report."""

import json
import math

import numpy as np
import pytest

from fadtq.eval import metrics
from fadtq.eval.report import write_report

N, S, L = "normal", "structural", "logical"


def test_accuracy_and_per_category():
    labels = [N, S, L, N]
    preds = [N, S, None, L]
    assert metrics.accuracy(labels, preds) == 0.5
    assert metrics.per_group_accuracy(["a", "a", "b", "b"], labels, preds) == {"a": 1.0, "b": 0.0}


def test_balance_score_extremes_and_hand_value():
    assert metrics.balance_score([N] * 10) == 0.0
    assert metrics.balance_score([N, S, L] * 5) == pytest.approx(1.0)
    # p = (1/2, 1/2, 0): H = log 2 → BS = log 2 / log 3
    assert metrics.balance_score([N, S]) == pytest.approx(math.log(2) / math.log(3), abs=1e-9)
    assert metrics.balance_score([N, N, None, None]) == 0.0  # unparsable answers are no class
    assert metrics.balance_score([]) == 0.0


def test_confusion_recall_f1_hand_values():
    labels = [N, N, S, S, L, L]
    preds = [N, S, S, S, None, N]
    m = metrics.confusion_matrix(labels, preds)
    assert m.tolist() == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 1]]
    assert metrics.per_class_recall(labels, preds) == {N: 0.5, S: 1.0, L: 0.0}
    # precision: N 1/2, S 2/3, L 0; recall: N 1/2, S 1, L 0 → F1: 1/2, 4/5, 0
    assert metrics.macro_f1(labels, preds) == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_binary_balanced_accuracy_hand_value():
    labels = [N, N, S, L]
    preds = [N, L, L, None]  # normal recall 1/2; anomaly recall 1/2 (unparsable is wrong)
    assert metrics.binary_balanced_accuracy(labels, preds) == 0.5


def test_reasoning_words_and_unparsable_share():
    assert metrics.mean_reasoning_words(["a b c", None, "d"]) == pytest.approx(4 / 3)
    assert metrics.unparsable_share([N, None, None, S]) == 0.5


# The paper's Table 2, FAD-TQ row: (correct, total) per category.
FADTQ_ROW = {"breakfast_box": (112, 155), "splicing_connectors": (104, 192), "juice_bottle": (114, 210),
             "screw_bag": (99, 221), "pushpins": (112, 190)}


def test_report_reproduces_the_paper_fadtq_row(tmp_path):
    rng = np.random.default_rng(0)
    lines, index = [], 0
    for category, (correct, total) in FADTQ_ROW.items():
        labels = rng.choice([N, S, L], size=total)
        for i, label in enumerate(labels):
            wrong = [c for c in (N, S, L) if c != label][i % 2]
            lines.append({"index": index, "category": category, "label": str(label),
                          "pred": str(label) if i < correct else wrong, "think_words": 12})
            index += 1
    run = tmp_path / "fadtq.jsonl"
    run.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    files = write_report([run], tmp_path / "report")
    table = files["markdown"].read_text()
    for figure in ("72.26", "54.17", "54.29", "44.80", "58.95", "55.89"):
        assert figure in table
    assert "55.89" in files["latex"].read_text()
    overall = json.loads(files["metrics"].read_text())[0]
    assert overall["pairs"] == 968 and round(100 * overall["accuracy"], 2) == 55.89
