"""MVTec-AD and VisA as reference/test pair sets with a binary question (normal vs anomalous).

Both sets lack a validation split, so each category's normal training images are split in two
halves: the first serves the training pairs, the second the test pairs' references, and no image
is used by both splits. Two ways to draw the training pairs (``--balance``):

- ``balanced`` (default; Pair3C's protocol): from the category's official test split,
  ``per_class`` normal and ``per_class`` anomalous images (seeded) become training pairs, the rest
  test pairs.
- ``natural``: training pairs at the dataset's own defect share (LR-IAD's class-imbalance setting,
  see :func:`sample_natural_binary_pairs`): ``per_class`` anomalous test images plus normal images
  from the first half of the normal training images; the whole official test split except those
  anomalous images is the test set.

Layouts:

- MVTec-AD: ``<root>/<category>/{train/good, test/<defect or good>}/NNN.png`` (15 categories).
- VisA: ``<root>/split_csv/1cls.csv`` (object, split, label, image, mask) with images under
  ``<object>/Data/Images/{Normal,Anomaly}``.

Building a set (same parquet contract as Pair3C), or rebuilding one from its manifest: rows carry ``extra_info.defect_type`` (MVTec-AD: the image's folder, e.g. ``crack``, ``good``;
VisA's 1cls.csv names no type, so ``anomaly`` or ``good``) for per-defect analysis. The manifest
(``manifest.csv``) adds a ``balance`` column to Pair3C's columns, so a frozen split says how it
was drawn.
"""

from __future__ import annotations

import csv
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fadtq.data import DataError
from fadtq.data.build import BuildResult, write_pair_dataset
from fadtq.data.images import DEFAULT_MAX_PIXELS, MIN_PIXELS
from fadtq.data.layout import list_images
from fadtq.data.prompt import BINARY_OPTIONS, BINARY_PROMPT_VERSION
from fadtq.data.split import MANIFEST_COLUMNS, TEST, TRAIN, Pair, read_manifest, sample_pairs
from fadtq.labels import ANOMALOUS, BINARY_LABELS, NORMAL

MVTEC_AD_CATEGORIES = ("bottle", "cable", "capsule", "carpet", "grid", "hazelnut", "leather", "metal_nut", "pill",
                       "screw", "tile", "toothbrush", "transistor", "wood", "zipper")
VISA_CATEGORIES = ("candle", "capsules", "cashew", "chewinggum", "fryum", "macaroni1", "macaroni2", "pcb1", "pcb2",
                   "pcb3", "pcb4", "pipe_fryum")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


class OfficialCounts(NamedTuple):
    train_normal: int  # normal training images (MVTec-AD train/good; VisA 1cls.csv split=train)
    test_normal: int
    test_anomalous: int

    @property
    def total(self) -> int:
        return self.train_normal + self.test_normal + self.test_anomalous


#: MVTec-AD's archive per category (the dataset paper's Table 1): 3,629 + 467 normal, 1,258 defective.
MVTEC_AD_OFFICIAL_COUNTS: dict[str, OfficialCounts] = {
    "bottle": OfficialCounts(209, 20, 63), "cable": OfficialCounts(224, 58, 92),
    "capsule": OfficialCounts(219, 23, 109), "carpet": OfficialCounts(280, 28, 89),
    "grid": OfficialCounts(264, 21, 57), "hazelnut": OfficialCounts(391, 40, 70),
    "leather": OfficialCounts(245, 32, 92), "metal_nut": OfficialCounts(220, 22, 93),
    "pill": OfficialCounts(267, 26, 141), "screw": OfficialCounts(320, 41, 119),
    "tile": OfficialCounts(230, 33, 84), "toothbrush": OfficialCounts(60, 12, 30),
    "transistor": OfficialCounts(213, 60, 40), "wood": OfficialCounts(247, 19, 60),
    "zipper": OfficialCounts(240, 32, 119),
}
#: VisA's split_csv/1cls.csv per object: 8,659 + 962 normal, 1,200 anomalous (10,821 images).
VISA_OFFICIAL_COUNTS: dict[str, OfficialCounts] = {
    "candle": OfficialCounts(900, 100, 100), "capsules": OfficialCounts(542, 60, 100),
    "cashew": OfficialCounts(450, 50, 100), "chewinggum": OfficialCounts(453, 50, 100),
    "fryum": OfficialCounts(450, 50, 100), "macaroni1": OfficialCounts(900, 100, 100),
    "macaroni2": OfficialCounts(900, 100, 100), "pcb1": OfficialCounts(904, 100, 100),
    "pcb2": OfficialCounts(901, 100, 100), "pcb3": OfficialCounts(905, 101, 100),
    "pcb4": OfficialCounts(904, 101, 100), "pipe_fryum": OfficialCounts(450, 50, 100),
}


