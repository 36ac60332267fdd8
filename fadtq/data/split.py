"""Pairs (test image + reference image), the split manifest that freezes them, and the Pair3C split.

The Pair3C protocol: from each category's official *test* split, sample ``per_class`` good /
structural / logical images (seeded) for training; the rest are the test set. Training pairs take
their reference from ``train/good``, test pairs from ``validation/good``.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from fadtq.data import DataError
from fadtq.data.layout import LOCO_CATEGORIES, LocoCategory
from fadtq.labels import PAIR3C_LABELS

TRAIN, TEST = "train", "test"


@dataclass(frozen=True)
class Pair:
    split: str  # "train" | "test"
    category: str
    label: str
    test_image: str  # relative to the dataset root
    reference_image: str  # relative to the dataset root
    seed: int


MANIFEST_COLUMNS = [f.name for f in fields(Pair)]


def write_manifest(pairs: list[Pair], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        for pair in pairs:
            writer.writerow(asdict(pair))


def read_manifest(path: str | Path, root: str | Path | None = None, labels=None) -> list[Pair]:
    """Read a manifest and check it: known splits (and ``labels`` if given), relative paths that stay
    inside the dataset, no test image listed twice; with ``root``, every image it names exists."""
    path = Path(path)
    fix = "use a CSV written by `fadtq build-data`"
    if not path.is_file():
        raise DataError(f"{path}: manifest not found — pass an existing CSV written by `fadtq build-data`")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(MANIFEST_COLUMNS) - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}: manifest lacks columns {sorted(missing)} — {fix}")
        try:
            pairs = [Pair(r["split"], r["category"], r["label"], r["test_image"], r["reference_image"], int(r["seed"]))
                     for r in reader]
        except (TypeError, ValueError) as exc:
            raise DataError(f"{path}: malformed row ({exc}) — {fix}") from None
    if not pairs:
        raise DataError(f"{path}: manifest has no rows — {fix}")
    seen = set()
    for line, pair in enumerate(pairs, start=2):
        where = f"{path}:{line}"
        if pair.split not in (TRAIN, TEST):
            raise DataError(f"{where}: split {pair.split!r} is not {TRAIN!r} or {TEST!r} — {fix}")
        if labels is not None and pair.label not in labels:
            raise DataError(f"{where}: label {pair.label!r} is not one of {list(labels)} — {fix}")
        for rel in (pair.test_image, pair.reference_image):
            if not rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise DataError(f"{where}: image path {rel!r} is not relative to the dataset root — {fix}")
        if pair.test_image in seen:
            raise DataError(f"{where}: test image {pair.test_image} is listed twice — {fix}")
        seen.add(pair.test_image)
    if root is not None:
        for pair in pairs:
            for rel in (pair.test_image, pair.reference_image):
                if not (Path(root) / rel).is_file():
                    raise DataError(f"{Path(root) / rel}: listed in manifest {path} but missing — restore the "
                                    "dataset or rebuild without --manifest")
    return pairs


def sample_pairs(test_images: Mapping[str, Mapping[str, Sequence[str]]],
                 references: Mapping[str, Mapping[str, Sequence[str]]], labels: Sequence[str], seed: int,
                 per_class: int, *, stream_key: Callable[[str], int],
                 folder_of: Callable[[str, str], str]) -> list[Pair]:
    """The shared protocol: per category (sorted) and label, ``per_class`` of the official test images
    (seeded) become training pairs and the rest test pairs; each pair draws its reference from
    ``references[category][split]``.

    Each (category, label) samples from its own stream keyed by ``stream_key(category)`` (a fixed
    number per category, not its position in this call), so building a subset of categories gives
    each the same pairs as the full build. ``folder_of(category, label)`` names the folder in messages.
    """
    if per_class < 1:
        raise DataError(f"--per-class {per_class}: must be at least 1 — the paper uses 40 (Pair3C)")
    pairs: list[Pair] = []
    for category in sorted(test_images):
        key = stream_key(category)
        reference_stream = np.random.default_rng([seed, key, 1000])
        for l_idx, label in enumerate(labels):
            images = test_images[category][label]
            if len(images) < per_class:
                raise DataError(f"{folder_of(category, label)}: only {len(images)} {label} images, fewer than "
                                f"--per-class {per_class} — lower --per-class or restore the missing images")
            draw = np.random.default_rng([seed, key, l_idx])
            chosen = set(draw.choice(len(images), per_class, replace=False).tolist())
            for i, image in enumerate(images):
                split = TRAIN if i in chosen else TEST
                pool = references[category][split]
                pairs.append(Pair(split, category, label, image, pool[int(reference_stream.integers(len(pool)))], seed))
    return pairs


def sample_pair3c(categories: dict[str, LocoCategory], seed: int = 42, per_class: int = 40) -> list[Pair]:
    """Deterministic in ``seed`` (see :func:`fadtq.data.split.sample_pairs`); a category's streams are
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
