"""Evaluation metrics of the paper (DESIGN §1): one small pure numpy function per metric.

Inputs are sequences (lists, numpy or pandas) of class labels. A prediction is ``None`` when the
answer could not be mapped to exactly one class ("unparsable"). How unparsable answers count:

- accuracy, per-class recall, macro-F1, balanced accuracy: **wrong** (never dropped, so a model
  cannot raise its accuracy by refusing to answer);
- Balance Score: **no class** — p is the distribution over the *parsable* predictions, because an
  unparsable answer is not a decision for any class. It is always reported next to
  :func:`unparsable_share`, so a model cannot look balanced by failing to answer;
- confusion matrix: an extra last column.

Reasoning length is measured in **words**: whitespace-separated tokens of the ``<think>`` text
(tokenizer-independent, so models with different tokenizers compare).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from fadtq.labels import NORMAL, PAIR3C_LABELS

UNPARSABLE = "unparsable"
#: The epsilon inside the log of the Balance Score, as in the paper: H = −Σ p log(p + 1e-12).
ENTROPY_EPS = 1e-12


def _objects(values) -> np.ndarray:
    """A 1-D object array (strings and None), whatever sequence type came in."""
    if isinstance(values, np.ndarray) and values.dtype == object and values.ndim == 1:
        return values
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def class_codes(values, classes: Sequence[str] = PAIR3C_LABELS) -> np.ndarray:
    """``code_i = k`` where ``values[i] == classes[k]``; ``K = len(classes)`` for None or an unknown value."""
    values = _objects(values)
    codes = np.full(len(values), len(classes), dtype=np.int64)
    for k, name in enumerate(classes):
        codes[values == name] = k
    return codes


def correct_mask(labels, preds) -> np.ndarray:
    """``c_i = 1[pred_i = label_i]``; an unparsable prediction (None) is never correct."""
    return _objects(labels) == _objects(preds)


def accuracy(labels, preds) -> float:
    """Micro accuracy ``Acc = Σ_i 1[pred_i = label_i] / N`` over all pairs (not the mean of categories)."""
    correct = correct_mask(labels, preds)
    return float(correct.mean()) if len(correct) else 0.0


def per_category_counts(categories, labels, preds) -> dict[str, tuple[int, int]]:
    """``category -> (Σ_{i∈c} 1[pred_i = label_i], |c|)``: correct answers and pairs per category."""
    names, inverse = _category_index(categories)
    correct = np.bincount(inverse, weights=correct_mask(labels, preds), minlength=len(names))
    totals = np.bincount(inverse, minlength=len(names))
    return {str(n): (int(c), int(t)) for n, c, t in zip(names, correct, totals)}


def per_category_accuracy(categories, labels, preds) -> dict[str, float]:
    """Micro accuracy within each category: ``Acc_c = Σ_{i∈c} 1[pred_i = label_i] / |c|``."""
    return {name: correct / total for name, (correct, total) in per_category_counts(categories, labels, preds).items()}


def prediction_distribution(preds, classes: Sequence[str] = PAIR3C_LABELS) -> np.ndarray:
    """``p_c = #{i: pred_i = c} / #{i: pred_i parsable}`` (all zeros when nothing parsed)."""
    counts = np.bincount(class_codes(preds, classes), minlength=len(classes) + 1)[: len(classes)].astype(np.float64)
    total = counts.sum()
    return counts / total if total else counts


def entropy(p: np.ndarray) -> np.ndarray:
    """``H(p) = −Σ_c p_c log(p_c + 1e-12)`` (natural log) over the last axis."""
    p = np.asarray(p, dtype=np.float64)
    return -np.sum(p * np.log(p + ENTROPY_EPS), axis=-1)


def normalized_entropy(p: np.ndarray) -> np.ndarray:
    """``BS = H(p) / log K``, clipped to [0, 1] against rounding."""
    p = np.asarray(p, dtype=np.float64)
    return np.clip(entropy(p) / np.log(p.shape[-1]), 0.0, 1.0) + 0.0  # + 0.0 turns −0.0 into 0.0


def balance_score(preds, classes: Sequence[str] = PAIR3C_LABELS) -> float:
    """Balance Score ``BS = H(p) / log K``, ``H(p) = −Σ_c p_c log(p_c + 1e-12)``, p the distribution of
    predicted classes over the parsable predictions (K = 3 for Pair3C). 0 for a constant
    prediction, 1 for a uniform one; 0 when nothing parsed."""
    return float(normalized_entropy(prediction_distribution(preds, classes)))


