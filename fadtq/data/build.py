"""Writing a pair dataset: encode images (threads, progress bar), parquet per split, manifest, summary.

Everything is written into a temporary sibling folder that replaces ``out_dir`` only at the end
(``fadtq.data.publish``), so a failed build leaves no partial output and a previous build stays
intact until then. An existing ``out_dir`` is replaced only if it is empty or a previous build's
output: a mistyped ``--out`` must never delete a dataset or a home folder.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from fadtq.data.errors import DataError
from fadtq.data.images import encode_resized_png
from fadtq.data.pairs import Pair, write_manifest
from fadtq.data.publish import check_replaceable, publish, staging_folder
from fadtq.data.rows import pair_row

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
    return dict(zip(unique, encoded))


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
