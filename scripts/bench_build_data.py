#!/usr/bin/env python
"""Benchmark: build MVTec-LOCO-AD-Pair3C from the official-size synthetic tree (3,651 images).

1. Draws the synthetic tree with the official counts and builds Pair3C from it (the full
   builder: scan, seeded split, resize + PNG encode, parquet, manifest), once with the default
   encoding threads and once with one thread — the baseline measured in the same run.
   Goal: the threaded build under 60 s on 2 cores. Prints images/s and the ratio.
2. The synthetic images are a tenth of LOCO's resolution; real LOCO PNGs are 1.4-2.2 megapixel
   photographs. So it also times the per-image work (decode, resize, encode) on a sample drawn
   at LOCO's real sizes with sensor noise, and projects the time for the real archive's build.

Run: python scripts/bench_build_data.py [--workers 4] [--real-sample 20]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
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


def cores_used(fn):
    """(value, wall seconds, process CPU seconds / wall seconds): how many cores the work really got."""
    cpu = time.process_time()
    value, seconds = timed(fn)
    return value, seconds, (time.process_time() - cpu) / seconds


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


def encode_throughput(paths: list[Path], workers: int) -> tuple[float, float]:
    """(images/s, cores used) of the builder's per-image work."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        _, seconds, cores = cores_used(lambda: list(pool.map(lambda p: encode_resized_png(p, DEFAULT_MAX_PIXELS),
                                                              paths)))
    return len(paths) / seconds, cores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=4, help="encoding threads of the measured build")
    parser.add_argument("--real-sample", type=int, default=20, help="real-resolution images per category (0: skip)")
    args = parser.parse_args()
    print(f"CPU cores available: {len(os.sched_getaffinity(0))}; load average {os.getloadavg()[0]:.2f}")
    target_size(100, 100, DEFAULT_MAX_PIXELS)  # import qwen-vl-utils (and torch) once, outside the timings

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root, seconds = timed(lambda: generate_loco_tree(tmp / "loco", counts="official"))
        n_files = sum(1 for _ in root.glob("*/*/*/*.png"))
        print(f"synthetic tree: {n_files} images drawn in {seconds:.1f} s")
        timings = {}
        for workers in (1, args.workers):
            result, timings[workers], cores = cores_used(lambda: build_pair3c(root, tmp / f"out{workers}",
                                                                              progress=False, workers=workers))
            pairs = sum(sum(c.values()) for s in result.counts.values() for c in s.values())
            print(f"build, {workers} encoding thread(s): {timings[workers]:.1f} s for {pairs} pairs "
                  f"({result.n_images} distinct images encoded): {n_files / timings[workers]:.0f} tree images/s, "
                  f"{result.n_images / timings[workers]:.0f} encoded images/s, {cores:.2f} cores used")
        t = timings[args.workers]
        print(f"threaded vs 1 thread: {timings[1] / t:.2f}x; goal < 60 s: {'met' if t < 60 else 'missed'} ({t:.1f} s)")

        if args.real_sample:
            sample = tmp / "real_size"
            sample.mkdir()
            paths, seconds = timed(lambda: real_resolution_sample(sample, args.real_sample))
            megabytes = sum(p.stat().st_size for p in paths) / len(paths) / 1e6
            print(f"real-resolution sample: {len(paths)} images, {megabytes:.1f} MB per PNG (drawn in {seconds:.0f} s)")
            rates = {}
            for w in (1, args.workers):
                rates[w], cores = encode_throughput(paths, w)
                print(f"  decode+resize+encode, {w} thread(s): {rates[w]:.1f} images/s, {cores:.2f} cores used → "
                      f"projected real Pair3C build ({result.n_images} distinct images): "
                      f"{result.n_images / rates[w]:.0f} s")
            print(f"  threaded vs 1 thread: {rates[args.workers] / rates[1]:.2f}x (bounded by the free cores: "
                  "each step releases the GIL)")


if __name__ == "__main__":
    main()
