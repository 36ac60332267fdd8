"""`fadtq build-data`: build reference/test pair datasets in verl's parquet format."""

from __future__ import annotations

import argparse
import sys

NAME = "build-data"
HELP = "build MVTec-LOCO-AD-Pair3C (or MVTec-AD / VisA pair sets) as verl parquet"
DESCRIPTION = """\
Build reference/test pair datasets for verl's RLHFDataset (`fadtq build-data DATASET --help` for
each dataset's options).

  fadtq build-data pair3c   --root mvtec_loco_anomaly_detection --out data/pair3c
  fadtq build-data pair3c   --root … --out … --manifest data/pair3c_seed42_manifest.csv   (exact rebuild)
  fadtq build-data mvtec-ad --root mvtec_anomaly_detection --out data/mvtec_ad
  fadtq build-data visa     --root VisA --out data/visa

Writes train.parquet, test.parquet, manifest.csv (the frozen split) and summary.json into --out,
replacing it only when the build succeeded (and only if it is empty or an earlier build), and
prints the split table (Pair3C: the paper's Table 1). Images are stored already resized with
qwen-vl-utils' rule for --max-pixels, so the trainer and vLLM see the same grid.
"""

PAIR3C_DESCRIPTION = """\
MVTec-LOCO-AD-Pair3C: from each category's official test split, --per-class good, structural and
logical images (seeded) become training pairs with a reference from train/good; the rest are test
pairs with a reference from validation/good. With the defaults the counts are the paper's Table 1
(600 train / 968 test pairs); data/pair3c_seed42_manifest.csv is the frozen seed-42 draw. --manifest rebuilds
exactly the listed pairs, without randomness.
"""

BINARY_DESCRIPTION = """\
{name} as a binary pair set (normal vs anomalous). --balance balanced: from each category's
official test split, --per-class normal and anomalous images (seeded) become training pairs, the
rest test pairs. --balance natural: --per-class anomalous test images plus normal training images
at the dataset's own defect share ({share:.1f} %) per category; the rest of the official test split
is the test set. The normal training images are split in two disjoint halves, one per split.
--manifest rebuilds exactly the listed pairs, without randomness.
{layout}
"""


