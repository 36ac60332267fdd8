"""Prediction files: JSONL, one line per test row, and their robust reading.

A line, as written by ``fadtq eval`` (only the first four fields are required to score a file)::

    index           int    extra_info.index of the test row
    category        str    extra_info.category
    label           str    true class (reward_model.ground_truth)
    pred            str?   predicted class, or null when the answer names no single class
    answer          str?   the <answer> text, null when there is no single <answer> span
    well_formed     bool   exactly <think>…</think><answer>…</answer> (the format reward's rule)
    think_words     int    words in the <think> text (0 without one)
    truncated       bool?  generation stopped at --max-new-tokens (null when unknown)
    response        str    the raw generated text
    model, backend, prompt_version, data_source, options, sampling

A line that kept its ``response`` and ``options`` is scored by reading the response again with the
shared answer matcher (the reward's); a ``pred`` that differs is replaced and counted.

Reading never crashes and never silently drops a row: broken lines, duplicate ids, unknown labels
or predictions, rows that disagree with the test set, rows missing from it and rows not in it are
counted (with the first line numbers) and the report shows the counts. With the test set given,
its labels are the truth, every test row is scored, and a missing row counts as unparsable (wrong).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fadtq.eval.metrics import think_word_count
from fadtq.labels import ANOMALOUS, BINARY_LABELS, PAIR3C_LABELS
from fadtq.rewards import answer_to_label, parse_response

REQUIRED_FIELDS = ("index", "category", "label", "pred")

#: issue key -> how the report words it (after the count).
ISSUE_TEXT = {
    "broken_lines": "broken lines (not a JSON object with index, category, label, pred; skipped)",
    "duplicate_ids": "duplicate ids (first kept)",
    "unknown_labels": "unknown labels (true label not a class; skipped)",
    "unknown_predictions": "unknown predictions (not a class; scored as unparsable)",
    "mismatched_rows": "rows whose category or label differ from the test set (test set used)",
    "extra_rows": "rows not in the test set (skipped)",
    "missing_rows": "missing rows (test rows without a prediction; scored as unparsable)",
    "repredicted": "predictions re-read from the response by the current answer matcher (the file's pred differed)",
}


@dataclass(frozen=True)
class GroundTruth:
    """The test set's truth, from its parquet: per row its index, category and label, and the class list."""

    index: np.ndarray
    category: np.ndarray
    label: np.ndarray
    classes: tuple[str, ...]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "GroundTruth":
        """From a fadtq pair parquet read by pandas (columns ``extra_info`` and ``reward_model``)."""
        infos, truth = frame["extra_info"].tolist(), frame["reward_model"].tolist()
        classes = ordered_classes([info.get("options") or {} for info in infos], [t["ground_truth"] for t in truth])
        return cls(index=np.array([int(i["index"]) for i in infos], dtype=np.int64),
                   category=np.array([str(i["category"]) for i in infos], dtype=object),
                   label=np.array([str(t["ground_truth"]) for t in truth], dtype=object), classes=classes)


def ordered_classes(option_maps, labels) -> tuple[str, ...]:
    """The class list: the options' values in letter order when known, else Pair3C's or the binary one."""
    seen: dict[str, None] = {}
    for options in option_maps:
        if isinstance(options, dict):
            for letter in sorted(options):
                if isinstance(options[letter], str):
                    seen.setdefault(options[letter])
    if seen:
        return tuple(seen)
    labels = {label for label in labels if isinstance(label, str)}
    return BINARY_LABELS if ANOMALOUS in labels and labels <= set(BINARY_LABELS) else PAIR3C_LABELS


def make_record(*, index: int, category: str, label: str, response: str, options: dict, model: str,
                prompt_version: str = "", data_source: str = "", backend: str = "", sampling: dict | None = None,
                truncated: bool | None = None) -> dict:
    """One prediction line; the answer is read by the reward's own parser (``fadtq.rewards``)."""
    parsed = parse_response(response)
    return {
        "index": int(index), "category": category, "label": label,
        "pred": answer_to_label(parsed.answer, options), "answer": parsed.answer, "well_formed": parsed.well_formed,
        "think_words": think_word_count(parsed.think), "truncated": truncated, "response": response,
        "model": model, "backend": backend, "prompt_version": prompt_version, "data_source": data_source,
        "options": dict(options), "sampling": sampling or {},
    }


def predicted_label(response, options) -> str | None:
    """The class the shared answer matcher (the reward's, ``fadtq.rewards``) reads from a
    raw ``response`` given the row's ``options`` (letter -> class)."""
    return answer_to_label(parse_response(response).answer, options)


def _rereadable(record: dict) -> bool:
    """A record whose prediction can be re-read: it kept its raw response and its options."""
    options = record.get("options")
    return isinstance(record.get("response"), str) and isinstance(options, dict) and bool(options)


@dataclass
class ExistingPredictions:
    """What a resumed run needs to know about an output file it appends to."""

    indices: set[int] = field(default_factory=set)
    models: set[str] = field(default_factory=set)
    ends_with_newline: bool = True


