"""`fadtq report`: tables, plots and an HTML page from prediction files."""

from __future__ import annotations

import argparse
import sys

NAME = "report"
HELP = "Table 2 (Markdown + LaTeX), confusion matrices, bar chart and HTML samples from prediction files"
DESCRIPTION = """\
Compare one or more runs in the paper's Table 2 layout (per-category accuracy and Balance Score,
overall), with confusion matrices, a per-category bar chart, metrics.json and an HTML page of sample
pairs. Pass the test parquet with --data to show thumbnails and to count rows missing from a run
as unparsable (otherwise only the rows present are scored).

  fadtq report runs/qwen3b.jsonl runs/fadtq.jsonl --data data/pair3c/test.parquet --out reports/table2
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", help="prediction JSONL files written by `fadtq eval`")
    parser.add_argument("--out", required=True, help="report folder")
    parser.add_argument("--data", default=None, help="the test parquet (thumbnails; missing rows counted)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fadtq.eval.report import write_report

    for path in [*args.runs, *([args.data] if args.data else [])]:
        if not Path(path).is_file():
            print(f"fadtq report: error: {path}: file not found — pass files written by `fadtq eval` / "
                  "`fadtq build-data`", file=sys.stderr)
            return 2
    files = write_report(args.runs, args.out, data=args.data)
    print(Path(files["markdown"]).read_text())
    print("wrote " + ", ".join(str(p) for p in files.values()))
    return 0
