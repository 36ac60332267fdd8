"""Registers the ``fadtq_gpg`` advantage estimator in verl's registry.

verl calls a custom estimator with ``token_level_rewards``, ``response_mask``, ``index`` (prompt
uids) and ``config`` (the ``algorithm`` section, a DictConfig) only; our options are read from it:

- ``algorithm.norm_adv_by_std_in_grpo`` (verl's own key, default true): divide by σ + ε;
- ``algorithm.gpg_alpha_correction`` (default false): scale by the GPG paper's α = B/(B−M);
- ``algorithm.epsilon`` (default 1e-6).

The statistics of the last call (zero-variance share, α) are kept in ``LAST_STATS`` for the
trainer mode, which logs them each step (the estimator and the trainer run in verl's TaskRunner).
"""

from __future__ import annotations

from fadtq.advantage import GroupStats, compute_gpg_advantage

ESTIMATOR_NAME = "fadtq_gpg"

#: Statistics of the most recent call in this process (None before the first).
LAST_STATS: GroupStats | None = None


def _option(config, key: str, default):
    if config is None:
        return default
    value = config.get(key, default) if hasattr(config, "get") else getattr(config, key, default)
    return default if value is None else value


def fadtq_gpg_advantage(token_level_rewards, response_mask, index=None, config=None, **kwargs):
    """verl adapter around :func:`fadtq.advantage.compute_gpg_advantage`."""
    global LAST_STATS
    if index is None:
        raise ValueError("fadtq_gpg needs the prompt uids (verl passes them as `index`); none were given")
    advantages, returns, LAST_STATS = compute_gpg_advantage(
        token_level_rewards,
        response_mask,
        index,
        norm_by_std=bool(_option(config, "norm_adv_by_std_in_grpo", True)),
        alpha_correction=bool(_option(config, "gpg_alpha_correction", False)),
        epsilon=float(_option(config, "epsilon", 1e-6)),
    )
    return advantages, returns


def register() -> None:
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, register_adv_est

    if ADV_ESTIMATOR_REGISTRY.get(ESTIMATOR_NAME) is not fadtq_gpg_advantage:
        register_adv_est(ESTIMATOR_NAME)(fadtq_gpg_advantage)


register()