def scan_existing(path) -> ExistingPredictions:
    """Indices and model names already in ``path`` (unreadable lines are ignored here; the report counts them)."""
    path = Path(path)
    found = ExistingPredictions()
    if not path.is_file() or path.stat().st_size == 0:
        return found
    data = path.read_bytes()
    found.ends_with_newline = data.endswith(b"\n")
    for line in data.decode("utf-8", errors="replace").splitlines():
        record = _parse_line(line)
        if record is not None:
            found.indices.add(record["index"])
            if record.get("model"):
                found.models.add(str(record["model"]))
    return found


def _as_index(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _parse_line(line: str) -> dict | None:
    """The record of one line, or None when it is not a JSON object with the required fields."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or any(k not in record for k in REQUIRED_FIELDS):
        return None
    index = _as_index(record["index"])
    if index is None or not isinstance(record["category"], str) or not record["category"]:
        return None
    if not isinstance(record["label"], str) or not (record["pred"] is None or isinstance(record["pred"], str)):
        return None
    record["index"] = index
    return record


def _think_words(record: dict) -> float:
    value = record.get("think_words")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 and not math.isnan(value):
        return float(value)
    if isinstance(record.get("response"), str):
        return float(think_word_count(parse_response(record["response"]).think))
    return math.nan


@dataclass
class PredictionFile:
    """One read prediction file: the scored rows and what was wrong with the input."""

    path: Path
    name: str
    classes: tuple[str, ...]
    frame: pd.DataFrame  # index, category, label, pred, think_words, missing, and any other recorded field
    issues: dict[str, int]
    first_lines: dict[str, list[int]]  # issue -> up to 5 line numbers
    models: list[str]
    checked_against_test_set: bool

    @property
    def problems(self) -> dict[str, int]:
        return {k: v for k, v in self.issues.items() if v}

    def describe_issues(self) -> str:
        """``"2 broken lines (…), 1 duplicate ids (…)"`` or ``"no problems"``."""
        parts = []
        for key, count in self.problems.items():
            lines = self.first_lines.get(key)
            where = f" [line {', '.join(map(str, lines))}{', …' if count > len(lines) else ''}]" if lines else ""
            parts.append(f"{count} {ISSUE_TEXT[key]}{where}")
        if len(self.models) > 1:
            parts.append(f"rows from {len(self.models)} models ({', '.join(self.models)})")
        if not self.checked_against_test_set:
            parts.append("not checked against the test set (pass --data to count missing rows)")
        return "; ".join(parts) or "no problems"


def read_predictions(path, test: GroundTruth | None = None, classes=None) -> PredictionFile:
    """Read a prediction file; with ``test`` the result holds exactly the test rows, in test order."""
    path = Path(path)
    issues = dict.fromkeys(ISSUE_TEXT, 0)
    first_lines: dict[str, list[int]] = {}

    def count(key: str, line_no: int | None = None) -> None:
        issues[key] += 1
        if line_no is not None and len(first_lines.setdefault(key, [])) < 5:
            first_lines[key].append(line_no)

    records: dict[int, dict] = {}
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            record = _parse_line(line)
            if record is None:
                count("broken_lines", line_no)
            elif record["index"] in records:
                count("duplicate_ids", line_no)
            else:
                record["_line"] = line_no
                records[record["index"]] = record

    if classes is None:
        classes = test.classes if test is not None else ordered_classes(
            [r.get("options") for r in records.values()], [r["label"] for r in records.values()])
    classes = tuple(classes)
    for record in records.values():
        # One matcher for every report: a file written before a matcher change is scored as it reads now.
        if _rereadable(record):
            pred = predicted_label(record["response"], record["options"])
            if pred != record["pred"]:
                count("repredicted", record["_line"])
                record["pred"] = pred
        if record["pred"] is not None and record["pred"] not in classes:
            count("unknown_predictions", record["_line"])
            record["pred"] = None

    if test is None:
        rows = []
        for record in records.values():
            if record["label"] in classes:
                rows.append(record)
            else:
                count("unknown_labels", record["_line"])
    else:
        rows = []
        for index, category, label in zip(test.index.tolist(), test.category, test.label, strict=True):
            record = records.pop(index, None)
            if record is None:
                issues["missing_rows"] += 1
                rows.append({"index": index, "category": category, "label": label, "pred": None, "missing": True})
                continue
            if record["category"] != category or record["label"] != label:
                count("mismatched_rows", record["_line"])
                record["category"], record["label"] = category, label
            rows.append(record)
        for record in records.values():
            count("extra_rows", record["_line"])

    for row in rows:
        row["think_words"] = _think_words(row) if not row.get("missing") else math.nan
        row.setdefault("missing", False)
        row.pop("_line", None)
    fixed = [*REQUIRED_FIELDS, "think_words", "missing"]
    frame = pd.DataFrame.from_records(rows, columns=fixed + sorted(set().union(*rows) - set(fixed)))
    frame["pred"] = pd.Series([r["pred"] for r in rows], index=frame.index, dtype=object)  # None stays None
    models = list(dict.fromkeys(str(r["model"]) for r in rows if r.get("model")))
    return PredictionFile(path=path, name=models[0] if models else path.stem, classes=classes,
                          frame=frame.reset_index(drop=True), issues=issues, first_lines=first_lines, models=models,
                          checked_against_test_set=test is not None)
