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
import zlib
from dataclasses import dataclass
from pathlib import Path

from fadtq.data.errors import DataError
from fadtq.data.loco_layout import list_images
from fadtq.data.pairs import TEST, TRAIN, Pair, sample_pairs
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
    source: str = ""  # where the test images are listed (for messages)


_MVTEC_FIX = "restore it from the official MVTec-AD archive"


def scan_mvtec_ad(root, categories=MVTEC_AD_CATEGORIES) -> dict[str, BinaryCategory]:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset root not found — pass the folder that holds the MVTec-AD categories")
    scanned = {}
    for name in categories:
        base = root / name
        train, test = base / "train" / "good", base / "test"
        for folder in (base, test):
            if not folder.is_dir():
                raise DataError(f"{folder}: folder missing — {_MVTEC_FIX}")
        refs = list_images(root, train, IMAGE_SUFFIXES, _MVTEC_FIX)
        defect_of, by_label = {}, {NORMAL: [], ANOMALOUS: []}
        for defect_dir in sorted(p for p in test.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for rel in list_images(root, defect_dir, IMAGE_SUFFIXES, _MVTEC_FIX):
                defect_of[rel] = defect_dir.name
                by_label[NORMAL if defect_dir.name == "good" else ANOMALOUS].append(rel)
        for label, images in by_label.items():
            if not images:
                folder = test / "good" if label == NORMAL else test / "<defect type>"
                raise DataError(f"{folder}: no {label} test images — {_MVTEC_FIX}")
        scanned[name] = BinaryCategory(name, tuple(refs), {k: tuple(v) for k, v in by_label.items()}, defect_of,
                                       str(test))
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
            if not image or Path(image).is_absolute() or ".." in Path(image).parts:
                raise DataError(f"{split_csv}: image path {image!r} is not relative to the VisA root — use the "
                                "official 1cls.csv")
            if not (root / image).is_file():
                raise DataError(f"{root / image}: listed in {split_csv} but missing — restore the VisA images")
            entry = rows.setdefault(obj, {"refs": [], NORMAL: [], ANOMALOUS: [], "defect": {}})
            if label.strip().lower() not in ("normal", "anomaly"):
                raise DataError(f"{split_csv}: label {label!r} for {image} is not 'normal' or 'anomaly' — use the "
                                "official 1cls.csv")
            is_normal = label.strip().lower() == "normal"
            if split == "train" and is_normal:
                entry["refs"].append(image)
            elif split == "test":
                entry[NORMAL if is_normal else ANOMALOUS].append(image)
                entry["defect"][image] = "good" if is_normal else "anomaly"  # 1cls.csv names no defect type
            else:
                continue
            if Path(image).suffix.lower() not in IMAGE_SUFFIXES:
                raise DataError(f"{root / image}: not a {'/'.join(IMAGE_SUFFIXES)} image — fix {split_csv}")
    absent = sorted(set(categories or ()) - set(rows))
    if absent or not rows:
        raise DataError(f"{split_csv}: no rows for {absent or 'any object'} — check --categories against the "
                        "object column")
    scanned = {}
    for obj, e in sorted(rows.items()):
        for key in ("refs", NORMAL, ANOMALOUS):
            if not e[key]:
                raise DataError(f"{split_csv}: no {key} images for {obj} — use the official 1cls.csv")
        scanned[obj] = BinaryCategory(obj, tuple(sorted(e["refs"])),
                                      {NORMAL: tuple(sorted(e[NORMAL])), ANOMALOUS: tuple(sorted(e[ANOMALOUS]))},
                                      e["defect"], str(split_csv))
    return scanned


def sample_binary_pairs(categories: dict[str, BinaryCategory], seed: int = 42, per_class: int = 20) -> list[Pair]:
    """Deterministic in ``seed`` (see :func:`fadtq.data.pairs.sample_pairs`); a category's streams are
    keyed by a checksum of its name. References: the first half of the normal training images for
    training pairs, the second half for test pairs, so no reference serves both splits."""
    references = {}
    for name, category in categories.items():
        if len(category.references) < 2:
            raise DataError(f"{category.source or name}: {name} has {len(category.references)} normal training "
                            "image(s); two or more are needed for disjoint train/test references — restore them")
        half = len(category.references) // 2
        references[name] = {TRAIN: category.references[:half], TEST: category.references[half:]}
    return sample_pairs({name: c.test for name, c in categories.items()}, references, BINARY_LABELS, seed, per_class,
                        stream_key=lambda name: zlib.crc32(name.encode()),
                        folder_of=lambda name, label: categories[name].source or name)


def binary_counts(pairs: list[Pair]) -> dict:
    counts: dict = {}
    for p in pairs:
        per = counts.setdefault(p.split, {}).setdefault(p.category, {label: 0 for label in BINARY_LABELS})
        per[p.label] += 1
    return counts
