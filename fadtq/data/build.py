"""Writing a pair dataset: encode images (threads, progress bar), parquet per split, manifest, summary.

Everything is written into a temporary sibling folder that replaces ``out_dir`` only at the end,
so a failed build leaves no partial output.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from fadtq.data.images import encode_resized_png
from fadtq.data.pairs import Pair, write_manifest
from fadtq.data.rows import pair_row


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    files: dict[str, Path]  # "train" / "test" parquet, "manifest", "summary"
    counts: dict  # split -> category -> label -> n
    n_images: int


def encode_all(root: Path, relative_paths: list[str], max_pixels: int, progress: bool, workers: int) -> dict[str, bytes]:
    """PNG bytes for each distinct image (references shared by many pairs are encoded once)."""
    unique = sorted(set(relative_paths))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        encoded = list(tqdm(pool.map(lambda rel: encode_resized_png(root / rel, max_pixels), unique),
                            total=len(unique), desc="encoding images", unit="img", disable=not progress))
    return dict(zip(unique, encoded))


def write_pair_dataset(pairs: list[Pair], root: Path, out_dir: Path, *, max_pixels: int, options: dict[str, str],
                       data_source: str, counts: dict, summary_extra: dict, progress: bool = True,
                       workers: int = 4) -> BuildResult:
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-building-", dir=out_dir.parent))
    try:
        images = encode_all(root, [p for pair in pairs for p in (pair.test_image, pair.reference_image)],
                            max_pixels, progress, workers)
        files = {}
        for split in sorted({pair.split for pair in pairs}):
            rows = [pair_row(pair, i, images[pair.reference_image], images[pair.test_image], max_pixels=max_pixels,
                             options=options, data_source=data_source)
                    for i, pair in enumerate(p for p in pairs if p.split == split)]
            files[split] = staging / f"{split}.parquet"
            pd.DataFrame(rows).to_parquet(files[split], index=False)
        files["manifest"] = staging / "manifest.csv"
        write_manifest(pairs, files["manifest"])
        files["summary"] = staging / "summary.json"
        summary = {"data_source": data_source, "max_pixels": max_pixels, "options": options, "counts": counts,
                   "totals": {split: sum(sum(c.values()) for c in cats.values()) for split, cats in counts.items()},
                   **summary_extra}
        files["summary"].write_text(json.dumps(summary, indent=2) + "\n")
        staging.chmod(0o755)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BuildResult(out_dir, {k: out_dir / v.name for k, v in files.items()}, counts, len(images))
