"""Two real GPG training steps through verl's trainer on CPU (fadtq's CPU backend), end to end:
synthetic Pair3C → tiny Qwen2.5-VL → hf rollout → our reward with the real judge server →
fadtq_gpg → FSDP2 update → weight sync → validation → checkpoint."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from fadtq.data.pair3c import build_pair3c
from fadtq.data.synth_loco import SMALL_PER_CLASS, generate_loco_tree

pytestmark = [pytest.mark.slow, pytest.mark.judge]


def session_processes(sid: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getsid(proc.pid) == sid:
                found.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return found


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory, tiny_model_dir, judge_url):
    tmp = tmp_path_factory.mktemp("cpu_train")
    data = build_pair3c(generate_loco_tree(tmp / "loco", counts="small"), tmp / "pair3c", per_class=SMALL_PER_CLASS,
                        max_pixels=16 * 28 * 28, progress=False)
    env = {**os.environ, "FADTQ_RUN_DIR": str(tmp / "run"), "VERL_FILE_LOGGER_PATH": str(tmp / "metrics.jsonl"),
           "FADTQ_JUDGE_URL": judge_url, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "fadtq.train", "+backend=cpu", f"data.train_files={data.files['train']}",
           f"data.val_files={data.files['test']}", f"actor_rollout_ref.model.path={tiny_model_dir}",
           "trainer.total_training_steps=2", "trainer.save_freq=2", "trainer.test_freq=2"]
    log = tmp / "train.log"
    start = time.monotonic()
    peak_rss = 0
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            while proc.poll() is None and time.monotonic() - start < 1500:
                rss = sum(p.memory_info().rss for p in session_processes(proc.pid) if p.is_running())
                peak_rss = max(peak_rss, rss)
                time.sleep(2)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    wall = time.monotonic() - start
    grace = time.monotonic() + 30  # Ray's helper processes exit shortly after the driver; give them 30 s
    while session_processes(proc.pid) and time.monotonic() < grace:
        time.sleep(1)
    leftovers = session_processes(proc.pid)
    for p in leftovers:  # clean up before asserting, so a failure leaves nothing behind
        p.kill()
    print(f"\nCPU e2e: {wall:.0f} s wall, peak summed RSS {peak_rss / 2**30:.1f} GiB")
    return {"returncode": proc.returncode, "log": log.read_text(errors="replace"), "tmp": tmp,
            "leftovers": [p.pid for p in leftovers], "wall": wall}


def test_training_ran_two_steps(cpu_run):
    assert cpu_run["returncode"] == 0, cpu_run["log"][-4000:]
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
    assert cpu_run["leftovers"] == [], "processes of the training session outlived it"


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
