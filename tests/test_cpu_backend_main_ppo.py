"""verl's own entry point (``python -m verl.trainer.main_ppo``, verl's own config, none of ours) on
CPU, the backend registered by fadtq's verl plugin on the ``cpu`` platform (``VERL_PLATFORM=cpu``): verl's built-in
``grpo`` estimator with the ``gpg`` loss and a reward that varies, so the update is real and the
step-2 rollout must run on the updated weights."""

import json
import math
import os
import sys

import pytest

from fadtq.backends.cpu.bounded_run import private_ray_cluster, run_in_own_session
from fadtq.backends.cpu.settings import CPU_ENV

pytestmark = pytest.mark.slow

RUN_TIMEOUT_S = 900

# A reward with variance inside every group (distinct words of the response), so advantages are non-zero.
VARIED_REWARD = '''
def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    return len(set(solution_str.split())) / 16.0
'''

FP32 = ["+actor_rollout_ref.actor.fsdp_config.mixed_precision.param_dtype=fp32",
        "+actor_rollout_ref.actor.fsdp_config.mixed_precision.reduce_dtype=fp32",
        "+actor_rollout_ref.actor.fsdp_config.mixed_precision.buffer_dtype=fp32"]


def main_ppo_overrides(model: str, train: str, val: str, reward: str, out: str, ray_tmp: str) -> list[str]:
    """Everything a plain ``main_ppo`` needs on CPU (the settings configs/backend/cpu.yaml gives ours)."""
    return [
        "algorithm.adv_estimator=grpo", "actor_rollout_ref.actor.policy_loss.loss_mode=gpg",
        "actor_rollout_ref.actor.use_kl_loss=false", "algorithm.use_kl_in_reward=false",
        f"actor_rollout_ref.model.path={model}", "actor_rollout_ref.model.use_remove_padding=false",
        "+actor_rollout_ref.model.override_config.attn_implementation=sdpa",
        "actor_rollout_ref.model.enable_gradient_checkpointing=false", "actor_rollout_ref.actor.strategy=fsdp2",
        *FP32, "actor_rollout_ref.actor.optim.lr=1e-2",
        f"data.train_files={train}", f"data.val_files={val}", "data.train_batch_size=2",
        "data.max_prompt_length=512", "data.max_response_length=16", "data.dataloader_num_workers=0",
        "actor_rollout_ref.rollout.name=hf", "actor_rollout_ref.rollout.n=4",
        "actor_rollout_ref.actor.ppo_mini_batch_size=2", "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.rollout.tensor_model_parallel_size=1", "actor_rollout_ref.rollout.agent.num_workers=1",
        f"reward.custom_reward_function.path={reward}", "reward.num_workers=1",
        "transfer_queue.backend.SimpleStorage.num_data_storage_units=1",
        "ray_kwargs.ray_init.num_cpus=32", "+ray_kwargs.ray_init.num_gpus=1", "+ray_kwargs.ray_init.address=local",
        f"+ray_kwargs.ray_init._temp_dir={ray_tmp}", "+ray_kwargs.ray_init.include_dashboard=false",
        "trainer.device=cpu", "trainer.n_gpus_per_node=1", "trainer.nnodes=1", "trainer.logger=[console,file]",
        "trainer.total_training_steps=2", "trainer.val_before_train=false", "trainer.test_freq=-1",
        "trainer.save_freq=-1", "trainer.project_name=cpu_backend", "trainer.experiment_name=main_ppo",
        f"trainer.default_local_dir={out}/checkpoints",
    ]


@pytest.fixture(scope="module")
def main_ppo_run(tmp_path_factory, tiny_model_dir, small_pair3c):
    tmp = tmp_path_factory.mktemp("main_ppo")
    data = small_pair3c
    reward = tmp / "varied_reward.py"
    reward.write_text(VARIED_REWARD)
    env = {**os.environ, **CPU_ENV, "VERL_FILE_LOGGER_PATH": str(tmp / "metrics.jsonl"), "PYTHONUNBUFFERED": "1"}
    with private_ray_cluster(env) as ray:
        cmd = [sys.executable, "-m", "verl.trainer.main_ppo",
               *main_ppo_overrides(tiny_model_dir, data.files["train"], data.files["test"], str(reward), str(tmp),
                                   ray.temp_dir)]
        run = run_in_own_session(cmd, env=ray.env, log_path=tmp / "train.log", timeout_s=RUN_TIMEOUT_S, cwd=tmp)
    print(f"\nCPU e2e (verl main_ppo, 2 steps): {run.wall_s:.0f} s wall, "
          f"peak summed RSS {run.peak_rss_bytes / 2**30:.1f} GiB")
    log = (tmp / "train.log").read_text(errors="replace")
    assert not run.timed_out and run.returncode == 0, log[-4000:]
    steps = {s["step"]: s["data"] for s in map(json.loads, (tmp / "metrics.jsonl").read_text().splitlines())}
    return {"run": run, "log": log, "steps": steps}


def test_main_ppo_trains_on_cpu(main_ppo_run):
    steps = main_ppo_run["steps"]
    assert sorted(steps) == [1, 2]
    for data in steps.values():
        assert math.isfinite(data["actor/pg_loss"]) and math.isfinite(data["actor/grad_norm"])
        assert data["actor/grad_norm"] > 0  # a real update, not a zero-advantage no-op
        assert data["critic/advantages/max"] > 0


def test_step_two_rolls_out_with_the_updated_weights(main_ppo_run):
    """fp32 on both sides gives ~1e-9. A rollout left on the step-1 weights differs from the trainer
    by ~7e-4 here (lr 1e-2), which the 1e-3 bound alone would not catch; 1e-5 does."""
    steps = main_ppo_run["steps"]
    assert steps[1]["training/rollout_probs_diff_max"] < 1e-5
    assert steps[2]["training/rollout_probs_diff_max"] < 1e-5
    assert main_ppo_run["log"].count("'n_unmatched': 0") >= 2


def test_nothing_left_running(main_ppo_run):
    assert main_ppo_run["run"].leftovers == []
