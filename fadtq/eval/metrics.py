"""Evaluation metrics of the paper (docs/design.md): one small pure numpy function per metric.

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

:func:`summarize_run` calls these same functions (the matrix metrics on one confusion matrix), so
the report prints what the tests check.
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
    return {str(n): (int(c), int(t)) for n, c, t in zip(names, correct, totals, strict=True)}


def per_category_accuracy(categories, labels, preds) -> dict[str, float]:
    """Micro accuracy within each category: ``Acc_c = Σ_{i∈c} 1[pred_i = label_i] / |c|``."""
    return {name: correct / total for name, (correct, total) in per_category_counts(categories, labels, preds).items()}


def _parsable_shares(counts: np.ndarray) -> np.ndarray:
    """``p_c = n_c / Σ_{c'<K} n_c'`` over the last axis of prediction counts (K classes, then
    unparsable), all zeros where nothing parsed."""
    parsable = counts[..., :-1].astype(np.float64)
    total = parsable.sum(axis=-1, keepdims=True)
    return np.divide(parsable, total, out=np.zeros_like(parsable), where=total > 0)


def prediction_distribution(preds, classes: Sequence[str] = PAIR3C_LABELS) -> np.ndarray:
    """``p_c = #{i: pred_i = c} / #{i: pred_i parsable}`` (all zeros when nothing parsed)."""
    return _parsable_shares(np.bincount(class_codes(preds, classes), minlength=len(classes) + 1))


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


def per_category_balance_score(categories, preds, classes: Sequence[str] = PAIR3C_LABELS) -> dict[str, float]:
    """``BS_c = H(p_c) / log K``: the :func:`balance_score` of the predictions within each category,
    all categories in one pass (p_c: row c of the category × prediction counts)."""
    names, inverse = _category_index(categories)
    k = len(classes)
    counts = np.bincount(inverse * (k + 1) + class_codes(preds, classes), minlength=len(names) * (k + 1))
    scores = normalized_entropy(_parsable_shares(counts.reshape(len(names), k + 1)))
    return {name: float(bs) for name, bs in zip(names, scores, strict=True)}


def confusion_matrix(labels, preds, classes: Sequence[str] = PAIR3C_LABELS) -> np.ndarray:
    """``M[i, j]`` = pairs of true class i predicted as class j, shape K × (K+1); the last column
    counts unparsable answers."""
    k = len(classes)
    cells = class_codes(labels, classes) * (k + 1) + class_codes(preds, classes)
    return np.bincount(cells, minlength=(k + 1) * (k + 1)).reshape(k + 1, k + 1)[:k]


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
    return {c: float(r) for c, r in zip(classes, recall_from_confusion(confusion_matrix(labels, preds, classes)), strict=True)}


def macro_f1(labels, preds, classes: Sequence[str] = PAIR3C_LABELS) -> float:
    """Macro-F1 over the classes (see :func:`macro_f1_from_confusion`); unparsable answers are
    misses of their true class and predictions of no class."""
    return macro_f1_from_confusion(confusion_matrix(labels, preds, classes))


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
    """All metrics of one run, each from its function above (the matrix metrics from one confusion
    matrix); ``preds[i]`` is a class label or None (unparsable or missing), and any other value
    counts as unparsable. ``labels`` must all be classes (the prediction reader ensures it)."""
    classes = tuple(classes)
    # an answer that is no class is None for every metric, as it is in the confusion matrix
    preds = np.where(class_codes(preds, classes) < len(classes), _objects(preds), None)
    m = confusion_matrix(labels, preds, classes)
    if m.sum() != len(preds):  # the matrix has one row per class: a pair with another label is missing
        raise ValueError(f"true labels outside the classes {classes}")
    counts = per_category_counts(categories, labels, preds)
    category_accuracy = per_category_accuracy(categories, labels, preds)
    category_balance = per_category_balance_score(categories, preds, classes)
    return RunSummary(
        pairs=len(preds), classes=classes,
        accuracy=accuracy(labels, preds), balance_score=balance_score(preds, classes),
        per_category={c: {"correct": correct, "total": total, "accuracy": category_accuracy[c],
                          "balance_score": category_balance[c]} for c, (correct, total) in counts.items()},
        confusion_matrix=m, per_class_recall=dict(zip(classes, recall_from_confusion(m).tolist(), strict=True)),
        macro_f1=macro_f1_from_confusion(m),
        # without a normal class there is no normal-vs-anomaly split to score
        binary_balanced_accuracy=binary_balanced_accuracy(labels, preds) if NORMAL in classes else 0.0,
        mean_reasoning_words=mean_reasoning_words(think_words), unparsable_share=unparsable_share(preds),
        prediction_distribution=dict(zip(classes, prediction_distribution(preds, classes).tolist(), strict=True)),
    )
