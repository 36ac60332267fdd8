"""End to end on CPU: the HF backend runs the tiny model on synthetic pairs, then `fadtq report`."""

import json
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from fadtq.data.pair3c import build_pair3c
from fadtq.data.synth_loco import SMALL_PER_CLASS, generate_loco_tree


@pytest.fixture(scope="module")
def test_parquet(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pairs")
    root = generate_loco_tree(tmp / "loco", counts="small")
    return build_pair3c(root, tmp / "p3c", per_class=SMALL_PER_CLASS, max_pixels=16 * 28 * 28,
                        progress=False).files["test"]


def fadtq(*args):
    return subprocess.run([sys.executable, "-m", "fadtq", *args], capture_output=True, text=True, timeout=900)


def test_hf_eval_resumes_and_report_writes_every_file(tiny_model_dir, test_parquet, tmp_path):
    preds = tmp_path / "preds.jsonl"
    common = ["eval", "--model", tiny_model_dir, "--data", str(test_parquet), "--backend", "hf", "--out", str(preds),
              "--batch-size", "3", "--max-new-tokens", "16"]
    first = fadtq(*common, "--limit", "4")
    assert first.returncode == 0, first.stderr[-2000:]
    again = fadtq(*common, "--limit", "6")
    assert again.returncode == 0 and "2 pairs generated, 4 already done" in again.stdout
    records = [json.loads(line) for line in preds.read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(6))
    assert all(r["pred"] in (None, "normal", "structural", "logical") for r in records)
    assert all(isinstance(r["response"], str) for r in records)

    report = fadtq("report", str(preds), "--data", str(test_parquet), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr[-2000:]
    out = tmp_path / "report"
    for name in ("table.md", "table.tex", "metrics.json", "accuracy_by_category.png"):
        assert (out / name).stat().st_size > 0
    assert list(out.glob("confusion_*.png")) and all(p.stat().st_size > 1000 for p in out.glob("*.png"))
    page = next(out.glob("samples_*.html")).read_text()

    class Rows(HTMLParser):
        rows = 0

        def handle_starttag(self, tag, attrs):
            self.rows += tag == "tr" and any(k == "data-category" for k, _ in attrs)

    parser = Rows()
    parser.feed(page)
    assert parser.rows == 6 and "data:image/png;base64," in page
    # the 24 test rows that were never generated are counted, not dropped
    assert "24 missing rows" in (out / "table.md").read_text()


def test_bad_prediction_lines_are_counted(tmp_path):
    lines = [
        '{"index": 0, "category": "pushpins", "label": "normal", "pred": "normal"}',
        "{broken json",
        '{"index": 0, "category": "pushpins", "label": "normal", "pred": "logical"}',  # duplicate id
        '{"index": 1, "category": "pushpins", "label": "weird", "pred": "normal"}',  # unknown label
        '{"index": 2, "category": "pushpins", "label": "logical", "pred": "banana"}',  # unknown prediction
        '{"index": 3, "category": "pushpins"}',  # missing fields
    ]
    run = tmp_path / "run.jsonl"
    run.write_text("\n".join(lines) + "\n")
    result = fadtq("report", str(run), "--out", str(tmp_path / "report"))
    assert result.returncode == 0, result.stderr
    summary = (tmp_path / "report" / "table.md").read_text()
    for fragment in ("2 broken lines", "1 unknown labels", "1 unknown predictions", "1 duplicate ids"):
        assert fragment in summary
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())[0]
    assert metrics["pairs"] == 2 and metrics["accuracy"] == 0.5  # the unknown prediction counts as wrong


def test_eval_missing_model_is_one_line(tmp_path, test_parquet):
    result = fadtq("eval", "--model", str(tmp_path / "nope"), "--data", str(test_parquet), "--backend", "hf",
                   "--out", str(tmp_path / "p.jsonl"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and "nope" in result.stderr
