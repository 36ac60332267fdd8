"""Checks on a resolved training config, without side effects: :func:`validate` runs ours, then verl's own.

Each check raises :class:`ConfigError` with one line naming the key and the fix, before anything is
started. They read the config through ``OmegaConf.select`` so they accept any DictConfig composed
from ``configs/fadtq_trainer.yaml`` (or verl's own schema). What a run then changes (environment,
Ray's runtime_env) is ``fadtq.train.prepare_run``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf

from fadtq.rewards import check_unit_interval

#: verl trainer modes that train on rollouts of an older policy (partial rollouts, prefetch).
ASYNC_TRAINER_MODES = ("colocate_async", "separate_async")
#: Our trainer mode (fadtq.verl_ext.fadtq_trainer): verl's sync path plus what FAD-TQ adds each step.
FADTQ_TRAINER_MODE = "fadtq_sync"
#: Where verl's ``file`` logger writes its JSONL (verl reads this variable; the launcher sets it per run).
METRICS_FILE_ENV = "VERL_FILE_LOGGER_PATH"
#: ``fadtq.backend`` values: verl's own GPU path, or fadtq's CPU backend (``+backend=cpu``).
BACKENDS = ("gpu", "cpu")


class ConfigError(ValueError):
    """A config that would fail (or silently misbehave) on the cluster; the message is one line."""


def config_value(cfg: DictConfig, key: str, default=None):
    value = OmegaConf.select(cfg, key, default=default)
    return default if value is None else value


def check_backend(cfg: DictConfig) -> None:
    backend = config_value(cfg, "fadtq.backend", "gpu")
    if backend not in BACKENDS:
        raise ConfigError(f"fadtq.backend={backend}: unknown backend — use gpu (default) or +backend=cpu")


def check_gpg_on_policy(cfg: DictConfig) -> None:
    """verl's ``gpg`` loss ``−A·log π`` has no importance ratio, so it is exact only on-policy:
    one optimiser step per rollout batch (``ppo_epochs = 1`` and ``ppo_mini_batch_size =
    train_batch_size``, both counted in prompts) and rollouts of the current policy (no async
    trainer mode). ``fadtq.allow_off_policy=true`` allows it deliberately."""
    if config_value(cfg, "actor_rollout_ref.actor.policy_loss.loss_mode") != "gpg" or config_value(cfg, "fadtq.allow_off_policy", False):
        return
    epochs = config_value(cfg, "actor_rollout_ref.actor.ppo_epochs", 1)
    mini = config_value(cfg, "actor_rollout_ref.actor.ppo_mini_batch_size")
    batch = config_value(cfg, "data.train_batch_size")
    if epochs != 1 or mini != batch:
        raise ConfigError(
            f"loss_mode=gpg is ratio-free and needs one on-policy update per batch, but ppo_epochs={epochs} and "
            f"ppo_mini_batch_size={mini} vs data.train_batch_size={batch} — set actor_rollout_ref.actor.ppo_epochs=1 "
            f"and actor_rollout_ref.actor.ppo_mini_batch_size={batch}, or fadtq.allow_off_policy=true"
        )
    mode = config_value(cfg, "trainer.v1.trainer_mode", "sync")
    if config_value(cfg, "trainer.use_v1", True) and mode in ASYNC_TRAINER_MODES:
        raise ConfigError(
            f"loss_mode=gpg is ratio-free, but trainer.v1.trainer_mode={mode} trains on rollouts of an older policy "
            f"— use trainer.v1.trainer_mode={FADTQ_TRAINER_MODE}, a ratio loss (policy_loss.loss_mode=vanilla), "
            f"or fadtq.allow_off_policy=true"
        )


def check_trainer_mode(cfg: DictConfig) -> None:
    """Only our mode runs the focal reward, the judge guard, the sub-reward metrics and the old-log-prob
    skip; verl's own modes would silently drop them (and its async modes take another code path)."""
    mode = config_value(cfg, "trainer.v1.trainer_mode", "sync")
    if config_value(cfg, "trainer.use_v1", True) and mode != FADTQ_TRAINER_MODE:
        raise ConfigError(f"trainer.v1.trainer_mode={mode}: fadtq's focal reward, judge guard and reward metrics run "
                          f"only in its own mode, which keeps verl's sync path — set "
                          f"trainer.v1.trainer_mode={FADTQ_TRAINER_MODE}")


