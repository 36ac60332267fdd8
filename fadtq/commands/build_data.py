"""`fadtq build-data`: build reference/test pair datasets in verl's parquet format."""

from __future__ import annotations

import argparse
import sys

NAME = "build-data"
HELP = "build MVTec-LOCO-AD-Pair3C (or MVTec-AD / VisA pair sets) as verl parquet"
DESCRIPTION = """\
Build reference/test pair datasets for verl's RLHFDataset.

  fadtq build-data pair3c   --root mvtec_loco_anomaly_detection --out data/pair3c
  fadtq build-data pair3c   --root … --out … --manifest data/pair3c_seed42_manifest.csv   (exact rebuild)
  fadtq build-data mvtec-ad --root mvtec_anomaly_detection --out data/mvtec_ad
  fadtq build-data visa     --root VisA --out data/visa

Writes train.parquet, test.parquet, manifest.csv (the frozen split) and summary.json into --out,
replacing it only when the build succeeded, and prints the split table (Pair3C: the paper's Table 1).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fadtq.data.images import DEFAULT_MAX_PIXELS  # light: no heavy imports

    parser.add_argument("dataset", choices=["pair3c", "mvtec-ad", "visa"], help="which dataset to build")
    parser.add_argument("--root", required=True, help="the dataset's official root folder")
    parser.add_argument("--out", required=True, help="output folder (replaced on success)")
    parser.add_argument("--seed", type=int, default=42, help="sampling seed (default: %(default)s)")
    parser.add_argument("--per-class", type=int, default=None,
                        help="test images per category and class moved to the training split "
                             "(default: 40 for pair3c as in the paper, 20 for mvtec-ad / visa)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help="per-image pixel budget; images are stored resized as qwen-vl-utils would "
                             "(default: %(default)s = 512 vision tokens)")
    parser.add_argument("--manifest", default=None, help="pair3c: rebuild exactly the pairs of this manifest CSV")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def print_split_table(counts: dict, labels) -> None:
    """One table per split: category × class counts (for Pair3C, the paper's Table 1)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for split in ("train", "test"):
        per_category = counts.get(split, {})
        table = Table(title=f"{split} pairs")
        table.add_column("category")
        for label in labels:
            table.add_column(label, justify="right")
        table.add_column("total", justify="right", style="bold")
        for category in sorted(per_category):
            per = per_category[category]
            table.add_row(category, *[str(per.get(label, 0)) for label in labels], str(sum(per.values())))
        column_totals = [sum(per.get(label, 0) for per in per_category.values()) for label in labels]
        table.add_row("total", *map(str, column_totals), str(sum(column_totals)), style="bold")
        console.print(table)


def run(args: argparse.Namespace) -> int:
    from fadtq.data.errors import DataError
    from fadtq.labels import BINARY_LABELS, PAIR3C_LABELS

    try:
        if args.dataset == "pair3c":
            from fadtq.data.pair3c import build_pair3c

            result = build_pair3c(args.root, args.out, seed=args.seed, per_class=args.per_class or 40,
                                  max_pixels=args.max_pixels, manifest=args.manifest, progress=not args.no_progress)
            labels = PAIR3C_LABELS
        else:
            if args.manifest:
                raise DataError(f"{args.manifest}: --manifest is only supported for pair3c — drop it")
            from fadtq.data.build_binary import build_binary

            result = build_binary(args.dataset, args.root, args.out, seed=args.seed, per_class=args.per_class or 20,
                                  max_pixels=args.max_pixels, progress=not args.no_progress)
            labels = BINARY_LABELS
    except DataError as exc:
        print(f"fadtq build-data: error: {exc}", file=sys.stderr)
        return 2
    print_split_table(result.counts, labels)
    print(f"{result.n_images} images → {result.out_dir}: " + ", ".join(p.name for p in result.files.values()))
    return 0
