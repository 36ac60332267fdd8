"""The Pair3C protocol (pure): from each category's official *test* split, sample ``per_class``
good / structural / logical images (seeded) for training; the rest are the test set. Training pairs
take their reference from ``train/good``, test pairs from ``validation/good``."""

from __future__ import annotations

import numpy as np

from fadtq.data.errors import DataError
from fadtq.data.loco_layout import LOCO_CATEGORIES, LocoCategory
from fadtq.data.pairs import TEST, TRAIN, Pair
from fadtq.labels import PAIR3C_LABELS


def sample_pair3c(categories: dict[str, LocoCategory], seed: int = 42, per_class: int = 40) -> list[Pair]:
    """Deterministic in ``seed``. Each (category, class) draws from its own stream keyed by the
    category's position in ``LOCO_CATEGORIES``, so scanning a subset of categories leaves the
    others' samples unchanged; each category's references come from one more stream."""
    pairs: list[Pair] = []
    for name, category in sorted(categories.items()):
        c_idx = LOCO_CATEGORIES.index(name)
        references = np.random.default_rng([seed, c_idx, 1000])
        for l_idx, label in enumerate(PAIR3C_LABELS):
            images = category.test[label]
            if len(images) < per_class:
                raise DataError(f"{category.test_folder(label)}: only {len(images)} images, fewer than --per-class "
                                f"{per_class} — lower --per-class or restore the missing images")
            chosen = set(np.random.default_rng([seed, c_idx, l_idx]).choice(len(images), per_class, replace=False).tolist())
            for i, image in enumerate(images):
                split = TRAIN if i in chosen else TEST
                pool = category.train_good if split == TRAIN else category.validation_good
                pairs.append(Pair(split, name, label, image, pool[int(references.integers(len(pool)))], seed))
    return pairs


def table1_counts(pairs: list[Pair]) -> dict[str, dict[str, dict[str, int]]]:
    """``counts[split][category][label]`` — the paper's Table 1."""
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for pair in pairs:
        per_label = counts.setdefault(pair.split, {}).setdefault(pair.category, {label: 0 for label in PAIR3C_LABELS})
        per_label[pair.label] = per_label.get(pair.label, 0) + 1
    return counts
