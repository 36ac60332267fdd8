"""`fadtq report`: tables, plots and an HTML page from prediction files."""

from __future__ import annotations

import argparse
import sys

NAME = "report"
HELP = "Table 2 (Markdown + LaTeX), confusion matrices, bar chart and HTML samples from prediction files"
DESCRIPTION = """\
Compare one or more runs in the paper's Table 2 layout (per category accuracy and Balance Score,
then overall micro accuracy and Balance Score), plus per-class recall, macro-F1, balanced accuracy
(normal vs anomaly), unparsable share and mean reasoning length; confusion-matrix PNGs, a
per-category bar chart, metrics.json and, per run, an HTML page of sample pairs filterable by
category and class.

Pass the test parquet with --data: the rows are then checked against it (its labels are the truth,
a test row without a prediction is counted and scored as unparsable) and the HTML shows the
reference and test thumbnails. Broken lines, duplicate ids, unknown labels and rows not in the
test set are counted and reported, never silently dropped.

example:
  fadtq report runs/baselines/qwen2_5_vl_3b.jsonl runs/fadtq.jsonl --data data/pair3c/test.parquet --out reports/table2
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", help="prediction JSONL files written by `fadtq eval`")
    parser.add_argument("--out", required=True, help="report folder (created)")
    parser.add_argument("--data", default=None, help="the test parquet: truth, missing-row check, thumbnails")
    parser.add_argument("--samples-per-group", type=int, default=12,
                        help="HTML: pairs shown per category and true class (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from fadtq.eval.report import ReportInputError, write_report

    for path in [*args.runs, *([args.data] if args.data else [])]:
        if not Path(path).is_file():
            print(f"fadtq report: error: {path}: file not found — pass prediction files written by `fadtq eval` "
                  "(and --data the test parquet of `fadtq build-data`)", file=sys.stderr)
            return 2
    try:
        files = write_report(args.runs, args.out, data=args.data, per_group=args.samples_per_group)
    except ReportInputError as exc:
        print(f"fadtq report: error: {exc}", file=sys.stderr)
        return 2
    print(Path(files["markdown"]).read_text(encoding="utf-8"))
    for entry in json.loads(Path(files["metrics"]).read_text(encoding="utf-8")):
        if entry["input_issues"]:
            print(f"fadtq report: warning: {entry['file']}: "
                  + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in entry["input_issues"].items())
                  + " — see the input column of table.md", file=sys.stderr)
    print("wrote " + ", ".join(str(p) for p in files.values()))
    return 0
