"""Two real GPG training steps through verl's trainer on CPU (fadtq's CPU backend), end to end:
synthetic Pair3C → tiny Qwen2.5-VL → hf rollout → our reward (judge: the real CPU judge server) →
fadtq_gpg → FSDP2 update → weight sync → validation → checkpoint."""

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from fadtq.backends.cpu.bounded_run import run_in_own_session
from fadtq.data.pair3c import build_pair3c
from fadtq.data.synth_loco import SMALL_PER_CLASS, generate_loco_tree

pytestmark = [pytest.mark.slow, pytest.mark.judge]


RUN_TIMEOUT_S = 900  # the run takes 1–3 min here; the cores may be shared with other work


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory, tiny_model_dir, judge_url):
    tmp = tmp_path_factory.mktemp("cpu_train")
    data = build_pair3c(generate_loco_tree(tmp / "loco", counts="small"), tmp / "pair3c", per_class=SMALL_PER_CLASS,
                        max_pixels=16 * 28 * 28, progress=False)
    # A private Ray cluster with its own (short: socket paths are length-limited) temp dir, so the run
    # never attaches to, or cleans up, another Ray cluster on the machine.
    ray_tmp = tempfile.mkdtemp(prefix="fadtq-ray-")
    env = {**os.environ, "FADTQ_RUN_DIR": str(tmp / "run"), "VERL_FILE_LOGGER_PATH": str(tmp / "metrics.jsonl"),
           "FADTQ_JUDGE_URL": judge_url, "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    cmd = [sys.executable, "-m", "fadtq.train", "+backend=cpu", f"data.train_files={data.files['train']}",
           f"data.val_files={data.files['test']}", f"actor_rollout_ref.model.path={tiny_model_dir}",
           "trainer.total_training_steps=2", "trainer.save_freq=2", "trainer.test_freq=2",
           "ray_kwargs.ray_init.address=local", f"+ray_kwargs.ray_init._temp_dir={ray_tmp}"]
    try:
        run = run_in_own_session(cmd, env=env, log_path=tmp / "train.log", timeout_s=RUN_TIMEOUT_S, cwd=tmp)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    print(f"\nCPU e2e (fadtq.train, 2 steps): {run.wall_s:.0f} s wall, peak summed RSS {run.peak_rss_bytes / 2**30:.1f} GiB")
    return {"run": run, "log": (tmp / "train.log").read_text(errors="replace"), "tmp": tmp}


def test_training_ran_two_steps(cpu_run):
    assert not cpu_run["run"].timed_out, f"no exit within {RUN_TIMEOUT_S} s: " + cpu_run["log"][-4000:]
    assert cpu_run["run"].returncode == 0, cpu_run["log"][-4000:]
    assert "step:1 -" in cpu_run["log"] and "step:2 -" in cpu_run["log"]  # verl's console logger
    steps = [json.loads(line) for line in (cpu_run["tmp"] / "metrics.jsonl").read_text().splitlines()]
    train_steps = {s["step"]: s["data"] for s in steps if "actor/pg_loss" in s["data"]}
    assert sorted(train_steps) == [1, 2]
    for data in train_steps.values():
        assert all(math.isfinite(data[k]) for k in ("actor/pg_loss", "actor/grad_norm", "critic/score/mean"))
        for key in ("reward/r_format/mean", "reward/r_acc/mean", "reward/r_tq/mean", "reward/judge_calls",
                    "fadtq_gpg/alpha", "fadtq_gpg/zero_variance_group_share"):
            assert key in data, key
        assert data["training/rollout_probs_diff_max"] < 1e-3
    validation = [s["data"] for s in steps if any(k.startswith("val-core/") for k in s["data"])]
    assert validation, "validation metrics missing"


def test_checkpoint_and_rollout_dump_written(cpu_run):
    actor = cpu_run["tmp"] / "run" / "checkpoints" / "global_step_2" / "actor"
    assert (actor / "model_world_size_1_rank_0.pt").is_file() and (actor / "huggingface" / "config.json").is_file()
    dump = [json.loads(line) for line in (cpu_run["tmp"] / "run" / "rollouts" / "2.jsonl").read_text().splitlines()]
    assert len(dump) == 8  # 2 prompts × 4 rollouts
    assert {"r_format", "r_acc", "r_tq", "advantage", "pred"} <= set(dump[0])


def test_weights_reached_the_rollout(cpu_run):
    assert "hf rollout update_weights: {'loaded':" in cpu_run["log"]
    assert "'n_unmatched': 0" in cpu_run["log"]


def test_every_process_is_gone(cpu_run):
    assert cpu_run["run"].leftovers == [], "processes of the training session outlived it"


@pytest.mark.parametrize("override,fragment", [
    ("actor_rollout_ref.model.use_remove_padding=true", "use_remove_padding"),
    ("actor_rollout_ref.model.override_config.attn_implementation=flash_attention_2", "flash-attention"),
    ("actor_rollout_ref.actor.strategy=fsdp", "FSDP1"),
    ("actor_rollout_ref.rollout.name=vllm", "vLLM"),
])
def test_unsupported_on_cpu_is_one_line(override, fragment, tmp_path):
    for name in ("train.parquet", "test.parquet"):
        (tmp_path / name).write_bytes(b"x")
    result = subprocess.run([sys.executable, "-m", "fadtq.train", "+backend=cpu", "--dry-run", override,
                             f"data.train_files={tmp_path / 'train.parquet'}", f"data.val_files={tmp_path / 'test.parquet'}"],
                            capture_output=True, text=True, timeout=300)
    errors = [line for line in result.stderr.splitlines() if line.startswith("fadtq.train: error:")]
    assert result.returncode == 2 and len(errors) == 1
    assert "CPU backend does not support" in errors[0] and fragment in errors[0]
