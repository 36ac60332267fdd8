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


def read_manifest(path: str | Path, root: str | Path | None = None, labels=None) -> list[Pair]:
    """Read a manifest and check it: known splits (and ``labels`` if given), relative paths that stay
    inside the dataset, no test image listed twice; with ``root``, every image it names exists."""
    path = Path(path)
    fix = "use a CSV written by `fadtq build-data`"
    if not path.is_file():
        raise DataError(f"{path}: manifest not found — pass an existing CSV written by `fadtq build-data`")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(MANIFEST_COLUMNS) - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}: manifest lacks columns {sorted(missing)} — {fix}")
        try:
            pairs = [Pair(r["split"], r["category"], r["label"], r["test_image"], r["reference_image"], int(r["seed"]))
                     for r in reader]
        except (TypeError, ValueError) as exc:
            raise DataError(f"{path}: malformed row ({exc}) — {fix}") from None
    if not pairs:
        raise DataError(f"{path}: manifest has no rows — {fix}")
    seen = set()
    for line, pair in enumerate(pairs, start=2):
        where = f"{path}:{line}"
        if pair.split not in (TRAIN, TEST):
            raise DataError(f"{where}: split {pair.split!r} is not {TRAIN!r} or {TEST!r} — {fix}")
        if labels is not None and pair.label not in labels:
            raise DataError(f"{where}: label {pair.label!r} is not one of {list(labels)} — {fix}")
        for rel in (pair.test_image, pair.reference_image):
            if not rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise DataError(f"{where}: image path {rel!r} is not relative to the dataset root — {fix}")
        if pair.test_image in seen:
            raise DataError(f"{where}: test image {pair.test_image} is listed twice — {fix}")
        seen.add(pair.test_image)
    if root is not None:
        for pair in pairs:
            for rel in (pair.test_image, pair.reference_image):
                if not (Path(root) / rel).is_file():
                    raise DataError(f"{Path(root) / rel}: listed in manifest {path} but missing — restore the "
                                    "dataset or rebuild without --manifest")
    return pairs