def _common_arguments(parser: argparse.ArgumentParser, per_class: int) -> None:
    from fadtq.data.images import DEFAULT_MAX_PIXELS  # light: PIL only

    parser.add_argument("--root", required=True, help="the dataset's official root folder")
    parser.add_argument("--out", required=True,
                        help="output folder (new, empty, or an earlier build; replaced on success)")
    parser.add_argument("--seed", type=int, default=42, help="sampling seed (default: %(default)s)")
    parser.add_argument("--per-class", type=int, default=per_class,
                        help="test images per category and class moved to the training split (default: %(default)s)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help="per-image pixel budget; images are stored resized as qwen-vl-utils would "
                             "(default: %(default)s = 512 vision tokens of 28×28 pixels)")
    parser.add_argument("--workers", type=int, default=4, help="image encoding threads (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    pair3c = sub.add_parser("pair3c", help="MVTec-LOCO-AD-Pair3C (the paper's benchmark)",
                            description=PAIR3C_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common_arguments(pair3c, per_class=40)
    pair3c.add_argument("--manifest", default=None,
                        help="rebuild exactly the pairs of this manifest CSV (e.g. data/pair3c_seed42_manifest.csv); "
                             "--seed and --per-class are then not used")
    from fadtq.data.prompt import DEFAULT_PAIR3C_WORDING, PAIR3C_WORDINGS  # light: no dependencies

    pair3c.add_argument("--prompt-version", choices=list(PAIR3C_WORDINGS), default=DEFAULT_PAIR3C_WORDING,
                        help="class wording of the question: 'paper' = the paper's taxonomy (structural: missing "
                             "parts, deformation, or defects; logical: count mismatch or spatial inconsistency), "
                             "'loco' = MVTec LOCO's own (a missing part is logical); see fadtq/data/prompt.py "
                             "(default: %(default)s)")
    from fadtq.data.binary import BALANCES, NATURAL_DEFECT_SHARE  # light: numpy only

    for name, title, layout in (
            ("mvtec-ad", "MVTec-AD", "Layout: <root>/<category>/{train/good, test/good, test/<defect>}/NNN.png "
                                     "(15 categories)."),
            ("visa", "VisA", "Layout: <root>/split_csv/1cls.csv listing <object>/Data/Images/{Normal,Anomaly}/*.")):
        binary = sub.add_parser(name, help=f"{title} as normal-vs-anomalous pairs",
                                description=BINARY_DESCRIPTION.format(name=title, layout=layout,
                                                                      share=100 * NATURAL_DEFECT_SHARE[name]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
        _common_arguments(binary, per_class=20)
        binary.add_argument("--categories", nargs="+", default=None, metavar="NAME",
                            help="build only these categories (default: all)")
        binary.add_argument("--balance", choices=BALANCES, default="balanced",
                            help="training pairs 50/50 per category, or at the dataset's own defect share "
                                 f"({100 * NATURAL_DEFECT_SHARE[name]:.1f} %%; --per-class then counts the anomalous "
                                 "ones) (default: %(default)s)")
        binary.add_argument("--manifest", default=None,
                            help="rebuild exactly the pairs of this manifest CSV (an earlier build's manifest.csv); "
                                 "--seed, --per-class, --balance and --categories are then not used")


def split_tables(counts: dict, labels, title: str) -> list:
    """Category × class counts, one table per split (for Pair3C together the paper's Table 1)."""
    from rich.table import Table

    tables = []
    for split in [s for s in ("train", "test") if s in counts]:
        per_category = counts[split]
        table = Table(title=f"{title}: {split} pairs")
        table.add_column("category")
        for label in labels:
            table.add_column(label, justify="right")
        table.add_column("total", justify="right", style="bold")
        for category in sorted(per_category):
            per = per_category[category]
            table.add_row(category, *[str(per.get(label, 0)) for label in labels], str(sum(per.values())))
        column_totals = [sum(per.get(label, 0) for per in per_category.values()) for label in labels]
        table.add_row("total", *map(str, column_totals), str(sum(column_totals)), style="bold")
        tables.append(table)
    return tables


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from fadtq.data import DataError
    from fadtq.labels import BINARY_LABELS, PAIR3C_LABELS

    progress = not args.no_progress
    try:
        if args.dataset == "pair3c":
            from fadtq.data.build import build_pair3c, matches_paper_table1

            result = build_pair3c(args.root, args.out, seed=args.seed, per_class=args.per_class,
                                  max_pixels=args.max_pixels, manifest=args.manifest, progress=progress,
                                  workers=args.workers, prompt_version=args.prompt_version)
            labels, title = PAIR3C_LABELS, "Table 1, MVTec-LOCO-AD-Pair3C"
        else:
            from fadtq.data.binary import build_binary, training_share

            result = build_binary(args.dataset, args.root, args.out, seed=args.seed, per_class=args.per_class,
                                  balance=args.balance, manifest=args.manifest, max_pixels=args.max_pixels,
                                  categories=args.categories, progress=progress, workers=args.workers)
            labels, title = BINARY_LABELS, f"{args.dataset}, train {training_share(result.counts):.1%} anomalous"
    except DataError as exc:
        print(f"fadtq build-data: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # unreadable folders and the like, not caught closer to the cause
        print(f"fadtq build-data: error: {exc.filename or args.root}: {exc.strerror or exc} — check the path and its "
              "permissions", file=sys.stderr)
        return 2
    console = Console()
    for table in split_tables(result.counts, labels, title):
        console.print(table)
    if args.dataset == "pair3c":
        verdict = ("equals the paper's Table 1 (600 train / 968 test pairs)" if matches_paper_table1(result.counts)
                   else "differs from the paper's Table 1 (other --per-class, an incomplete tree, or a custom "
                        "manifest)")
        print(f"split {verdict}")
    print(f"{result.n_images} distinct images → {result.out_dir}: " + ", ".join(p.name for p in result.files.values()))
    return 0
