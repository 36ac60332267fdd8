"""Writing a pair dataset: verl rows, images, parquet per split, manifest, summary; and Pair3C's build.

A verl ``RLHFDataset`` row (docs/design.md, Parquet rows) is a chat prompt with two ``<image>``
placeholders, the two images (reference first) as PNG bytes with their ``max_pixels``, and the label
as ground truth.

Everything is written into a temporary sibling folder that replaces ``out_dir`` only at the end
(all or nothing, never deleting foreign data), so a failed build leaves no partial output and a
previous build stays intact until then. An existing ``out_dir`` is replaced only if it is empty or
a previous build's output: a mistyped ``--out`` must never delete a dataset or a home folder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from fadtq.data import DataError
from fadtq.data.images import DEFAULT_MAX_PIXELS, MIN_PIXELS, encode_resized_png
from fadtq.data.layout import LOCO_CATEGORIES, scan_loco
from fadtq.data.prompt import (
    DEFAULT_PAIR3C_WORDING,
    PAIR3C_OPTIONS,
    chat_messages,
    default_prompt_version,
    pair3c_prompt_version,
    question_text,
)
from fadtq.data.split import TRAIN, Pair, read_manifest, sample_pair3c, table1_counts, write_manifest
from fadtq.labels import LOCO_FOLDER_TO_LABEL, PAIR3C_LABELS


def staging_folder(out_dir: Path) -> Path:
    """A fresh hidden sibling of ``out_dir`` on the same file system (so the final rename is atomic)."""
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-building-", dir=out_dir.parent))
    except OSError as exc:
        raise DataError(f"{out_dir}: cannot create the output folder ({exc.strerror or exc}) — check the path and "
                        "its permissions") from None
    staging.chmod(0o755)  # mkdtemp makes it private; the published folder should not be
    return staging


def check_replaceable(out_dir: Path, is_previous_output, what: str) -> None:
    """An existing ``out_dir`` may be replaced only if it is empty or ``is_previous_output(out_dir)``."""
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise DataError(f"{out_dir}: exists and is not a folder — choose another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not is_previous_output(out_dir):
        raise DataError(f"{out_dir}: exists and is not the output of `{what}` — choose a new or empty --out "
                        "(it is replaced as a whole)")


def publish(staging: Path, out_dir: Path) -> None:
    """Move ``staging`` to ``out_dir``; a previous output is moved aside first and deleted last."""
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-old-", dir=out_dir.parent))
        out_dir.rename(old / out_dir.name)
    try:
        staging.rename(out_dir)
    except BaseException:
        if old is not None:
            (old / out_dir.name).rename(out_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def pair_row(pair: Pair, index: int, reference_png: bytes, test_png: bytes, *, max_pixels: int,
             options: dict[str, str], data_source: str, extra: dict | None = None,
             prompt_version: str | None = None) -> dict:
    """One row; ``extra`` adds dataset-specific keys to ``extra_info`` (e.g. MVTec-AD's defect type).

    The question is worded in ``prompt_version``; without it, in ``extra["prompt_version"]`` (how a
    builder chooses the wording through ``write_pair_dataset``'s ``row_extra``), else in the
    default version for ``options``. The row records the version it was built with.
    """
    extra = dict(extra or {})
    version = prompt_version or extra.pop("prompt_version", None) or default_prompt_version(options)
    question = question_text(pair.category, options, version)
    return {
        "data_source": data_source,
        "prompt": chat_messages(question),
        "images": [{"bytes": reference_png, "max_pixels": max_pixels}, {"bytes": test_png, "max_pixels": max_pixels}],
        "ability": "anomaly_detection",
        "reward_model": {"style": "rule", "ground_truth": pair.label},
        "extra_info": {
            "split": pair.split,
            "index": index,
            "category": pair.category,
            "label": pair.label,
            "test_path": pair.test_image,
            "reference_path": pair.reference_image,
            "question": question,
            "options": dict(options),
            "prompt_version": version,
            **extra,
        },
    }


OUTPUT_FILES = ("train.parquet", "test.parquet", "manifest.csv", "summary.json")
#: Rows per parquet row group: ~100 MB of images at the default budget, so readers can stream.
ROW_GROUP_SIZE = 128


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    files: dict[str, Path]  # "train" / "test" parquet, "manifest", "summary"
    counts: dict  # split -> category -> label -> n
    n_images: int  # distinct images encoded


def is_build_output(folder: Path) -> bool:
    names = {p.name for p in folder.iterdir()}
    return "summary.json" in names and names <= set(OUTPUT_FILES)


def check_output_folder(out_dir: Path, root: Path) -> None:
    """Refuse an ``out_dir`` whose replacement would delete anything but a previous build."""
    out, data = out_dir.resolve(), root.resolve()
    if out == data or data in out.parents or out in data.parents:
        raise DataError(f"{out_dir}: output folder overlaps the dataset root {root} — choose an --out outside it")
    check_replaceable(out_dir, is_build_output, "fadtq build-data")


def encode_all(root: Path, relative_paths: list[str], max_pixels: int, progress: bool, workers: int) -> dict[str, bytes]:
    """PNG bytes for each distinct image (references shared by many pairs are encoded once)."""
    unique = sorted(set(relative_paths))
    pool = ThreadPoolExecutor(max_workers=max(1, workers))  # PIL releases the GIL: decode, resize, encode
    try:
        encoded = list(tqdm(pool.map(lambda rel: encode_resized_png(root / rel, max_pixels), unique),
                            total=len(unique), desc="encoding images", unit="img", disable=not progress))
    finally:
        pool.shutdown(cancel_futures=True)  # a bad image stops the build now, not after all the others
    return dict(zip(unique, encoded, strict=True))


def write_parquet(rows: list[dict], path: Path, progress: bool = True) -> None:
    """One parquet file in row groups of ``ROW_GROUP_SIZE`` (nested dicts and lists become structs/lists)."""
    schema = pa.Table.from_pylist(rows[:ROW_GROUP_SIZE]).schema
    with pq.ParquetWriter(path, schema) as writer, tqdm(total=len(rows), desc=f"writing {path.name}", unit="row",
                                                        disable=not progress) as bar:
        for start in range(0, len(rows), ROW_GROUP_SIZE):
            chunk = rows[start:start + ROW_GROUP_SIZE]
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
            bar.update(len(chunk))


def write_pair_dataset(pairs: list[Pair], root: Path, out_dir: Path, *, max_pixels: int, options: dict[str, str],
                       data_source: str, counts: dict, summary_extra: dict, progress: bool = True,
                       workers: int = 4, row_extra=None) -> BuildResult:
    """Encode, write and publish. ``row_extra(pair) -> dict`` adds dataset-specific ``extra_info`` keys."""
    out_dir, root = Path(out_dir), Path(root)
    check_output_folder(out_dir, root)
    staging = staging_folder(out_dir)
    try:
        images = encode_all(root, [p for pair in pairs for p in (pair.test_image, pair.reference_image)],
                            max_pixels, progress, workers)
        files = {}
        for split in sorted({pair.split for pair in pairs}):
            rows = [pair_row(pair, i, images[pair.reference_image], images[pair.test_image], max_pixels=max_pixels,
                             options=options, data_source=data_source,
                             extra=row_extra(pair) if row_extra else None)
                    for i, pair in enumerate(p for p in pairs if p.split == split)]
            files[split] = staging / f"{split}.parquet"
            write_parquet(rows, files[split], progress)
        files["manifest"] = staging / "manifest.csv"
        write_manifest(pairs, files["manifest"])
        files["summary"] = staging / "summary.json"
        summary = {"data_source": data_source, "max_pixels": max_pixels, "options": options, "counts": counts,
                   "totals": {split: sum(sum(c.values()) for c in cats.values()) for split, cats in counts.items()},
                   "distinct_images": len(images), **summary_extra}
        files["summary"].write_text(json.dumps(summary, indent=2) + "\n")
        publish(staging, out_dir)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"{getattr(exc, 'filename', None) or out_dir}: cannot write ({exc.strerror or exc}) — check "
                        "free disk space and permissions") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BuildResult(out_dir, {k: out_dir / v.name for k, v in files.items()}, counts, len(images))


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