def _category_index(categories) -> tuple[list[str], np.ndarray]:
    """``(names, inverse)``: the sorted distinct categories and each row's position among them
    (a hash set for the few names, then one vectorised comparison per name)."""
    values = _objects(categories)
    distinct = set(values.tolist())
    if not all(isinstance(v, str) for v in distinct):
        values = _objects([str(v) for v in values])
        distinct = {str(v) for v in distinct}
    names = sorted(distinct)
    inverse = np.zeros(len(values), dtype=np.int64)
    for k, name in enumerate(names[1:], 1):
        inverse[values == name] = k
    return names, inverse


def _balance_by_group(inverse: np.ndarray, n_groups: int, pred_codes: np.ndarray, k: int) -> np.ndarray:
    counts = np.bincount(inverse * (k + 1) + pred_codes, minlength=n_groups * (k + 1)).reshape(n_groups, k + 1)
    counts = counts[:, :k].astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return normalized_entropy(np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0))


def per_category_balance_score(categories, preds, classes: Sequence[str] = PAIR3C_LABELS) -> dict[str, float]:
    """The Balance Score of the predictions within each category (one vectorised pass)."""
    names, inverse = _category_index(categories)
    scores = _balance_by_group(inverse, len(names), class_codes(preds, classes), len(classes))
    return {str(n): float(bs) for n, bs in zip(names, scores)}


def _confusion_from_codes(label_codes: np.ndarray, pred_codes: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(label_codes * (k + 1) + pred_codes, minlength=(k + 1) * (k + 1)).reshape(k + 1, k + 1)[:k]


def confusion_matrix(labels, preds, classes: Sequence[str] = PAIR3C_LABELS) -> np.ndarray:
    """``M[i, j]`` = pairs of true class i predicted as class j, shape K × (K+1); the last column
    counts unparsable answers."""
    return _confusion_from_codes(class_codes(labels, classes), class_codes(preds, classes), len(classes))


def recall_from_confusion(m: np.ndarray) -> np.ndarray:
    """``recall_c = M[c, c] / Σ_j M[c, j]`` (unparsable answers in the denominator); 0 without support."""
    tp, support = np.diag(m).astype(np.float64), m.sum(axis=1)
    return np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)


def macro_f1_from_confusion(m: np.ndarray) -> float:
    """``macro-F1 = (1/K) Σ_c 2·P_c·R_c / (P_c + R_c)``, ``P_c = M[c,c] / Σ_i M[i,c]``,
    ``R_c = M[c,c] / Σ_j M[c,j]``; a term with a zero denominator is 0."""
    tp = np.diag(m).astype(np.float64)
    predicted = m[:, : m.shape[0]].sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = recall_from_confusion(m)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return float(f1.mean()) if len(f1) else 0.0


def per_class_recall(labels, preds, classes: Sequence[str] = PAIR3C_LABELS) -> dict[str, float]:
    """``recall_c = M[c, c] / Σ_j M[c, j]`` (unparsable answers in the denominator); 0 without support."""
    return {c: float(r) for c, r in zip(classes, recall_from_confusion(confusion_matrix(labels, preds, classes)))}


def macro_f1(labels, preds, classes: Sequence[str] = PAIR3C_LABELS) -> float:
    """Macro-F1 over the classes (see :func:`macro_f1_from_confusion`); unparsable answers are
    misses of their true class and predictions of no class."""
    return macro_f1_from_confusion(confusion_matrix(labels, preds, classes))


def balanced_accuracy_from_confusion(m: np.ndarray, normal_index: int) -> float:
    """Normal vs any anomaly from the K × (K+1) confusion matrix: ``(TNR + TPR) / 2`` with
    ``TNR = M[n, n] / Σ_j M[n, j]`` and ``TPR = Σ_{i≠n} Σ_{j≠n, j<K} M[i, j] / Σ_{i≠n} Σ_j M[i, j]``."""
    k = m.shape[0]
    anomaly_rows = np.arange(k) != normal_index
    normal_total = m[normal_index].sum()
    anomaly_total = m[anomaly_rows].sum()
    detected = m[anomaly_rows][:, :k][:, anomaly_rows].sum()
    recalls = ([m[normal_index, normal_index] / normal_total] if normal_total else []) + (
        [detected / anomaly_total] if anomaly_total else [])
    return float(np.mean(recalls)) if recalls else 0.0


