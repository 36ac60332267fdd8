"""The ``fadtq_gpg`` advantage estimator, registered in verl's registry on import (docs/design.md, Advantage).

Options come from verl's ``algorithm`` config (None when called by hand); an absent or null key takes its
default: ``norm_adv_by_std_in_grpo`` (true), ``gpg_alpha_correction`` (false), ``epsilon`` (1e-6).
``configs/fadtq_trainer.yaml`` declares all three, so their overrides need no leading ``+``.

The estimator runs in the trainer's process, so each call leaves its :class:`fadtq.advantage.GroupStats`
in ``LAST_STATS``, where the ``fadtq_sync`` trainer mode picks them up for the step's metrics.
"""

from __future__ import annotations

from fadtq.advantage import GroupStats, compute_gpg_advantage

ESTIMATOR_NAME = "fadtq_gpg"
DEFAULTS = {"norm_adv_by_std_in_grpo": True, "gpg_alpha_correction": False, "epsilon": 1e-6}

#: Statistics of the most recent call in this process (None before the first).
LAST_STATS: GroupStats | None = None


def pop_last_stats() -> GroupStats | None:
    """The statistics of the most recent call, cleared so that a later read cannot see them again."""
    global LAST_STATS
    stats, LAST_STATS = LAST_STATS, None
    return stats


def option(config, key: str):
    """``config[key]`` from a DictConfig, a dict or a dataclass (verl's ``AlgoConfig``), else the default."""
    default = DEFAULTS[key]
    if config is None:
        return default
    value = config.get(key, default) if hasattr(config, "get") else getattr(config, key, default)
    return default if value is None else value


def fadtq_gpg_advantage(token_level_rewards, response_mask, index=None, config=None, **kwargs):
    """:func:`fadtq.advantage.compute_gpg_advantage` with verl's signature; returns ``(advantages, returns)``."""
    global LAST_STATS
    if index is None:
        raise ValueError("fadtq_gpg needs the prompt uids (verl passes them as `index`); none were given")
    epsilon = float(option(config, "epsilon"))
    if not epsilon >= 0:
        raise ValueError(f"algorithm.epsilon={epsilon}: must be ≥ 0 (default 1e-6)")
    advantages, returns, LAST_STATS = compute_gpg_advantage(
        token_level_rewards,
        response_mask,
        index,
        norm_by_std=bool(option(config, "norm_adv_by_std_in_grpo")),
        alpha_correction=bool(option(config, "gpg_alpha_correction")),
        epsilon=epsilon,
    )
    return advantages, returns


def register() -> None:
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, register_adv_est

    if ADV_ESTIMATOR_REGISTRY.get(ESTIMATOR_NAME) is not fadtq_gpg_advantage:
        register_adv_est(ESTIMATOR_NAME)(fadtq_gpg_advantage)


register()