def wants_old_log_prob_skip(cfg: DictConfig) -> bool:
    """``fadtq.skip_old_log_prob`` (default on) with the ratio-free ``gpg`` loss ``−A·log π``, the one
    loss that never reads ``old_log_prob``; the trainer then stores the rollout's log-probs instead."""
    return (bool(config_value(cfg, "fadtq.skip_old_log_prob", True))
            and config_value(cfg, "actor_rollout_ref.actor.policy_loss.loss_mode") == "gpg")


def skips_old_log_prob(cfg: DictConfig) -> bool:
    """Whether the trainer skips the old-log-prob pass: wanted, and the rollout returns its log-probs."""
    return wants_old_log_prob_skip(cfg) and bool(config_value(cfg, "actor_rollout_ref.rollout.calculate_log_probs", False))


def check_old_log_prob_skip(cfg: DictConfig) -> None:
    """Skipping the old-log-prob pass stores the rollout's log-probs instead, so the rollout must return them."""
    if wants_old_log_prob_skip(cfg) and not skips_old_log_prob(cfg):
        raise ConfigError("fadtq.skip_old_log_prob=true reuses the rollout's log-probs, but "
                          "actor_rollout_ref.rollout.calculate_log_probs=false — set it to true, or "
                          "fadtq.skip_old_log_prob=false to recompute them")


def check_rollout_lengths(cfg: DictConfig) -> None:
    """vLLM's context must hold the longest prompt plus the longest response."""
    max_model_len = config_value(cfg, "actor_rollout_ref.rollout.max_model_len")
    needed = int(config_value(cfg, "data.max_prompt_length", 0)) + int(config_value(cfg, "data.max_response_length", 0))
    if max_model_len is not None and int(max_model_len) < needed:
        raise ConfigError(f"actor_rollout_ref.rollout.max_model_len={max_model_len} is shorter than "
                          f"data.max_prompt_length + data.max_response_length = {needed} — set "
                          f"actor_rollout_ref.rollout.max_model_len={needed}")


def judge_failure_guard(cfg: DictConfig):
    """The run's :class:`fadtq.judge.health.JudgeFailureGuard` (``fadtq.judge_max_fail_rate``,
    ``fadtq.judge_fail_patience``; the guard's own defaults when absent); ValueError for bad values."""
    from fadtq.judge.health import JudgeFailureGuard

    defaults = JudgeFailureGuard()
    return JudgeFailureGuard(float(config_value(cfg, "fadtq.judge_max_fail_rate", defaults.max_fail_rate)),
                             int(config_value(cfg, "fadtq.judge_fail_patience", defaults.patience)))


