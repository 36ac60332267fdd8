"""What verl builds from our resolved configs: the trainer class, the mode its branches read, the replay
buffer, the old-log-prob pass; plus the judge guard and the metrics history kept on resume."""

import json

import pytest
from omegaconf import OmegaConf

from fadtq.judge.health import JudgeFailureGuard
from fadtq.train import compose_config, config_dir

EXPERIMENTS = sorted(p.stem for p in (config_dir() / "experiment").glob("*.yaml"))


def build_trainer(overrides):
    """The trainer verl's TaskRunner builds: ``get_trainer_cls(trainer.v1.trainer_mode)(config=config)``."""
    from verl.trainer.ppo.v1 import get_trainer_cls

    config = compose_config(overrides)
    return get_trainer_cls(config.trainer.v1.trainer_mode)(config=config)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_builds_verls_sync_path(experiment):
    from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer, ReplayBufferAsync

    from fadtq.verl_ext.fadtq_trainer import FadtqTrainerSync

    trainer = build_trainer([f"+experiment={experiment}"])
    assert type(trainer) is FadtqTrainerSync
    assert trainer.trainer_mode == "sync"  # what verl's five `== "sync"` branches compare
    assert isinstance(trainer.replay_buffer, ReplayBuffer) and not isinstance(trainer.replay_buffer, ReplayBufferAsync)
    assert trainer.replay_buffer.gen_batch_size == trainer.config.data.train_batch_size  # not forced to 1
    assert trainer.replay_buffer.sync_refill_failed_groups is False  # failed groups are not evicted and refilled


def test_a_subclass_under_another_name_would_take_the_async_path():
    """The trap the mode property avoids: verl branches on the mode *name*, not on the class."""
    from verl.trainer.ppo.v1.replay_buffer import ReplayBufferAsync
    from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY, register_trainer
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

    @register_trainer("fadtq_test_plain_subclass")
    class PlainSubclass(PPOTrainerSync):
        pass

    try:
        trainer = build_trainer(["trainer.v1.trainer_mode=fadtq_test_plain_subclass"])
        assert isinstance(trainer.replay_buffer, ReplayBufferAsync)
    finally:
        TRAINER_REGISTRY.pop("fadtq_test_plain_subclass", None)


@pytest.mark.parametrize("experiment,skips", [("fadtq", True), ("external_judge", True), ("gpg", True), ("grpo", False)])
def test_old_log_prob_pass_is_skipped_only_for_the_ratio_free_loss(experiment, skips):
    from fadtq.config_checks import skips_old_log_prob

    config = compose_config([f"+experiment={experiment}"])
    assert skips_old_log_prob(config) is skips
    config.fadtq.skip_old_log_prob = False
    assert skips_old_log_prob(config) is False


# --- judge guard -------------------------------------------------------------------------------------
def test_judge_guard_stops_after_patience_steps_above_the_limit():
    guard = JudgeFailureGuard(max_fail_rate=0.5, patience=3)
    assert guard.observe(1.0) is None and guard.observe(0.75) is None
    reason = guard.observe(1.0, last_error="ConnectError: connection refused")
    assert reason and "100%, 75%, 100%" in reason and "connection refused" in reason and "judge_max_fail_rate" in reason


def test_judge_guard_streak_resets_on_a_healthy_step_and_ignores_steps_without_calls():
    guard = JudgeFailureGuard(max_fail_rate=0.5, patience=2)
    assert guard.observe(1.0) is None
    assert guard.observe(None) is None  # no judge call this step: neither counts nor resets
    assert guard.observe(0.5) is None  # at the limit: healthy, resets
    assert guard.observe(0.9) is None
    assert guard.observe(0.9) is not None


def test_judge_guard_at_one_never_stops_and_bad_settings_are_refused():
    guard = JudgeFailureGuard(max_fail_rate=1.0, patience=1)
    assert all(guard.observe(1.0) is None for _ in range(10))
    for rate, patience in ((1.5, 3), (-0.1, 3), (0.5, 0)):
        with pytest.raises(ValueError):
            JudgeFailureGuard(rate, patience)


# --- metrics history ---------------------------------------------------------------------------------
def test_resumed_run_keeps_the_history_up_to_its_checkpoint(tmp_path):
    from fadtq.verl_ext.fadtq_trainer import kept_metrics_history

    path = tmp_path / "metrics.jsonl"
    rows = [{"step": step, "data": {"x": step}} for step in (0, 1, 2, 3, 4)]
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in rows) + b'{"step": 5, "da')  # cut by a crash
    kept = kept_metrics_history(path, resumed_step=3)
    assert [json.loads(line)["step"] for line in kept.splitlines()] == [0, 1, 2, 3]
    assert kept_metrics_history(path, resumed_step=0) == b""  # a fresh run starts a fresh file
    assert kept_metrics_history(tmp_path / "absent.jsonl", resumed_step=3) == b""


def test_history_is_written_into_the_file_logger_verl_hands_over(tmp_path, monkeypatch):
    from verl.utils.tracking import Tracking

    from fadtq.verl_ext.fadtq_trainer import FadtqTrainerSync

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "data": {"a": 1}}\n{"step": 2, "data": {"a": 2}}\n')
    monkeypatch.setenv("VERL_FILE_LOGGER_PATH", str(path))
    trainer = FadtqTrainerSync.__new__(FadtqTrainerSync)  # only the logger seam is exercised
    trainer.__dict__["_metrics_history"] = b'{"step": 1, "data": {"a": 1}}\n'
    trainer.logger = Tracking(project_name="p", experiment_name="e", default_backend=["file"])  # truncates, as in fit()
    trainer.logger.log(data={"a": 10}, step=2)
    trainer.logger.finish()
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2]
    assert OmegaConf.create(json.loads(path.read_text().splitlines()[1])).data.a == 10
