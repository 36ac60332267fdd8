"""`fadtq demo --learn`: its held-out sample, curves and outputs; and the whole command at the smallest size."""

import json
import math
import os
import subprocess
import sys

import pandas as pd
import pytest

from fadtq.demo_learn import (
    TRAIN_CURVES,
    LearnOptions,
    balanced_sample,
    named_class,
    pair_test_images,
    plot_learning_curve,
    run_learn_demo,
    training_curve,
    unseen_pairs,
    validation_curve,
)


def test_balanced_sample_takes_per_class_rows_seeded(small_pair3c):
    test = pd.read_parquet(small_pair3c.files["test"])
    labels = test["reward_model"].map(lambda t: t["ground_truth"])
    fewest = labels.value_counts().min()
    sample = balanced_sample(test, fewest - 1, seed=3)
    counts = sample["reward_model"].map(lambda t: t["ground_truth"]).value_counts()
    assert sorted(counts.index) == sorted(labels.unique()) and set(counts) == {fewest - 1}
    assert sample.equals(balanced_sample(test, fewest - 1, seed=3))
    assert not sample.equals(balanced_sample(test, fewest - 1, seed=4))
    everything = balanced_sample(test, 10_000, seed=0)  # a class with fewer rows gives all it has
    assert len(everything) == len(labels)


def test_unseen_pairs_drop_seen_and_repeated_test_images(small_pair3c):
    frame = pd.read_parquet(small_pair3c.files["test"])
    doubled = pd.concat([frame, frame.iloc[:3]]).reset_index(drop=True)  # three test images twice
    seen = {frame["images"][0][1]["bytes"]}
    kept = unseen_pairs(doubled, seen)
    assert len(kept) == len(pair_test_images(frame)) - 1
    assert not pair_test_images(kept) & seen and len(pair_test_images(kept)) == len(kept)


def write_dump(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_named_class_reads_the_opening_word_of_the_thinking():
    assert named_class("<think>Logical: the test image has an extra part.</think><answer>C</answer>") == "logical"
    assert named_class("<think>Normal: fine.</think><answer>A</answer>") == "normal"
    assert named_class("<think>Normally it is fine.</think>") is None  # the word, not a prefix of another
    assert named_class("Structural: no think tag") is None


def dump_row(gts, pred, named):
    return {"gts": gts, "pred": pred, "output": f"<think>{named}: text</think><answer>X</answer>"}


def test_validation_curve_by_hand(tmp_path):
    write_dump(tmp_path / "0.jsonl", [dump_row("normal", "normal", "Normal"), dump_row("logical", "normal", "Normal"),
                                      dump_row("structural", "normal", "Structural"),
                                      dump_row("normal", None, "Nothing")])
    write_dump(tmp_path / "10.jsonl", [dump_row("normal", "normal", "Logical"),
                                       dump_row("logical", "logical", "Logical"),
                                       dump_row("structural", "structural", "Structural"),
                                       dump_row("normal", "logical", "Logical")])
    first, second = validation_curve(tmp_path)  # in step order, not file-name order
    assert first == {"step": 0, "accuracy": 0.25, "balance_score": 0.0, "reasoning_accuracy": 0.5}
    assert second["reasoning_accuracy"] == 0.5
    # predictions normal, logical, structural, logical: p = (1/4, 1/4, 1/2); BS = H(p) / log 3
    expected_bs = -(2 * 0.25 * math.log(0.25) + 0.5 * math.log(0.5)) / math.log(3)
    assert second["step"] == 10 and second["accuracy"] == 0.75
    assert second["balance_score"] == pytest.approx(expected_bs, rel=1e-9)


def test_training_curve_reads_reward_keys_per_step(tmp_path):
    lines = [{"step": 0, "data": {"val-core/x/acc/mean@1": 0.5}},
             {"step": 1, "data": {"critic/score/mean": 1.5, "reward/r_format/mean": 1.0, "reward/r_acc/mean": 0.5}},
             {"step": 2, "data": {"critic/score/mean": 2.0, "reward/r_format/mean": 1.0, "reward/r_acc/mean": 1.0,
                                  "reward/r_tq/mean": 0.5}}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    curves = training_curve(tmp_path / "metrics.jsonl")
    assert set(curves) == set(TRAIN_CURVES)
    assert curves["critic/score/mean"] == [(1, 1.5), (2, 2.0)] and curves["reward/r_tq/mean"] == [(2, 0.5)]
    plot_learning_curve([{"step": 0, "accuracy": 0.4, "balance_score": 0.5, "reasoning_accuracy": 0.8},
                         {"step": 2, "accuracy": 0.6, "balance_score": 0.9, "reasoning_accuracy": 0.7}],
                        curves, tmp_path / "curve.png", "test")
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_learn_demo_smallest_settings(tmp_path, monkeypatch):
    """Every stage through the real commands, at sizes that take minutes: the outputs a researcher reads."""
    monkeypatch.delenv("FADTQ_JUDGE_URL", raising=False)
    options = LearnOptions(out=tmp_path / "learn", steps=2, prompts=4, test_freq=1, heldout_per_class=4,
                           per_class=2, describe_at=0.0, judge=False)
    assert run_learn_demo(options) == 0
    out = options.out
    result = json.loads((out / "learning.json").read_text())
    for key in ("before", "after", "balance_before", "balance_after", "steps", "train_seconds", "checkpoint", "seed"):
        assert key in result
    assert result["steps"] == 2 and result["seed"] == 0 and result["heldout_pairs"] == 12
    assert [point["step"] for point in result["validation"]] == [0, 1, 2]
    assert (out / "learning_curve.png").stat().st_size > 0
    assert (out / "report" / "table.md").is_file()
    # No held-out test image (RL's, or the warm-up's stopping check) is in a training set (RL's or the
    # warm-up's): a normal scene has few random parameters, so the two seeds can render the same picture.
    trained = set()
    for name in ("pair3c_rl", "pair3c_warmup"):
        trained |= pair_test_images(pd.read_parquet(out / name / "train.parquet"))
    heldout = {name: pair_test_images(pd.read_parquet(out / name / "heldout.parquet"))
               for name in ("pair3c_rl", "pair3c_warmup")}
    assert not heldout["pair3c_rl"] & trained and not heldout["pair3c_warmup"] & trained
    assert not heldout["pair3c_rl"] & heldout["pair3c_warmup"]


def test_learn_flag_in_help():
    result = subprocess.run([sys.executable, "-m", "fadtq", "demo", "--help"], capture_output=True, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0
    assert "--learn" in result.stdout and "--no-judge" in result.stdout and "learning_curve.png" in result.stdout
