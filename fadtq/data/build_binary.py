"""Build the MVTec-AD / VisA binary pair sets (same parquet contract as Pair3C), or rebuild one from
its manifest.

Rows carry ``extra_info.defect_type`` (MVTec-AD: the image's folder, e.g. ``crack``, ``good``;
VisA's 1cls.csv names no type, so ``anomaly`` or ``good``) for per-defect analysis. The manifest
(``manifest.csv``) adds a ``balance`` column to Pair3C's columns, so a frozen split says how it
was drawn.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from fadtq.data.binary_sets import (
    BALANCES,
    MVTEC_AD_CATEGORIES,
    NATURAL_DEFECT_SHARE,
    VISA_CATEGORIES,
    BinaryCategory,
    binary_counts,
    sample_binary_pairs,
    sample_natural_binary_pairs,
    scan_mvtec_ad,
    scan_visa,
)
from fadtq.data.build import BuildResult, write_pair_dataset
from fadtq.data.errors import DataError
from fadtq.data.images import DEFAULT_MAX_PIXELS, MIN_PIXELS
from fadtq.data.pairs import MANIFEST_COLUMNS, Pair, read_manifest
from fadtq.data.prompt import BINARY_OPTIONS, BINARY_PROMPT_VERSION
from fadtq.labels import ANOMALOUS, BINARY_LABELS, NORMAL

SCANNERS = {"mvtec-ad": (scan_mvtec_ad, "mvtec_ad_pair2c"), "visa": (scan_visa, "visa_pair2c")}
DATASET_CATEGORIES = {"mvtec-ad": MVTEC_AD_CATEGORIES, "visa": VISA_CATEGORIES}
BALANCE_COLUMN = "balance"


def build_binary(dataset: str, root, out_dir, *, seed: int = 42, per_class: int = 20, balance: str = "balanced",
                 manifest=None, max_pixels: int = DEFAULT_MAX_PIXELS, categories=None, progress: bool = True,
                 workers: int = 4) -> BuildResult:
    """``dataset`` is ``"mvtec-ad"`` or ``"visa"``; ``categories`` restricts the build to some of them;
    ``balance`` is ``"balanced"`` or ``"natural"`` (see :mod:`fadtq.data.binary_sets`). With
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
