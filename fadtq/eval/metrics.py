"""Evaluation metrics (pure, numpy). Predictions are class labels; ``None`` means unparsable.

Unparsable answers count as wrong everywhere (accuracy, recall, F1, balanced accuracy). The
Balance Score is computed over the *parsable* predictions (an unparsable answer is no class) and
is always reported next to the unparsable share, so a model cannot look balanced by failing.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fadtq.labels import NORMAL, PAIR3C_LABELS

UNPARSABLE = "unparsable"


def _codes(values: Sequence[str | None], classes: Sequence[str]) -> np.ndarray:
    """Class index per value; ``len(classes)`` for None or an unknown label."""
    index = {c: i for i, c in enumerate(classes)}
    return np.fromiter((index.get(v, len(classes)) if v is not None else len(classes) for v in values),
                       dtype=np.int64, count=len(values))


def accuracy(labels: Sequence[str], preds: Sequence[str | None]) -> float:
    """Micro accuracy ``Σ 1[pred_i = label_i] / N`` over all pairs (not the mean of categories)."""
    labels_arr, preds_arr = np.asarray(labels, dtype=object), np.asarray(preds, dtype=object)
    return float(np.mean(labels_arr == preds_arr)) if len(labels_arr) else 0.0


def per_group_accuracy(groups: Sequence[str], labels: Sequence[str], preds: Sequence[str | None]) -> dict[str, float]:
    """Micro accuracy within each group (e.g. category)."""
    groups_arr = np.asarray(groups, dtype=object)
    correct = np.asarray(labels, dtype=object) == np.asarray(preds, dtype=object)
    return {g: float(correct[groups_arr == g].mean()) for g in sorted(set(groups))}


def prediction_distribution(preds: Sequence[str | None], classes: Sequence[str] = PAIR3C_LABELS) -> np.ndarray:
    """``p_c`` = share of parsable predictions that are class c."""
    counts = np.bincount(_codes(preds, classes), minlength=len(classes) + 1)[: len(classes)].astype(np.float64)
    total = counts.sum()
    return counts / total if total else counts


def balance_score(preds: Sequence[str | None], classes: Sequence[str] = PAIR3C_LABELS) -> float:
    """Balance Score ``BS = H(p) / log K`` with ``H(p) = −Σ_c p_c log(p_c + 1e-12)``, p the distribution
    of predicted classes (K = 3 for Pair3C): 0 for a constant prediction, 1 for a uniform one."""
    p = prediction_distribution(preds, classes)
    if not p.sum():
        return 0.0
    entropy = -np.sum(p * np.log(p + 1e-12))
    return float(max(0.0, entropy / np.log(len(classes))))


def confusion_matrix(labels: Sequence[str], preds: Sequence[str | None], classes: Sequence[str] = PAIR3C_LABELS) -> np.ndarray:
    """``M[i, j]`` = pairs of true class i predicted as j; the last column counts unparsable answers."""
    k = len(classes)
    flat = _codes(labels, classes) * (k + 1) + _codes(preds, classes)
    return np.bincount(flat, minlength=(k + 1) * (k + 1)).reshape(k + 1, k + 1)[:k]


def per_class_recall(labels, preds, classes=PAIR3C_LABELS) -> dict[str, float]:
    """``recall_c = M[c, c] / Σ_j M[c, j]``."""
    m = confusion_matrix(labels, preds, classes)
    support = m.sum(axis=1)
    return {c: float(m[i, i] / support[i]) if support[i] else 0.0 for i, c in enumerate(classes)}


def macro_f1(labels, preds, classes=PAIR3C_LABELS) -> float:
    """Mean over classes of ``F1_c = 2·P_c·R_c / (P_c + R_c)``; classes without support or predictions give 0."""
    m = confusion_matrix(labels, preds, classes)[:, : len(classes)]
    tp = np.diag(m).astype(np.float64)
    predicted, support = m.sum(axis=0), confusion_matrix(labels, preds, classes).sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1.mean())


def binary_balanced_accuracy(labels, preds, normal: str = NORMAL) -> float:
    """MMAD-style anomaly-detection accuracy: ``(recall_normal + recall_anomaly) / 2`` where any
    non-normal class counts as "anomaly"; an unparsable answer is wrong for both."""
    labels_arr, preds_arr = np.asarray(labels, dtype=object), np.asarray(preds, dtype=object)
    is_normal = labels_arr == normal
    parsed = np.array([p is not None for p in preds_arr], dtype=bool)
    said_normal = preds_arr == normal
    recalls = []
    if is_normal.any():
        recalls.append(np.mean(said_normal[is_normal]))
    if (~is_normal).any():
        recalls.append(np.mean(parsed[~is_normal] & ~said_normal[~is_normal]))
    return float(np.mean(recalls)) if recalls else 0.0


def mean_reasoning_words(think_texts: Sequence[str | None]) -> float:
    """Average reasoning length in **words** (whitespace-separated tokens of the ``<think>`` text; 0 if absent)."""
    if not len(think_texts):
        return 0.0
    return float(np.mean([len(t.split()) if t else 0 for t in think_texts]))


def unparsable_share(preds: Sequence[str | None]) -> float:
    return float(np.mean([p is None for p in preds])) if len(preds) else 0.0
