"""Prediction files (JSONL, one line per test row) and their robust reading.

A line: ``{"index", "category", "label", "pred" (label or null), "response", "think_words",
"model", "prompt_version", "data_source"}``. Reading never crashes and never silently drops:
broken lines, unknown labels, duplicate indices and rows missing from the test set are counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

REQUIRED = ("index", "category", "label", "pred")


@dataclass
class PredictionFile:
    path: Path
    name: str
    frame: pd.DataFrame  # one row per distinct index, first occurrence kept
    issues: dict[str, int] = field(default_factory=dict)

    def describe_issues(self) -> str:
        found = {k: v for k, v in self.issues.items() if v}
        return ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in found.items()) or "no problems"


def read_predictions(path, classes, test_indices=None) -> PredictionFile:
    """Read ``path``; ``classes`` are the valid labels; ``test_indices`` (optional) the full test set."""
    path = Path(path)
    issues = {"broken_lines": 0, "unknown_labels": 0, "unknown_predictions": 0, "duplicate_ids": 0,
              "missing_rows": 0, "extra_rows": 0}
    records, seen = [], set()
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or any(k not in record for k in REQUIRED):
                    raise ValueError("missing fields")
                record["index"] = int(record["index"])
            except (json.JSONDecodeError, ValueError, TypeError):
                issues["broken_lines"] += 1
                continue
            if record["index"] in seen:
                issues["duplicate_ids"] += 1
                continue
            if record["label"] not in classes:
                issues["unknown_labels"] += 1
                continue
            if record["pred"] is not None and record["pred"] not in classes:
                issues["unknown_predictions"] += 1
                record["pred"] = None  # counted as unparsable, not dropped
            seen.add(record["index"])
            records.append(record)
    frame = pd.DataFrame.from_records(records, columns=sorted({k for r in records for k in r} | set(REQUIRED)))
    if test_indices is not None:
        expected = set(int(i) for i in test_indices)
        issues["missing_rows"] = len(expected - seen)
        issues["extra_rows"] = len(seen - expected)
        frame = frame[frame["index"].isin(expected)]
    name = str(frame["model"].iloc[0]) if "model" in frame and len(frame) and frame["model"].iloc[0] else path.stem
    return PredictionFile(path, name, frame.reset_index(drop=True), issues)