def check_judge_guard(cfg: DictConfig) -> None:
    try:
        judge_failure_guard(cfg)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def check_gpu_arithmetic(cfg: DictConfig) -> None:
    """Every rollout batch (prompts × n) and mini-batch must split evenly over the actor GPUs, and the
    rollout engines (tensor parallel) must tile them."""
    world = int(config_value(cfg, "trainer.n_gpus_per_node", 1)) * int(config_value(cfg, "trainer.nnodes", 1))
    if world < 1:
        raise ConfigError(f"trainer.n_gpus_per_node × trainer.nnodes = {world}: the actor needs at least one GPU "
                          "— set trainer.n_gpus_per_node (FADTQ_GPUS_PER_NODE)")
    n = int(config_value(cfg, "actor_rollout_ref.rollout.n", 1))
    for key in ("data.train_batch_size", "actor_rollout_ref.actor.ppo_mini_batch_size"):
        prompts = int(config_value(cfg, key, 0))
        if prompts and (prompts * n) % world:
            raise ConfigError(
                f"{key}={prompts} × rollout.n={n} = {prompts * n} rollouts cannot be split over {world} actor GPUs "
                f"(trainer.n_gpus_per_node × trainer.nnodes) — use a GPU count that divides {prompts * n} "
                f"(e.g. 4 for the paper's 32 × 8) and give the judge its own pool"
            )
    tp = int(config_value(cfg, "actor_rollout_ref.rollout.tensor_model_parallel_size", 1))
    if world % tp:
        raise ConfigError(
            f"actor_rollout_ref.rollout.tensor_model_parallel_size={tp} does not divide the {world} actor GPUs — "
            f"use a tensor-parallel size that divides {world} (1 for a 3B model)"
        )


def check_judge_pool(cfg: DictConfig) -> None:
    """A verl-hosted LLM judge must run on its own pool, with room for one engine, and stay awake
    (verl 0.9.1 behaviour)."""
    if not config_value(cfg, "reward.reward_model.enable", False):
        if config_value(cfg, "reward.reward_model.enable_resource_pool", False):
            raise ConfigError("reward.reward_model.enable_resource_pool=true without a reward model: verl would reserve "
                              "its GPUs for nothing — set reward.reward_model.enable_resource_pool=false")
        return
    if not config_value(cfg, "reward.reward_model.enable_resource_pool", False):
        raise ConfigError(
            "reward.reward_model.enable=true without its own pool: verl 0.9.1's colocated path only serves "
            "discriminative reward models — set reward.reward_model.enable_resource_pool=true"
        )
    if config_value(cfg, "reward.reward_model.rollout.free_cache_engine", True):
        raise ConfigError(
            "reward.reward_model.rollout.free_cache_engine=true puts the judge to sleep after start-up and the "
            "streaming reward path never wakes it — set reward.reward_model.rollout.free_cache_engine=false"
        )
    if not config_value(cfg, "reward.reward_model.model_path"):
        raise ConfigError("reward.reward_model.enable=true but reward.reward_model.model_path is not set — "
                          "point it at the judge (e.g. Qwen/Qwen3-8B) or use +experiment=external_judge")
    if config_value(cfg, "reward.reward_model.rollout.name") in (None, "???"):
        raise ConfigError("reward.reward_model.rollout.name is not set — set it to vllm (or sglang) to serve the judge")
    gpus = int(config_value(cfg, "reward.reward_model.n_gpus_per_node", 0)) * int(config_value(cfg, "reward.reward_model.nnodes", 0))
    tp = int(config_value(cfg, "reward.reward_model.rollout.tensor_model_parallel_size", 1))
    if gpus < tp or gpus % tp:
        raise ConfigError(
            f"the judge pool has {gpus} GPUs (reward.reward_model.n_gpus_per_node × nnodes) for engines of "
            f"tensor_model_parallel_size={tp} — give it a multiple of {tp} GPUs (FADTQ_JUDGE_GPUS)"
        )


def check_reward_kwargs(cfg: DictConfig, environ: Mapping[str, str] | None = None) -> None:
    """The reward's own options: η in [0, 1], one judge location, and a judge when the thinking-quality term is on."""
    kwargs = config_value(cfg, "reward.custom_reward_function.reward_kwargs", {}) or {}
    for name, why in (("eta", "η weighs conciseness against relevance; 0.5 in the paper"),
                      ("judge_fallback_tq", "the r_tq a rollout gets when the judge fails")):
        if kwargs.get(name) is not None:
            try:
                check_unit_interval(f"reward.custom_reward_function.reward_kwargs.{name}", kwargs[name])
            except ValueError as exc:
                raise ConfigError(f"{exc} ({why})") from None
    if config_value(cfg, "reward.reward_model.enable", False) and kwargs.get("judge_url"):
        raise ConfigError(f"reward.custom_reward_function.reward_kwargs.judge_url={kwargs['judge_url']} while verl hosts "
                          "the judge (reward.reward_model.enable=true): pick one — drop judge_url, or use "
                          "+experiment=external_judge")
    check_judge_configured(cfg, environ)


