#!/usr/bin/env python
"""Benchmark: build MVTec-LOCO-AD-Pair3C from the official-size synthetic tree (3,651 images).

1. Draws the synthetic tree with the official counts and builds Pair3C from it (the full
   builder: scan, seeded split, resize + PNG encode, parquet, manifest), once with the default
   encoding threads and once with one thread — the baseline measured in the same run.
   Goal: the threaded build under 60 s on 2 cores. Prints images/s and the ratio.
2. The synthetic images are a tenth of LOCO's resolution; real LOCO PNGs are 1.4-2.2 megapixel
   photographs. So it also times the per-image work (decode, resize, encode) on a sample drawn
   at LOCO's real sizes with sensor noise, and projects the time for the real archive's build.

Run: python scripts/bench_build_data.py [--workers 4] [--real-sample 20] [--json]
"""

from __future__ import annotations

import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from _bench import Bench, bench_parser
from PIL import Image

from fadtq.data.build import build_pair3c
from fadtq.data.images import DEFAULT_MAX_PIXELS, encode_resized_png, target_size
from fadtq.data.layout import LOCO_CATEGORIES
from fadtq.labels import NORMAL
from fadtq.offline.synth_loco import SIZES, draw_image, generate_loco_tree


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def real_resolution_sample(folder: Path, per_category: int) -> list[Path]:
    """Synthetic scenes upscaled to LOCO's real sizes, with photo-like noise (so PNGs weigh megabytes)."""
    rng = np.random.default_rng(0)
    paths = []
    for category in LOCO_CATEGORIES:
        w, h = SIZES[category]
        noise = rng.integers(-6, 7, size=(h * 10, w * 10, 3), dtype=np.int16)
        for i in range(per_category):
            image, _ = draw_image(category, NORMAL, 0, i)
            pixels = np.asarray(image.resize((w * 10, h * 10), Image.Resampling.BICUBIC), dtype=np.int16)
            noisy = np.clip(pixels + np.roll(noise, 37 * i, axis=1), 0, 255).astype(np.uint8)
            paths.append(folder / f"{category}_{i:03d}.png")
            Image.fromarray(noisy).save(paths[-1], compress_level=1)
    return paths


def encode_all(paths: list[Path], workers: int) -> None:
    """The builder's per-image work (decode, resize, encode) over ``paths`` with ``workers`` threads."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda p: encode_resized_png(p, DEFAULT_MAX_PIXELS), paths))


def threads(n: int) -> str:
    return f"{n} thread{'s' if n > 1 else ''}"


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--workers", type=int, default=4, help="encoding threads of the measured build")
    parser.add_argument("--real-sample", type=int, default=20, help="real-resolution images per category (0: skip)")
    args = parser.parse_args()
    if args.workers < 2:
        parser.error("--workers must be at least 2 (one thread is the baseline)")
    bench = Bench("build_data", args)
    target_size(100, 100, DEFAULT_MAX_PIXELS)  # import qwen-vl-utils (and torch) once, outside the timings

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root, seconds = timed(lambda: generate_loco_tree(tmp / "loco", counts="official"))
        n_files = sum(1 for _ in root.glob("*/*/*/*.png"))
        bench.say(f"synthetic tree: {n_files} images drawn in {seconds:.1f} s")
        builds = {f"build, {threads(w)}": w for w in (1, args.workers)}  # baseline first
        measured = bench.round_robin({name: lambda w=w: build_pair3c(root, tmp / f"out{w}", progress=False, workers=w)
                                      for name, w in builds.items()}, repeats=1, warmup=False)
        n_images = None
        for name, m in measured.items():
            if m.error is None:
                result, t = m.value, m.median
                n_images = result.n_images
                pairs = sum(sum(c.values()) for s in result.counts.values() for c in s.values())
                bench.say(f"{name}: {t:.1f} s for {pairs} pairs ({result.n_images} distinct images encoded): "
                          f"{n_files / t:.0f} tree images/s, {result.n_images / t:.0f} encoded images/s, "
                          f"{m.cores_used:.2f} cores used")
        threaded = f"build, {threads(args.workers)}"
        bench.ratio("threaded build vs 1 thread", "build, 1 thread", threaded)
        bench.goal("threaded build under 60 s (2 cores)", threaded, at_most=60.0)

        if args.real_sample:
            sample = tmp / "real_size"
            sample.mkdir()
            paths, seconds = timed(lambda: real_resolution_sample(sample, args.real_sample))
            megabytes = sum(p.stat().st_size for p in paths) / len(paths) / 1e6
            bench.say(f"real-resolution sample: {len(paths)} images, {megabytes:.1f} MB per PNG "
                      f"(drawn in {seconds:.0f} s); decode+resize+encode:")
            encodes = {f"encode, {threads(w)}": w for w in (1, args.workers)}
            measured = bench.round_robin({name: lambda w=w: encode_all(paths, w) for name, w in encodes.items()},
                                         repeats=1, warmup=False)
            for name, m in measured.items():
                if m.error is None:
                    rate = len(paths) / m.median
                    projection = (f" → projected real Pair3C build ({n_images} distinct images): "
                                  f"{n_images / rate:.0f} s" if n_images else "")
                    bench.say(f"  {name}: {rate:.1f} images/s, {m.cores_used:.2f} cores used{projection}")
            # Bounded by the free cores: each step releases the GIL.
            bench.ratio("real-resolution encode, threaded vs 1 thread", "encode, 1 thread",
                        f"encode, {threads(args.workers)}")
    return bench.finish()


if __name__ == "__main__":
    sys.exit(main())
