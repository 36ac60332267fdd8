"""Pairs (test image + reference image) and the split manifest that freezes them."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from fadtq.data.errors import DataError

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


def read_manifest(path: str | Path, root: str | Path | None = None) -> list[Pair]:
    """Read a manifest; with ``root``, check that every image it names exists."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: manifest not found — pass an existing CSV written by `fadtq build-data`")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(MANIFEST_COLUMNS) - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}: manifest lacks columns {sorted(missing)} — use a CSV written by `fadtq build-data`")
        try:
            pairs = [Pair(r["split"], r["category"], r["label"], r["test_image"], r["reference_image"], int(r["seed"]))
                     for r in reader]
        except ValueError as exc:
            raise DataError(f"{path}: malformed row ({exc}) — use a CSV written by `fadtq build-data`") from None
    if root is not None:
        for pair in pairs:
            for rel in (pair.test_image, pair.reference_image):
                if not (Path(root) / rel).is_file():
                    raise DataError(f"{Path(root) / rel}: listed in manifest {path} but missing — restore the "
                                    "dataset or rebuild without --manifest")
    return pairs
