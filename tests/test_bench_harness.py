"""The benchmark harness (scripts/_bench.py): no ratio and no goal after a failed measured call, and --json."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "scripts" / "_bench.py"
_spec = importlib.util.spec_from_file_location("_bench", _PATH)
_bench = sys.modules.setdefault("_bench", importlib.util.module_from_spec(_spec))  # its dataclasses look it up
_spec.loader.exec_module(_bench)


def broken_on_call(n: int):
    """A function whose ``n``-th call (counting the warm-up) raises."""
    calls = []

    def fn():
        calls.append(None)
        if len(calls) == n:
            raise ConnectionError("66 of 123 requests failed")
        return sum(range(100))

    return fn


def run_bench(argv: list[str], baseline) -> int:
    args = _bench.bench_parser("test").parse_args(argv)
    bench = _bench.Bench("toy", args)
    bench.round_robin({"ours": lambda: sum(range(10)), "baseline": baseline}, repeats=3)
    bench.ratio("ours vs baseline", "baseline", "ours")
    bench.goal("ours within 1000× of the baseline", "ours", at_most=1000.0, over="baseline")
    return bench.finish()


def test_ratio_and_goal_are_printed_when_every_call_succeeded(capsys):
    assert run_bench([], lambda: sum(range(100))) == 0
    out = capsys.readouterr().out
    assert out.startswith("machine: ") and "python " in out.splitlines()[0] and "torch " in out.splitlines()[0]
    assert any(line.strip().startswith("ours vs baseline") and "×" in line for line in out.splitlines())
    assert "goal: ours within 1000× of the baseline: met" in out


@pytest.mark.parametrize("failing_call", [1, 3])  # the warm-up, a timed call in the middle
def test_no_ratio_and_no_goal_after_a_failed_call(capsys, failing_call):
    assert run_bench([], broken_on_call(failing_call)) == 1
    out = capsys.readouterr().out
    assert "ConnectionError: 66 of 123 requests failed" in out
    assert not [line for line in out.splitlines() if "×" in line], out
    assert "goal:" not in out and "no ratios and no goals" in out


def test_recorded_and_externally_failed_measurements_block_ratios(capsys):
    bench = _bench.Bench("toy")
    bench.record("skipped", [1.0, 1.2])
    bench.ratio("computed / skipped", "computed", "skipped")
    bench.fail("computed", "training failed")
    assert bench.finish() == 1
    assert "×" not in capsys.readouterr().out


def test_a_ratio_of_something_never_measured_is_a_failure(capsys):
    bench = _bench.Bench("toy")
    bench.record("a", [1.0])
    bench.ratio("a / b", "a", "b")
    assert bench.finish() == 1
    out = capsys.readouterr().out
    assert "b" in bench.failures and "×" not in out


@pytest.mark.parametrize("fails", [False, True])
def test_json_document(capsys, fails):
    assert run_bench(["--json"], broken_on_call(2) if fails else (lambda: sum(range(100)))) == int(fails)
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # stdout is the JSON document alone; the text went to stderr
    assert captured.err.startswith("machine: ")
    assert set(doc) == {"benchmark", "machine", "settings", "measurements", "facts", "failures", "ratios", "goals",
                        "ok"}
    assert doc["benchmark"] == "toy" and doc["ok"] is (not fails)
    assert {"cpu", "cores", "usable_cores", "python", "torch"} <= set(doc["machine"])
    ours = doc["measurements"]["ours"]
    assert len(ours["seconds"]) == 3 and ours["error"] is None
    assert ours["best_s"] == min(ours["seconds"]) <= ours["median_s"]
    if fails:
        assert doc["failures"] == {"baseline": "ConnectionError: 66 of 123 requests failed"}
        assert doc["measurements"]["baseline"]["median_s"] is None
        assert doc["ratios"] == [] and doc["goals"] == []
    else:
        assert doc["failures"] == {}
        (ratio,) = doc["ratios"]
        baseline = doc["measurements"]["baseline"]
        assert ratio["label"] == "ours vs baseline"
        assert ratio["median"] == pytest.approx(baseline["median_s"] / ours["median_s"])
        assert ratio["best"] == pytest.approx(baseline["best_s"] / ours["best_s"])
        (goal,) = doc["goals"]
        assert goal["met"] is True and goal["value"] == pytest.approx(ours["median_s"] / baseline["median_s"])
