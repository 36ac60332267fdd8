"""The Pair3C protocol (pure): from each category's official *test* split, sample ``per_class``
good / structural / logical images (seeded) for training; the rest are the test set. Training pairs
take their reference from ``train/good``, test pairs from ``validation/good``."""

from __future__ import annotations

from fadtq.data.loco_layout import LOCO_CATEGORIES, LocoCategory
from fadtq.data.pairs import TEST, TRAIN, Pair, sample_pairs
from fadtq.labels import PAIR3C_LABELS


def sample_pair3c(categories: dict[str, LocoCategory], seed: int = 42, per_class: int = 40) -> list[Pair]:
    """Deterministic in ``seed`` (see :func:`fadtq.data.pairs.sample_pairs`); a category's streams are
    keyed by its position in ``LOCO_CATEGORIES``."""
    return sample_pairs({name: c.test for name, c in categories.items()},
                        {name: {TRAIN: c.train_good, TEST: c.validation_good} for name, c in categories.items()},
                        PAIR3C_LABELS, seed, per_class, stream_key=LOCO_CATEGORIES.index,
                        folder_of=lambda name, label: str(categories[name].test_folder(label)))


def table1_counts(pairs: list[Pair]) -> dict[str, dict[str, dict[str, int]]]:
    """``counts[split][category][label]`` — the paper's Table 1."""
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for pair in pairs:
        per_label = counts.setdefault(pair.split, {}).setdefault(pair.category, {label: 0 for label in PAIR3C_LABELS})
        per_label[pair.label] = per_label.get(pair.label, 0) + 1
    return counts