def defect_share(counts: dict[str, OfficialCounts]) -> float:
    """The dataset's share of defective images, ``Σ test_anomalous / Σ total`` over its categories."""
    return sum(c.test_anomalous for c in counts.values()) / sum(c.total for c in counts.values())


#: ``--balance natural``'s target share of anomalous training pairs, per dataset: MVTec-AD
#: 1,258 / 5,354 = 23.50 % (LR-IAD quotes 23.8 %), VisA 1,200 / 10,821 = 11.09 % (LR-IAD: 11.1 %).
NATURAL_DEFECT_SHARE: dict[str, float] = {"mvtec-ad": defect_share(MVTEC_AD_OFFICIAL_COUNTS),
                                          "visa": defect_share(VISA_OFFICIAL_COUNTS)}
#: ``--balance`` choices: 50/50 training pairs per category, or the dataset's own defect share.
BALANCES = ("balanced", "natural")
#: Stream index of the natural split's normal training images (0 and 1 are the labels' streams,
#: 1000 the references').
_NATURAL_NORMAL_STREAM = 2


@dataclass(frozen=True)
class BinaryCategory:
    name: str
    references: tuple[str, ...]  # normal training images, relative to root
    test: dict[str, tuple[str, ...]]  # "normal" / "anomalous" -> relative paths
    defect_of: dict[str, str]  # test or reference image -> defect type ("good" for normal)
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
        defect_of, by_label = dict.fromkeys(refs, "good"), {NORMAL: [], ANOMALOUS: []}
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
                entry["defect"][image] = "good"
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


def _reference_halves(categories: dict[str, BinaryCategory], at_least: int = 2) -> dict[str, dict[str, tuple]]:
    """Per category: the first half of its normal training images for the training split, the
    second half for the test split."""
    halves = {}
    for name, category in categories.items():
        if len(category.references) < at_least:
            raise DataError(f"{category.source or name}: {name} has {len(category.references)} normal training "
                            f"image(s); {at_least} or more are needed for disjoint train/test images — restore them")
        half = len(category.references) // 2
        halves[name] = {TRAIN: category.references[:half], TEST: category.references[half:]}
    return halves


def sample_binary_pairs(categories: dict[str, BinaryCategory], seed: int = 42, per_class: int = 20) -> list[Pair]:
    """The balanced split. Deterministic in ``seed`` (see :func:`fadtq.data.split.sample_pairs`); a
    category's streams are keyed by a checksum of its name. References: the first half of the
    normal training images for training pairs, the second half for test pairs."""
    return sample_pairs({name: c.test for name, c in categories.items()}, _reference_halves(categories),
                        BINARY_LABELS, seed, per_class, stream_key=lambda name: zlib.crc32(name.encode()),
                        folder_of=lambda name, label: categories[name].source or name)


def natural_counts(per_class: int, share: float, normal_pool: int) -> tuple[int, int]:
    """``(anomalous, normal)`` training images of one category at defect share s (``share``): ``per_class``
    anomalous and ``⌊per_class·(1−s)/s + ½⌋`` normal ones, so the anomalous count is within
    ``s/2 < 1`` image of ``s·total``. Where ``normal_pool`` cannot supply that many normal images,
    the largest smaller anomalous count that it can (the share stays; only the set shrinks)."""
    def normal_for(anomalous: int) -> int:
        return math.floor(anomalous * (1.0 - share) / share + 0.5)

    anomalous = per_class
    while anomalous > 0 and normal_for(anomalous) > normal_pool:
        anomalous -= 1
    return anomalous, normal_for(anomalous)


def _draw_reference(stream: np.random.Generator, images: tuple | list, own: int | None = None) -> str:
    """One of ``images`` drawn from ``stream``, other than the pair's own image (index ``own``)."""
    i = int(stream.integers(len(images) - (own is not None)))
    return images[i + 1 if own is not None and i >= own else i]