def binary_balanced_accuracy(labels, preds, normal: str = NORMAL) -> float:
    """MMAD-style anomaly-detection accuracy, normal vs any anomaly:
    ``(TNR + TPR) / 2`` with ``TNR = #{normal said normal} / #normal`` and
    ``TPR = #{anomaly said any anomaly class} / #anomaly``; an unparsable answer is wrong for both.
    With only one kind present, the recall of that kind."""
    labels, preds = _objects(labels), _objects(preds)
    is_normal = labels == normal
    said_normal = preds == normal
    said_anomaly = (preds != None) & ~said_normal  # noqa: E711 — elementwise None test on an object array
    recalls = [said_normal[is_normal].mean()] if is_normal.any() else []
    if (~is_normal).any():
        recalls.append(said_anomaly[~is_normal].mean())
    return float(np.mean(recalls)) if recalls else 0.0


def think_word_count(think: str | None) -> int:
    """Reasoning length of one response in words: ``len(think.split())``; 0 without a ``<think>`` span."""
    return len(think.split()) if isinstance(think, str) else 0


def mean_reasoning_words(word_counts) -> float:
    """Average reasoning length ``(1/N) Σ_i words_i`` in **words** over all responses (a response
    without a ``<think>`` span counts 0 words); missing values (NaN) are ignored."""
    counts = np.asarray(word_counts, dtype=np.float64)
    counts = counts[~np.isnan(counts)]
    return float(counts.mean()) if len(counts) else 0.0


def unparsable_share(preds) -> float:
    """``(1/N) Σ_i 1[pred_i is None]``: share of answers that name no single class."""
    preds = _objects(preds)
    return float(np.mean(preds == None)) if len(preds) else 0.0  # noqa: E711


@dataclass(frozen=True)
class RunSummary:
    """Every metric of one run over one test set."""

    pairs: int
    classes: tuple[str, ...]
    accuracy: float
    balance_score: float
    per_category: dict[str, dict[str, float]]  # category -> correct, total, accuracy, balance_score
    confusion_matrix: np.ndarray
    per_class_recall: dict[str, float]
    macro_f1: float
    binary_balanced_accuracy: float
    mean_reasoning_words: float
    unparsable_share: float
    prediction_distribution: dict[str, float]


def summarize_run(categories, labels, preds, think_words=(), classes: Sequence[str] = PAIR3C_LABELS) -> RunSummary:
    """All metrics of one run; ``preds[i]`` is a class label or None (unparsable or missing).
    ``labels`` must all be classes (the prediction reader ensures it). Codes and the confusion
    matrix are computed once and every metric is derived from them."""
    classes, k = tuple(classes), len(classes)
    label_codes, pred_codes = class_codes(labels, classes), class_codes(preds, classes)
    if np.any(label_codes == k):
        raise ValueError(f"true labels outside the classes {classes}")
    names, inverse = _category_index(categories)
    correct = label_codes == pred_codes  # label codes < K, so an unparsable answer never matches
    n_correct = np.bincount(inverse, weights=correct, minlength=len(names))
    n_total = np.bincount(inverse, minlength=len(names))
    balance = _balance_by_group(inverse, len(names), pred_codes, k)
    per_category = {str(c): {"correct": int(ok), "total": int(n), "accuracy": float(ok / n), "balance_score": float(bs)}
                    for c, ok, n, bs in zip(names, n_correct, n_total, balance)}
    m = _confusion_from_codes(label_codes, pred_codes, k)
    predicted = m[:, :k].sum(axis=0)
    distribution = predicted / predicted.sum() if predicted.sum() else predicted.astype(np.float64)
    return RunSummary(
        pairs=len(label_codes), classes=classes, accuracy=float(correct.mean()) if len(correct) else 0.0,
        balance_score=float(normalized_entropy(distribution)), per_category=per_category, confusion_matrix=m,
        per_class_recall=dict(zip(classes, recall_from_confusion(m).tolist())), macro_f1=macro_f1_from_confusion(m),
        binary_balanced_accuracy=balanced_accuracy_from_confusion(m, classes.index(NORMAL)) if NORMAL in classes else 0.0,
        mean_reasoning_words=mean_reasoning_words(think_words),
        unparsable_share=float(np.mean(pred_codes == k)) if len(pred_codes) else 0.0,
        prediction_distribution=dict(zip(classes, distribution.tolist())),
    )
