"""MVTec-AD and VisA as reference/test pair sets with a binary question (normal vs anomalous).

Same row contract and protocol as Pair3C: from each category's official test split, ``per_class``
normal and ``per_class`` anomalous images (seeded) become training pairs, the rest test pairs.
Both sets lack a validation split, so the category's normal training images are split in two
halves: references for training pairs come from the first, for test pairs from the second, and
no reference is shared between the splits.

- MVTec-AD: ``<root>/<category>/{train/good, test/<defect or good>}/NNN.png`` (15 categories).
- VisA: ``<root>/split_csv/1cls.csv`` (object, split, label, image, mask) with images under
  ``<object>/Data/Images/{Normal,Anomaly}``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fadtq.data.errors import DataError
from fadtq.data.pairs import TEST, TRAIN, Pair
from fadtq.labels import ANOMALOUS, BINARY_LABELS, NORMAL

MVTEC_AD_CATEGORIES = ("bottle", "cable", "capsule", "carpet", "grid", "hazelnut", "leather", "metal_nut", "pill",
                       "screw", "tile", "toothbrush", "transistor", "wood", "zipper")
VISA_CATEGORIES = ("candle", "capsules", "cashew", "chewinggum", "fryum", "macaroni1", "macaroni2", "pcb1", "pcb2",
                   "pcb3", "pcb4", "pipe_fryum")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass(frozen=True)
class BinaryCategory:
    name: str
    references: tuple[str, ...]  # normal training images, relative to root
    test: dict[str, tuple[str, ...]]  # "normal" / "anomalous" -> relative paths
    defect_of: dict[str, str]  # test image -> defect type ("good" for normal)


def _list_images(root: Path, folder: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def scan_mvtec_ad(root, categories=MVTEC_AD_CATEGORIES) -> dict[str, BinaryCategory]:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset root not found — pass the folder that holds the MVTec-AD categories")
    scanned = {}
    for name in categories:
        base = root / name
        train, test = base / "train" / "good", base / "test"
        for folder in (base, train, test):
            if not folder.is_dir():
                raise DataError(f"{folder}: folder missing — restore it from the official MVTec-AD archive")
        refs = _list_images(root, train)
        defect_of, by_label = {}, {NORMAL: [], ANOMALOUS: []}
        for defect_dir in sorted(p for p in test.iterdir() if p.is_dir()):
            for rel in _list_images(root, defect_dir):
                defect_of[rel] = defect_dir.name
                by_label[NORMAL if defect_dir.name == "good" else ANOMALOUS].append(rel)
        for label, images in [("train/good", refs), *by_label.items()]:
            if not images:
                raise DataError(f"{base}: no {label} images — restore them from the official MVTec-AD archive")
        scanned[name] = BinaryCategory(name, tuple(refs), {k: tuple(v) for k, v in by_label.items()}, defect_of)
    return scanned


def scan_visa(root, categories=None) -> dict[str, BinaryCategory]:
    root = Path(root)
    split_csv = root / "split_csv" / "1cls.csv"
    if not split_csv.is_file():
        raise DataError(f"{split_csv}: VisA split file missing — pass the VisA root that holds split_csv/1cls.csv")
    rows: dict[str, dict] = {}
    with open(split_csv, newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                obj, split, label, image = row["object"], row["split"], row["label"], row["image"]
            except KeyError as exc:
                raise DataError(f"{split_csv}: column {exc} missing — use the official 1cls.csv") from None
            if categories and obj not in categories:
                continue
            if not (root / image).is_file():
                raise DataError(f"{root / image}: listed in {split_csv} but missing — restore the VisA images")
            entry = rows.setdefault(obj, {"refs": [], NORMAL: [], ANOMALOUS: [], "defect": {}})
            is_normal = label.strip().lower() == "normal"
            if split == "train" and is_normal:
                entry["refs"].append(image)
            elif split == "test":
                entry[NORMAL if is_normal else ANOMALOUS].append(image)
                entry["defect"][image] = "good" if is_normal else "anomaly"
    if not rows:
        raise DataError(f"{split_csv}: no rows for the requested categories — check --categories")
    scanned = {}
    for obj, e in sorted(rows.items()):
        for key in ("refs", NORMAL, ANOMALOUS):
            if not e[key]:
                raise DataError(f"{split_csv}: no {key} images for {obj} — use the official 1cls.csv")
        scanned[obj] = BinaryCategory(obj, tuple(sorted(e["refs"])),
                                      {NORMAL: tuple(sorted(e[NORMAL])), ANOMALOUS: tuple(sorted(e[ANOMALOUS]))},
                                      e["defect"])
    return scanned


def sample_binary_pairs(categories: dict[str, BinaryCategory], seed: int = 42, per_class: int = 20) -> list[Pair]:
    pairs = []
    for c_idx, (name, category) in enumerate(sorted(categories.items())):
        half = max(1, len(category.references) // 2)
        pools = {TRAIN: category.references[:half], TEST: category.references[half:] or category.references[:half]}
        references = np.random.default_rng([seed, c_idx, 1000])
        for l_idx, label in enumerate(BINARY_LABELS):
            images = category.test[label]
            if len(images) < per_class:
                raise DataError(f"{name}: only {len(images)} {label} test images, fewer than --per-class {per_class} "
                                "— lower --per-class")
            chosen = set(np.random.default_rng([seed, c_idx, l_idx]).choice(len(images), per_class, replace=False).tolist())
            for i, image in enumerate(images):
                split = TRAIN if i in chosen else TEST
                pool = pools[split]
                pairs.append(Pair(split, name, label, image, pool[int(references.integers(len(pool)))], seed))
    return pairs


def binary_counts(pairs: list[Pair]) -> dict:
    counts: dict = {}
    for p in pairs:
        per = counts.setdefault(p.split, {}).setdefault(p.category, {label: 0 for label in BINARY_LABELS})
        per[p.label] += 1
    return counts