def sample_natural_binary_pairs(categories: dict[str, BinaryCategory], share: float, seed: int = 42,
                                per_class: int = 20) -> list[Pair]:
    """The natural split: each category's training pairs are ``share`` anomalous (± one image).

    ``share`` is the *dataset-level* share of defective images (:data:`NATURAL_DEFECT_SHARE`), the
    same for every category, rather than each category's own share. Why: it is the figure LR-IAD's
    class-imbalance argument rests on, so the pooled training set has that imbalance and the
    focal reward's class weight is one predictable number (``f_anomalous = 1/(2s)``: 2.1 for MVTec-AD,
    4.5 for VisA). The per-category shares (MVTec-AD: 12.8 % transistor to 32.5 % pill) reflect how
    many defects the dataset's authors collected per product, not how often products fail, and the
    question names the product, so they would hand the policy a per-product prior to exploit.

    Per category (streams keyed like :func:`sample_binary_pairs`'s, so a subset of categories gets
    the same pairs as the full build):

    - anomalous: ``per_class`` official test images (the balanced split's stream and draw, so the
      same images whenever the count is ``per_class``); the rest are test pairs;
    - normal: ``⌊per_class·(1−s)/s + ½⌋`` images of the first half of the normal training images
      (:func:`natural_counts`; categories too small for that get fewer anomalous images instead);
      every official normal *test* image stays a test pair;
    - references: training pairs from the first half (never the pair's own image), test pairs from
      the second half — so no image serves both splits.
    """
    if per_class < 1:
        raise DataError(f"--per-class {per_class}: must be at least 1 — it is the number of anomalous training "
                        "images per category (default 20)")
    halves = _reference_halves(categories, at_least=4)  # ≥ 2 training-side images: a reference besides the image
    pairs: list[Pair] = []
    for name in sorted(categories):
        category, key = categories[name], zlib.crc32(name.encode())
        train_side, test_references = halves[name][TRAIN], halves[name][TEST]
        anomalous = category.test[ANOMALOUS]
        if len(anomalous) < per_class:
            raise DataError(f"{category.source or name}: only {len(anomalous)} anomalous images of {name}, fewer "
                            f"than --per-class {per_class} — lower --per-class or restore the missing images")
        n_anomalous, n_normal = natural_counts(per_class, share, len(train_side))
        if n_anomalous == 0:
            raise DataError(f"{category.source or name}: {name}'s {len(train_side)} training-side normal images "
                            f"cannot hold one anomalous image at a {share:.1%} defect share — restore its normal "
                            "training images or use --balance balanced")
        chosen = set(np.random.default_rng([seed, key, BINARY_LABELS.index(ANOMALOUS)])
                     .choice(len(anomalous), n_anomalous, replace=False).tolist())
        normal_indices = sorted(np.random.default_rng([seed, key, _NATURAL_NORMAL_STREAM])
                                .choice(len(train_side), n_normal, replace=False).tolist())
        stream = np.random.default_rng([seed, key, 1000])
        pairs += [Pair(TRAIN, name, NORMAL, train_side[i], _draw_reference(stream, train_side, own=i), seed)
                  for i in normal_indices]
        pairs += [Pair(TEST, name, NORMAL, image, _draw_reference(stream, test_references), seed)
                  for image in category.test[NORMAL]]
        pairs += [Pair(TRAIN, name, ANOMALOUS, image, _draw_reference(stream, train_side), seed) if i in chosen
                  else Pair(TEST, name, ANOMALOUS, image, _draw_reference(stream, test_references), seed)
                  for i, image in enumerate(anomalous)]
    return pairs


def binary_counts(pairs: list[Pair]) -> dict:
    counts: dict = {}
    for p in pairs:
        per = counts.setdefault(p.split, {}).setdefault(p.category, {label: 0 for label in BINARY_LABELS})
        per[p.label] += 1
    return counts


SCANNERS = {"mvtec-ad": (scan_mvtec_ad, "mvtec_ad_pair2c"), "visa": (scan_visa, "visa_pair2c")}
DATASET_CATEGORIES = {"mvtec-ad": MVTEC_AD_CATEGORIES, "visa": VISA_CATEGORIES}
BALANCE_COLUMN = "balance"