def check_judge_configured(cfg: DictConfig, environ: Mapping[str, str] | None = None) -> None:
    """A judge to call when the thinking-quality term is on (without one every judge call would fail
    over to ``judge_fallback_tq``, silently)."""
    environ = os.environ if environ is None else environ
    kwargs = config_value(cfg, "reward.custom_reward_function.reward_kwargs", {}) or {}
    if not kwargs.get("thinking_quality", True):
        return
    has_judge = (config_value(cfg, "reward.reward_model.enable", False) or kwargs.get("judge_url")
                 or environ.get("FADTQ_JUDGE_URL"))
    if not has_judge:
        raise ConfigError(
            "the thinking-quality reward is on but no judge is configured — enable the judge pool "
            "(reward.reward_model.enable=true), set reward.custom_reward_function.reward_kwargs.judge_url or "
            "FADTQ_JUDGE_URL (+experiment=external_judge), or drop the term (+experiment=gpg)"
        )


def as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, ListConfig)):
        return [str(v) for v in value]
    return [str(value)]


def looks_local(path: str) -> bool:
    """A filesystem path rather than a hub id such as ``Qwen/Qwen3-8B``."""
    return path.startswith(("/", "./", "../", "~")) or path.count("/") > 1 or Path(path).exists()


def check_data_files(cfg: DictConfig) -> None:
    for key in ("data.train_files", "data.val_files"):
        for path in as_list(config_value(cfg, key)):
            if "://" in path:
                continue  # remote storage: verl copies it
            if not Path(path).is_file():  # compose_config made local paths absolute, ~ expanded
                raise ConfigError(f"{key}: {path} does not exist — build it with `fadtq build-data pair3c "
                                  f"--root … --out …` or override {key}=…")


def check_model_paths(cfg: DictConfig) -> None:
    """Local model folders must exist (hub ids are left to the hub)."""
    keys = ["actor_rollout_ref.model.path"]
    if config_value(cfg, "reward.reward_model.enable", False):
        keys.append("reward.reward_model.model_path")
    for key in keys:
        path = str(config_value(cfg, key, ""))
        if path and "://" not in path and looks_local(path) and not Path(path).is_dir():
            raise ConfigError(f"{key}: {path} is not a model folder — point it at a downloaded Hugging Face "
                              f"model or use a hub id such as Qwen/Qwen2.5-VL-3B-Instruct")


CHECKS = (check_backend, check_gpg_on_policy, check_trainer_mode, check_old_log_prob_skip, check_rollout_lengths,
          check_judge_guard, check_gpu_arithmetic, check_judge_pool, check_reward_kwargs, check_data_files,
          check_model_paths)
FILE_CHECKS = (check_data_files, check_model_paths)


def validate(cfg: DictConfig, *, files: bool = True, verl: bool = True) -> None:
    """Every check, in order, then verl's own ``validate_config``; raises :class:`ConfigError`, changes nothing.

    ``files=False`` skips the checks that look at the filesystem; ``verl=False`` skips verl's (it imports verl).
    """
    for check in CHECKS:
        if files or check not in FILE_CHECKS:
            check(cfg)
    if verl:
        check_verl_rules(cfg)


def check_verl_rules(cfg: DictConfig) -> None:
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    try:
        with contextlib.redirect_stdout(sys.stderr):  # verl prints progress; stdout is for the resolved config
            validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    except (AssertionError, ValueError, TypeError) as exc:
        raise ConfigError(f"verl rejected the config: {str(exc).strip().splitlines()[0]}") from None
