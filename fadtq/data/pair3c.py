"""Build MVTec-LOCO-AD-Pair3C from an official MVTec LOCO AD tree (or rebuild it from a manifest)."""

from __future__ import annotations

from pathlib import Path

from fadtq.data.build import BuildResult, write_pair_dataset
from fadtq.data.errors import DataError
from fadtq.data.images import DEFAULT_MAX_PIXELS
from fadtq.data.loco_layout import LOCO_CATEGORIES, scan_loco
from fadtq.data.pair3c_split import sample_pair3c, table1_counts
from fadtq.data.pairs import read_manifest
from fadtq.data.prompt import PAIR3C_OPTIONS, PROMPT_VERSION

DATA_SOURCE = "mvtec_loco_pair3c"

#: The paper's Table 1 (test split; the train split is 40 per class and category).
PAPER_TABLE1_TEST = {
    "breakfast_box": {"normal": 62, "structural": 50, "logical": 43},
    "juice_bottle": {"normal": 54, "structural": 54, "logical": 102},
    "pushpins": {"normal": 98, "structural": 41, "logical": 51},
    "screw_bag": {"normal": 82, "structural": 42, "logical": 97},
    "splicing_connectors": {"normal": 79, "structural": 45, "logical": 68},
}


def build_pair3c(root, out_dir, *, seed: int = 42, per_class: int = 40, max_pixels: int = DEFAULT_MAX_PIXELS,
                 manifest=None, progress: bool = True, workers: int = 4) -> BuildResult:
    """Scan ``root``, sample (or read ``manifest``), and write train/test parquet + manifest + summary."""
    root = Path(root)
    if max_pixels < 4 * 28 * 28:
        raise DataError(f"--max-pixels {max_pixels}: below Qwen2.5-VL's minimum of {4 * 28 * 28} — use a larger value")
    if manifest is not None:
        pairs = read_manifest(manifest, root)
        unknown = {p.category for p in pairs} - set(LOCO_CATEGORIES)
        if unknown:
            raise DataError(f"{manifest}: unknown categories {sorted(unknown)} — use a Pair3C manifest")
    else:
        pairs = sample_pair3c(scan_loco(root), seed=seed, per_class=per_class)
    return write_pair_dataset(
        pairs, root, Path(out_dir), max_pixels=max_pixels, options=PAIR3C_OPTIONS, data_source=DATA_SOURCE,
        counts=table1_counts(pairs), progress=progress, workers=workers,
        summary_extra={"seed": pairs[0].seed if pairs else seed, "per_class": per_class,
                       "from_manifest": manifest is not None, "prompt_version": PROMPT_VERSION},
    )
