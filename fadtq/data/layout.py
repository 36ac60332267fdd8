"""MVTec LOCO AD's official layout: categories, shipped counts, and a validating scan of a tree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fadtq.data import DataError
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
_FIX = "restore it from the official MVTec LOCO AD archive (see data/README.md)"


@dataclass(frozen=True)
class LocoCategory:
    name: str
    train_good: tuple[str, ...]  # paths relative to the dataset root, sorted
    validation_good: tuple[str, ...]
    test: dict[str, tuple[str, ...]]  # label -> relative paths
    root: Path | None = None  # the dataset root the paths are relative to

    def test_folder(self, label: str) -> Path:
        """The test folder of ``label`` (for messages)."""
        folder = {v: k for k, v in LOCO_FOLDER_TO_LABEL.items()}[label]
        return (self.root or Path()) / self.name / "test" / folder


def list_images(root: Path, folder: Path, suffixes=IMAGE_SUFFIXES, fix: str = _FIX) -> tuple[str, ...]:
    """Sorted image paths of ``folder`` relative to ``root``.

    Hidden files (``.DS_Store``, editor swap files) are skipped; any other file that is not an
    image is an error, because the archive's class folders hold images only and a stray file
    usually means a botched copy.
    """
    if not folder.is_dir():
        raise DataError(f"{folder}: folder missing — {fix}")
    images = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() not in suffixes:
            raise DataError(f"{path}: not a {'/'.join(suffixes)} image — remove it (the dataset's class folders "
                            "hold images only)")
        images.append(str(path.relative_to(root)))
    if not images:
        raise DataError(f"{folder}: no {'/'.join(suffixes)} images — {fix}")
    return tuple(images)


def scan_loco(root: str | Path, categories=LOCO_CATEGORIES) -> dict[str, LocoCategory]:
    """Read the official layout ``<root>/<category>/{train/good, validation/good, test/<class>}``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset root not found — pass the folder that holds the five LOCO categories "
                        "(see data/README.md)")
    scanned = {}
    for name in categories:
        base = root / name
        if not base.is_dir():
            raise DataError(f"{base}: category folder missing — {_FIX}, or pass --root the folder that holds it")
        test = {label: list_images(root, base / "test" / folder) for folder, label in LOCO_FOLDER_TO_LABEL.items()}
        scanned[name] = LocoCategory(name, list_images(root, base / "train" / "good"),
                                     list_images(root, base / "validation" / "good"), test, root)
    return scanned
