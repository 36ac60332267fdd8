#!/usr/bin/env python
"""Benchmark: build Pair3C from the official-size synthetic LOCO tree (3,651 images).

Prints images/s of the threaded builder and, as a baseline measured in the same run, of the same
build with a single encoding thread. Goal: the full build under 60 s on 2 cores.
"""

import argparse
import tempfile
import time
from pathlib import Path

from fadtq.data.pair3c import build_pair3c
from fadtq.data.synth_loco import generate_loco_tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        root = generate_loco_tree(Path(tmp) / "loco", counts="official")
        n_files = sum(1 for _ in root.glob("*/*/*/*.png"))
        print(f"synthetic tree: {n_files} images drawn in {time.perf_counter() - start:.1f} s")
        timings = {}
        for workers in (args.workers, 1):
            start = time.perf_counter()
            result = build_pair3c(root, Path(tmp) / f"out{workers}", progress=False, workers=workers)
            timings[workers] = time.perf_counter() - start
            print(f"build with {workers} encoding thread(s): {timings[workers]:.1f} s, {result.n_images} distinct "
                  f"images encoded, {n_files / timings[workers]:.0f} tree images/s, "
                  f"{sum(sum(c.values()) for s in result.counts.values() for c in s.values())} pairs")
        print(f"threaded vs single-thread: {timings[1] / timings[args.workers]:.2f}×; "
              f"goal < 60 s: {'met' if timings[args.workers] < 60 else 'missed'} ({timings[args.workers]:.1f} s)")


if __name__ == "__main__":
    main()
