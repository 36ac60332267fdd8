"""Registers the ``fadtq_gpg`` advantage estimator in verl's registry.

verl calls a custom estimator with ``token_level_rewards``, ``response_mask``, ``index`` (prompt
uids) and ``config`` (the ``algorithm`` section, a DictConfig; None when called by hand) only; our
options are read from it, with these defaults when a key is absent or null:

- ``algorithm.norm_adv_by_std_in_grpo`` (verl's own key, default true): divide by σ + ε;
- ``algorithm.gpg_alpha_correction`` (default false): scale by the GPG paper's α = B/(B−M);
- ``algorithm.epsilon`` (default 1e-6).

``configs/fadtq_trainer.yaml`` declares all three, so plain ``algorithm.gpg_alpha_correction=true``
overrides work (verl's schema has no such keys; elsewhere they need a leading ``+``).

Per-step statistics (zero-variance group share, α — :class:`fadtq.advantage.GroupStats`): the
estimator runs in verl's TaskRunner, in the same process as the trainer, so each call stores its
statistics in ``LAST_STATS``; the ``fadtq_sync`` trainer mode reads them right after verl's
``_compute_advantage`` and adds ``GroupStats.as_metrics()`` (``fadtq_gpg/alpha``,
``fadtq_gpg/alpha_applied``, ``fadtq_gpg/zero_variance_group_share``, …) to the step's metrics.
:func:`pop_last_stats` reads and clears them, so that a step can never log a stale batch's.
"""

from __future__ import annotations

from fadtq.advantage import GroupStats, compute_gpg_advantage

ESTIMATOR_NAME = "fadtq_gpg"
DEFAULTS = {"norm_adv_by_std_in_grpo": True, "gpg_alpha_correction": False, "epsilon": 1e-6}

#: Statistics of the most recent call in this process (None before the first).
LAST_STATS: GroupStats | None = None


def pop_last_stats() -> GroupStats | None:
    """The statistics of the most recent call, cleared so that a step never logs a stale batch's."""
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
    """verl adapter around :func:`fadtq.advantage.compute_gpg_advantage`; returns ``(advantages, returns)``."""
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
