"""Build the MVTec-AD / VisA binary pair sets (same parquet contract as Pair3C).

Rows carry ``extra_info.defect_type`` (MVTec-AD: the test folder, e.g. ``crack``; VisA's 1cls.csv
names no type, so ``anomaly``; ``good`` for normal images) for per-defect analysis.
"""

from __future__ import annotations

from pathlib import Path

from fadtq.data.binary_sets import binary_counts, sample_binary_pairs, scan_mvtec_ad, scan_visa
from fadtq.data.build import BuildResult, write_pair_dataset
from fadtq.data.errors import DataError
from fadtq.data.images import DEFAULT_MAX_PIXELS, MIN_PIXELS
from fadtq.data.prompt import BINARY_OPTIONS, BINARY_PROMPT_VERSION

SCANNERS = {"mvtec-ad": (scan_mvtec_ad, "mvtec_ad_pair2c"), "visa": (scan_visa, "visa_pair2c")}


def build_binary(dataset: str, root, out_dir, *, seed: int = 42, per_class: int = 20,
                 max_pixels: int = DEFAULT_MAX_PIXELS, categories=None, progress: bool = True,
                 workers: int = 4) -> BuildResult:
    """``dataset`` is ``"mvtec-ad"`` or ``"visa"``; ``categories`` restricts the build to some of them."""
    if max_pixels < MIN_PIXELS:
        raise DataError(f"--max-pixels {max_pixels}: below Qwen2.5-VL's minimum of {MIN_PIXELS} — use a larger value")
    scan, data_source = SCANNERS[dataset]
    scanned = scan(root, categories) if categories else scan(root)
    pairs = sample_binary_pairs(scanned, seed=seed, per_class=per_class)
    return write_pair_dataset(pairs, Path(root), Path(out_dir), max_pixels=max_pixels, options=BINARY_OPTIONS,
                              data_source=data_source, counts=binary_counts(pairs), progress=progress, workers=workers,
                              row_extra=lambda pair: {"defect_type": scanned[pair.category].defect_of[pair.test_image]},
                              summary_extra={"seed": seed, "per_class": per_class, "categories": sorted(scanned),
                                             "prompt_version": BINARY_PROMPT_VERSION})