def build_binary(dataset: str, root, out_dir, *, seed: int = 42, per_class: int = 20, balance: str = "balanced",
                 manifest=None, max_pixels: int = DEFAULT_MAX_PIXELS, categories=None, progress: bool = True,
                 workers: int = 4) -> BuildResult:
    """``dataset`` is ``"mvtec-ad"`` or ``"visa"``; ``categories`` restricts the build to some of them;
    ``balance`` is ``"balanced"`` or ``"natural"`` (see :mod:`fadtq.data.binary`). With
    ``manifest`` the pairs are exactly those listed, in that order, and ``seed``, ``per_class``,
    ``balance`` and ``categories`` are not used."""
    if max_pixels < MIN_PIXELS:
        raise DataError(f"--max-pixels {max_pixels}: below Qwen2.5-VL's minimum of {MIN_PIXELS} — use a larger value")
    if balance not in BALANCES:
        raise DataError(f"--balance {balance}: unknown — use one of {', '.join(BALANCES)}")
    scan, data_source = SCANNERS[dataset]
    if manifest is not None:
        pairs = read_manifest(manifest, labels=BINARY_LABELS)
        balance = read_manifest_balance(manifest)
        scanned = scan(root, _manifest_categories(pairs, dataset, manifest))
        check_binary_manifest(pairs, scanned, manifest)
        per_class = None
    else:
        scanned = scan(root, categories) if categories else scan(root)
        pairs = (sample_natural_binary_pairs(scanned, NATURAL_DEFECT_SHARE[dataset], seed=seed, per_class=per_class)
                 if balance == "natural" else sample_binary_pairs(scanned, seed=seed, per_class=per_class))
    result = write_pair_dataset(
        pairs, Path(root), Path(out_dir), max_pixels=max_pixels, options=BINARY_OPTIONS, data_source=data_source,
        counts=binary_counts(pairs), progress=progress, workers=workers,
        row_extra=lambda pair: {"defect_type": scanned[pair.category].defect_of[pair.test_image]},
        summary_extra={"seed": pairs[0].seed, "per_class": per_class, "balance": balance,
                       "defect_share": NATURAL_DEFECT_SHARE[dataset] if balance == "natural" else None,
                       "from_manifest": manifest is not None, "categories": sorted(scanned),
                       "prompt_version": BINARY_PROMPT_VERSION})
    add_balance_column(result.files["manifest"], balance)
    return result


def training_share(counts: dict) -> float:
    """Share of anomalous pairs in the training split of ``counts[split][category][label]``."""
    train = counts.get("train", {}).values()
    total = sum(sum(per.values()) for per in train)
    return sum(per[ANOMALOUS] for per in train) / total if total else 0.0


def _manifest_categories(pairs: list[Pair], dataset: str, manifest) -> tuple[str, ...]:
    names = sorted({pair.category for pair in pairs})
    unknown = [name for name in names if name not in DATASET_CATEGORIES[dataset]]
    if unknown:
        raise DataError(f"{manifest}: categories {unknown} are not {dataset} categories — use a manifest written by "
                        f"`fadtq build-data {dataset}`")
    return tuple(names)


def check_binary_manifest(pairs: list[Pair], scanned: dict[str, BinaryCategory], manifest) -> None:
    """Every test image is one of its category's images, with the label its folder gives it, and
    every reference is one of its category's normal training images."""
    fix = "use a manifest written by `fadtq build-data` for this dataset"
    for pair in pairs:
        category = scanned[pair.category]
        defect = category.defect_of.get(pair.test_image)
        if defect is None:
            raise DataError(f"{manifest}: {pair.test_image} is not an image of {pair.category} in the dataset — {fix}")
        if (defect == "good") != (pair.label == NORMAL):
            raise DataError(f"{manifest}: {pair.test_image} is labelled {pair.label!r} but the dataset says "
                            f"{'normal' if defect == 'good' else 'anomalous'} — fix the label column or {fix}")
        if pair.reference_image not in category.references:
            raise DataError(f"{manifest}: reference {pair.reference_image} is not a normal training image of "
                            f"{pair.category} — {fix}")


def read_manifest_balance(manifest) -> str | None:
    """The manifest's ``balance`` (one value for all rows), or None for a manifest without the column."""
    with open(manifest, newline="") as fh:
        reader = csv.DictReader(fh)
        if BALANCE_COLUMN not in (reader.fieldnames or []):
            return None
        values = {row[BALANCE_COLUMN] for row in reader}
    if values == {""}:  # rebuilt from a manifest that did not record it
        return None
    if len(values) != 1 or not values <= set(BALANCES):
        raise DataError(f"{manifest}: balance column holds {sorted(values)}, not one of {', '.join(BALANCES)} for "
                        "all rows — use a manifest written by `fadtq build-data`")
    return values.pop()


def add_balance_column(manifest: Path, balance: str | None) -> None:
    """Rewrite the manifest the shared writer produced with a ``balance`` column (atomically)."""
    with open(manifest, newline="") as fh:
        rows = list(csv.DictReader(fh))
    staging = manifest.with_name(manifest.name + ".tmp")
    try:
        with open(staging, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=[*MANIFEST_COLUMNS, BALANCE_COLUMN])
            writer.writeheader()
            writer.writerows({**row, BALANCE_COLUMN: balance or ""} for row in rows)
        os.replace(staging, manifest)
    finally:
        staging.unlink(missing_ok=True)  # a leftover file would make the folder unrecognisable as a build
