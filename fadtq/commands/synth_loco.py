"""`fadtq synth-loco`: draw a synthetic dataset in MVTec LOCO AD's exact layout."""

from __future__ import annotations

import argparse
import sys

NAME = "synth-loco"
HELP = "draw a synthetic MVTec-LOCO-layout dataset (tests, CI, demo; the real images may not be shared)"
DESCRIPTION = """\
Draw procedural images in MVTec LOCO AD's official layout: five categories, train/good,
validation/good, test/{good,logical_anomalies,structural_anomalies}, ground_truth masks and
defects_config.json. Logical anomalies break a category rule (a fruit too many, two pins in one
compartment, a missing nut, the wrong cable colour); structural ones are local damage (scratch,
missing chunk, stain). --out is replaced only if it is new, empty or an earlier synthetic tree.

  fadtq synth-loco --out data/synth_loco --counts official    # the shipped counts (3,651 images)
  fadtq synth-loco --out data/synth_small --counts small      # a few images per folder
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="dataset root to write")
    parser.add_argument("--counts", choices=["official", "small"], default="small",
                        help="official: the archive's counts; small: fast tests and the demo (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="drawing seed (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from fadtq.data.errors import DataError
    from fadtq.data.synth_loco import SMALL_PER_CLASS, generate_loco_tree

    try:
        root = generate_loco_tree(args.out, counts=args.counts, seed=args.seed, progress=not args.no_progress)
    except DataError as exc:
        print(f"fadtq synth-loco: error: {exc}", file=sys.stderr)
        return 2
    n = sum(1 for _ in root.glob("*/*/*/*.png"))
    hint = f" --per-class {SMALL_PER_CLASS}" if args.counts == "small" else ""
    print(f"{n} images → {root}\nnext: fadtq build-data pair3c --root {root} --out <dir>{hint}")
    return 0
