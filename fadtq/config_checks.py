"""Checks on a resolved training config that verl itself does not make (pure: no Ray, no verl).

Each check raises :class:`ConfigError` with one line naming the key and the fix; ``check_all``
runs them in order. They read the config through ``OmegaConf.select`` so they accept a DictConfig.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf


class ConfigError(ValueError):
    """A config that would fail (or silently misbehave) on the cluster; the message is one line."""


def _get(cfg: DictConfig, key: str, default=None):
    value = OmegaConf.select(cfg, key, default=default)
    return default if value is None else value


def check_gpg_on_policy(cfg: DictConfig) -> None:
    """verl's ``gpg`` loss ``−A·log π`` has no importance ratio, so it is exact only on-policy:
    one optimiser step per rollout batch (``ppo_epochs = 1`` and ``ppo_mini_batch_size =
    train_batch_size``, both counted in prompts). ``fadtq.allow_off_policy=true`` allows it deliberately."""
    if _get(cfg, "actor_rollout_ref.actor.policy_loss.loss_mode") != "gpg" or _get(cfg, "fadtq.allow_off_policy", False):
        return
    epochs = _get(cfg, "actor_rollout_ref.actor.ppo_epochs", 1)
    mini = _get(cfg, "actor_rollout_ref.actor.ppo_mini_batch_size")
    batch = _get(cfg, "data.train_batch_size")
    if epochs != 1 or mini != batch:
        raise ConfigError(
            f"loss_mode=gpg is ratio-free and needs one on-policy update per batch, but ppo_epochs={epochs} and "
            f"ppo_mini_batch_size={mini} vs data.train_batch_size={batch} — set actor_rollout_ref.actor.ppo_epochs=1 "
            f"and actor_rollout_ref.actor.ppo_mini_batch_size={batch}, or fadtq.allow_off_policy=true"
        )


def check_gpu_arithmetic(cfg: DictConfig) -> None:
    """Every rollout batch (prompts × n) and mini-batch must split evenly over the actor GPUs."""
    world = int(_get(cfg, "trainer.n_gpus_per_node", 1)) * int(_get(cfg, "trainer.nnodes", 1))
    n = int(_get(cfg, "actor_rollout_ref.rollout.n", 1))
    for key in ("data.train_batch_size", "actor_rollout_ref.actor.ppo_mini_batch_size"):
        prompts = int(_get(cfg, key, 0))
        if prompts and (prompts * n) % world:
            raise ConfigError(
                f"{key}={prompts} × rollout.n={n} = {prompts * n} rollouts cannot be split over {world} actor GPUs "
                f"(trainer.n_gpus_per_node × trainer.nnodes) — use a GPU count that divides {prompts * n} "
                f"(e.g. 4 for the paper's 32 × 8) and give the judge its own pool"
            )


def check_judge_pool(cfg: DictConfig) -> None:
    """A verl-hosted LLM judge must run on its own pool and stay awake (verl 0.9.1 behaviour)."""
    if not _get(cfg, "reward.reward_model.enable", False):
        if _get(cfg, "reward.reward_model.enable_resource_pool", False):
            raise ConfigError("reward.reward_model.enable_resource_pool=true without a reward model: verl would reserve "
                              "its GPUs for nothing — set reward.reward_model.enable_resource_pool=false")
        return
    if not _get(cfg, "reward.reward_model.enable_resource_pool", False):
        raise ConfigError(
            "reward.reward_model.enable=true without its own pool: verl 0.9.1's colocated path only serves "
            "discriminative reward models — set reward.reward_model.enable_resource_pool=true"
        )
    if _get(cfg, "reward.reward_model.rollout.free_cache_engine", True):
        raise ConfigError(
            "reward.reward_model.rollout.free_cache_engine=true puts the judge to sleep after start-up and the "
            "streaming reward path never wakes it — set reward.reward_model.rollout.free_cache_engine=false"
        )
    if not _get(cfg, "reward.reward_model.model_path"):
        raise ConfigError("reward.reward_model.enable=true but reward.reward_model.model_path is not set — "
                          "point it at the judge (e.g. Qwen/Qwen3-8B) or use +experiment=external_judge")


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, ListConfig)):
        return [str(v) for v in value]
    return [str(value)]


def check_data_files(cfg: DictConfig) -> None:
    for key in ("data.train_files", "data.val_files"):
        for path in _as_list(_get(cfg, key)):
            if "://" in path:
                continue  # remote storage: verl copies it
            if not Path(path).is_file():
                raise ConfigError(f"{key}: {path} does not exist — build it with `fadtq build-data pair3c "
                                  f"--root … --out …` or override {key}=…")


CHECKS = (check_gpg_on_policy, check_gpu_arithmetic, check_judge_pool, check_data_files)


def check_all(cfg: DictConfig, *, data_files: bool = True) -> None:
    for check in CHECKS:
        if check is check_data_files and not data_files:
            continue
        check(cfg)
