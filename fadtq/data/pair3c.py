"""Build MVTec-LOCO-AD-Pair3C from an official MVTec LOCO AD tree (or rebuild it from a manifest)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from fadtq.data.build import BuildResult, write_pair_dataset
from fadtq.data.errors import DataError
from fadtq.data.images import DEFAULT_MAX_PIXELS, MIN_PIXELS
from fadtq.data.loco_layout import LOCO_CATEGORIES, scan_loco
from fadtq.data.pair3c_split import sample_pair3c, table1_counts
from fadtq.data.pairs import TRAIN, Pair, read_manifest
from fadtq.data.prompt import DEFAULT_PAIR3C_WORDING, PAIR3C_OPTIONS, pair3c_prompt_version
from fadtq.labels import LOCO_FOLDER_TO_LABEL, PAIR3C_LABELS

DATA_SOURCE = "mvtec_loco_pair3c"

#: The paper's Table 1 (test split; the train split is 40 per class and category).
PAPER_TABLE1_TEST = {
    "breakfast_box": {"normal": 62, "structural": 50, "logical": 43},
    "juice_bottle": {"normal": 54, "structural": 54, "logical": 102},
    "pushpins": {"normal": 98, "structural": 41, "logical": 51},
    "screw_bag": {"normal": 82, "structural": 42, "logical": 97},
    "splicing_connectors": {"normal": 79, "structural": 45, "logical": 68},
}
PAPER_TABLE1_TRAIN = {category: {label: 40 for label in PAIR3C_LABELS} for category in LOCO_CATEGORIES}


def matches_paper_table1(counts: dict) -> bool:
    """True iff ``counts[split][category][label]`` is the paper's Table 1 (600 train / 968 test pairs)."""
    return counts.get("train") == PAPER_TABLE1_TRAIN and counts.get("test") == PAPER_TABLE1_TEST


def check_pair3c_manifest(pairs: list[Pair], manifest) -> None:
    """Every pair names a LOCO category and a test image whose folder agrees with its label."""
    for pair in pairs:
        parts = PurePosixPath(pair.test_image).parts
        if pair.category not in LOCO_CATEGORIES or parts[0] != pair.category:
            raise DataError(f"{manifest}: {pair.test_image} is not an image of a LOCO category ({pair.category!r}) "
                            "— use a Pair3C manifest")
        folder_label = LOCO_FOLDER_TO_LABEL.get(parts[-2]) if len(parts) >= 2 else None
        if folder_label != pair.label:
            raise DataError(f"{manifest}: {pair.test_image} is labelled {pair.label!r} but its folder says "
                            f"{folder_label!r} — fix the label column or use a Pair3C manifest")


def build_pair3c(root, out_dir, *, seed: int = 42, per_class: int = 40, max_pixels: int = DEFAULT_MAX_PIXELS,
                 manifest=None, progress: bool = True, workers: int = 4,
                 prompt_version: str = DEFAULT_PAIR3C_WORDING) -> BuildResult:
    """Scan ``root``, sample (or read ``manifest``), and write train/test parquet + manifest + summary.

    With ``manifest`` the pairs are exactly those listed, in that order, and ``seed`` and
    ``per_class`` are not used. ``result.counts`` is Table 1: ``counts[split][category][label]``.
    ``prompt_version`` is a wording (``paper``, the default, or ``loco``; see ``fadtq.data.prompt``)
    or a Pair3C version id; every row and the summary record the version id. The split does not
    depend on it.
    """
    root = Path(root)
    try:
        version = pair3c_prompt_version(prompt_version)
    except ValueError as exc:
        raise DataError(f"--prompt-version: {exc}") from None
    if max_pixels < MIN_PIXELS:
        raise DataError(f"--max-pixels {max_pixels}: below Qwen2.5-VL's minimum of {MIN_PIXELS} — use a larger value")
    if manifest is not None:
        if not root.is_dir():
            raise DataError(f"{root}: dataset root not found — pass the folder that holds the five LOCO categories "
                            "(see data/README.md)")
        pairs = read_manifest(manifest, root, labels=PAIR3C_LABELS)
        check_pair3c_manifest(pairs, manifest)
        train_counts = {n for per in table1_counts(pairs).get(TRAIN, {}).values() for n in per.values()}
        per_class = train_counts.pop() if len(train_counts) == 1 else None
    else:
        if per_class < 1:
            raise DataError(f"--per-class {per_class}: must be at least 1 — the paper uses 40")
        pairs = sample_pair3c(scan_loco(root), seed=seed, per_class=per_class)
    counts = table1_counts(pairs)
    return write_pair_dataset(
        pairs, root, Path(out_dir), max_pixels=max_pixels, options=PAIR3C_OPTIONS, data_source=DATA_SOURCE,
        counts=counts, progress=progress, workers=workers, row_extra=lambda pair: {"prompt_version": version},
        summary_extra={"seed": pairs[0].seed, "per_class": per_class, "from_manifest": manifest is not None,
                       "prompt_version": version, "matches_paper_table1": matches_paper_table1(counts)},
    )
