"""`fadtq demo` with the smallest settings, end to end; and its fallback when the judge cannot start."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.judge]



def test_demo_smallest_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FADTQ_JUDGE_URL"}
    result = subprocess.run([sys.executable, "-m", "fadtq", "demo", "--out", str(tmp_path / "demo"), "--steps", "1",
                             "--warmup-steps", "60", "--eval-limit", "2"],
                            capture_output=True, text=True, timeout=1500, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = tmp_path / "demo"
    for stage in ("1/6", "2/6", "3/6", "4/6", "5/6", "6/6"):
        assert stage in result.stdout
    assert "per-step training metrics" in result.stdout and "rollouts of step 1" in result.stdout
    assert "config valid (verl validate_config passed)" in result.stdout
    assert (out / "train" / "checkpoints" / "global_step_1" / "actor" / "huggingface" / "config.json").is_file()
    assert len((out / "eval" / "predictions.jsonl").read_text().splitlines()) == 2
    for name in ("table.md", "table.tex", "metrics.json", "accuracy_by_category.png"):
        assert (out / "report" / name).stat().st_size > 0
    metrics = [json.loads(line) for line in (out / "train" / "metrics.jsonl").read_text().splitlines()]
    assert any("reward/r_format/mean" in m["data"] for m in metrics)
    assert "demo finished in" in result.stdout


def test_demo_continues_without_judge(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FADTQ_JUDGE_URL"}
    env["FADTQ_JUDGE_GGUF"] = str(tmp_path / "missing.gguf")  # the judge server cannot start
    result = subprocess.run([sys.executable, "-m", "fadtq", "demo", "--out", str(tmp_path / "demo"), "--steps", "1",
                             "--warmup-steps", "20", "--eval-limit", "1"],
                            capture_output=True, text=True, timeout=1500, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    notes = [line for line in result.stdout.splitlines() if "judge unavailable" in line]
    assert len(notes) == 1 and "missing.gguf" in notes[0]
    assert "demo finished in" in result.stdout
