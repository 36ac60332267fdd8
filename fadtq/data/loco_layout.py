"""MVTec LOCO AD's official layout: categories, shipped counts, and a validating scan of a tree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fadtq.data.errors import DataError
from fadtq.labels import LOCO_FOLDER_TO_LABEL, LOGICAL, NORMAL, STRUCTURAL

LOCO_CATEGORIES: tuple[str, ...] = ("breakfast_box", "juice_bottle", "pushpins", "screw_bag", "splicing_connectors")

#: Images per folder in the shipped archive (the IJCV paper says 354/59 for splicing_connectors; the archive has 360/60).
OFFICIAL_COUNTS: dict[str, dict[str, int]] = {
    "breakfast_box": {"train": 351, "validation": 62, NORMAL: 102, LOGICAL: 83, STRUCTURAL: 90},
    "juice_bottle": {"train": 335, "validation": 54, NORMAL: 94, LOGICAL: 142, STRUCTURAL: 94},
    "pushpins": {"train": 372, "validation": 69, NORMAL: 138, LOGICAL: 91, STRUCTURAL: 81},
    "screw_bag": {"train": 360, "validation": 60, NORMAL: 122, LOGICAL: 137, STRUCTURAL: 82},
    "splicing_connectors": {"train": 360, "validation": 60, NORMAL: 119, LOGICAL: 108, STRUCTURAL: 85},
}

IMAGE_SUFFIXES = (".png",)


@dataclass(frozen=True)
class LocoCategory:
    name: str
    train_good: tuple[str, ...]  # paths relative to the dataset root, sorted
    validation_good: tuple[str, ...]
    test: dict[str, tuple[str, ...]]  # label -> relative paths


def _images(root: Path, folder: Path, fix: str) -> tuple[str, ...]:
    if not folder.is_dir():
        raise DataError(f"{folder}: folder missing — {fix}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{folder}: no .png images — {fix}")
    return tuple(str(p.relative_to(root)) for p in files)


def scan_loco(root: str | Path, categories=LOCO_CATEGORIES) -> dict[str, LocoCategory]:
    """Read the official layout ``<root>/<category>/{train/good, validation/good, test/<class>}``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset root not found — pass the folder that holds the five LOCO categories "
                        "(see data/README.md)")
    fix = "restore it from the official MVTec LOCO AD archive (see data/README.md)"
    scanned = {}
    for name in categories:
        base = root / name
        if not base.is_dir():
            raise DataError(f"{base}: category folder missing — {fix}, or pass --root the folder that holds it")
        test = {label: _images(root, base / "test" / folder, fix) for folder, label in LOCO_FOLDER_TO_LABEL.items()}
        scanned[name] = LocoCategory(name, _images(root, base / "train" / "good", fix),
                                     _images(root, base / "validation" / "good", fix), test)
    return scanned
