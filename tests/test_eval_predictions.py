"""Prediction files: bad lines are counted and reported, never a crash or a silently wrong number."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from fadtq.data.prompt import PAIR3C_OPTIONS
from fadtq.eval.predictions import GroundTruth, make_record, read_predictions, scan_existing

N, S, L = "normal", "structural", "logical"
OPTIONS = PAIR3C_OPTIONS


def line(index, label, pred, category="pushpins", **extra):
    return json.dumps({"index": index, "category": category, "label": label, "pred": pred, **extra})


BAD_FILE = [
    line(0, N, N, think_words=4),
    "{broken json",
    line(0, N, L),  # duplicate id: the first is kept
    line(1, "weird", N),  # unknown true label
    line(2, L, "banana"),  # unknown prediction → unparsable
    '{"index": 3, "category": "pushpins"}',  # missing fields
    '["not", "an", "object"]',
    line(True, N, N),  # a boolean is no index
    line(4, S, S, category=None),  # no category
    "",  # blank lines are fine
    line("5", S, None, response="<think>a b c</think><answer>X</answer>"),  # think_words from the response
]


def test_reading_counts_every_kind_of_bad_line(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text("\n".join(BAD_FILE) + "\n")
    run = read_predictions(path)
    assert run.problems == {"broken_lines": 5, "duplicate_ids": 1, "unknown_labels": 1, "unknown_predictions": 1}
    assert run.first_lines["broken_lines"] == [2, 6, 7, 8, 9] and run.first_lines["duplicate_ids"] == [3]
    assert run.frame["index"].tolist() == [0, 2, 5]
    assert run.frame["pred"].tolist() == [N, None, None]
    words = run.frame["think_words"].tolist()
    assert words[0] == 4.0 and np.isnan(words[1]) and words[2] == 3.0  # no count, no response: unknown
    text = run.describe_issues()
    for fragment in ("5 broken lines", "1 duplicate ids", "1 unknown labels", "1 unknown predictions",
                     "not checked against the test set"):
        assert fragment in text


def test_a_test_set_is_the_truth_and_missing_rows_count_as_wrong(tmp_path):
    test = GroundTruth(index=np.array([10, 11, 12, 13]), category=np.array(["a", "a", "b", "b"], dtype=object),
                   label=np.array([N, S, L, N], dtype=object), classes=(N, S, L))
    path = tmp_path / "run.jsonl"
    path.write_text("\n".join([
        line(10, N, N, category="a"),
        line(11, L, S, category="a"),  # label disagrees with the test set: the test set wins, counted
        line(13, N, N, category="b"),
        line(99, N, N, category="b"),  # not in the test set
    ]) + "\n")
    run = read_predictions(path, test)
    assert run.problems == {"mismatched_rows": 1, "extra_rows": 1, "missing_rows": 1}
    frame = run.frame
    assert frame["index"].tolist() == [10, 11, 12, 13]  # exactly the test rows, in test order
    assert frame["label"].tolist() == [N, S, L, N]
    assert frame["pred"].tolist() == [N, S, None, N] and frame["missing"].tolist() == [False, False, True, False]
    assert np.isnan(frame["think_words"][2])


def test_make_record_uses_the_shared_parser():
    record = make_record(index=7, category="pushpins", label=S, options=OPTIONS, model="m",
                         response="<think>the test image has a crack</think><answer>B</answer>")
    assert record["pred"] == S and record["well_formed"] and record["think_words"] == 6 and record["answer"] == "B"
    sloppy = make_record(index=8, category="pushpins", label=S, options=OPTIONS, model="m",
                         response="I think it is structural or logical")
    assert sloppy["pred"] is None and not sloppy["well_formed"] and sloppy["think_words"] == 0
    both = make_record(index=9, category="pushpins", label=S, options=OPTIONS, model="m",
                       response="<think>x</think><answer>structural or logical</answer>")
    assert both["pred"] is None  # two classes are no answer


def test_scan_existing_sees_a_partial_last_line(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text(line(0, N, N, model="m") + "\n" + line(1, N, N, model="m") + "\n" + '{"index": 2, "cat')
    found = scan_existing(path)
    assert found.indices == {0, 1} and found.models == {"m"} and not found.ends_with_newline
    assert scan_existing(tmp_path / "absent.jsonl").indices == set()


def fadtq(*args):
    return subprocess.run([sys.executable, "-m", "fadtq", *args], capture_output=True, text=True, timeout=300)


def test_report_counts_bad_lines_and_warns(tmp_path):
    run = tmp_path / "run.jsonl"
    run.write_text("\n".join(BAD_FILE) + "\n")
    result = fadtq("report", str(run), "--out", str(tmp_path / "report"))
    assert result.returncode == 0, result.stderr
    summary = (tmp_path / "report" / "table.md").read_text()
    for fragment in ("5 broken lines", "1 unknown labels", "1 unknown predictions", "1 duplicate ids"):
        assert fragment in summary
    assert "warning" in result.stderr and "5 broken lines" in result.stderr
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())[0]
    assert metrics["pairs"] == 3 and metrics["accuracy"] == pytest.approx(1 / 3)  # unknown prediction = wrong
    assert metrics["input_issues"]["broken_lines"] == 5


def test_report_of_an_empty_or_garbage_file_still_writes_a_report(tmp_path):
    empty, garbage = tmp_path / "empty.jsonl", tmp_path / "garbage.jsonl"
    empty.write_text("")
    garbage.write_bytes(b"\xff\xfe\x00garbage\n" * 3)
    result = fadtq("report", str(empty), str(garbage), "--out", str(tmp_path / "report"))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert [m["pairs"] for m in metrics] == [0, 0] and metrics[1]["input_issues"] == {"broken_lines": 3}


def test_report_bad_inputs_are_one_line_errors(tmp_path):
    run = tmp_path / "run.jsonl"
    run.write_text(line(0, N, N) + "\n")
    missing = fadtq("report", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "r1"))
    not_parquet = tmp_path / "test.parquet"
    not_parquet.write_text("not parquet")
    foreign = tmp_path / "foreign.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(foreign)
    for result, name in ((missing, "nope.jsonl"), (fadtq("report", str(run), "--data", str(not_parquet), "--out",
                                                         str(tmp_path / "r2")), "test.parquet"),
                         (fadtq("report", str(run), "--data", str(foreign), "--out", str(tmp_path / "r3")),
                          "foreign.parquet")):
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and name in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r3").exists()  # nothing half-written
