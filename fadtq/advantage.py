"""GPG advantages (pure core, torch): group-normalised outcome advantages and the GPG paper's α.

For the N rollouts ``i`` of one prompt (a *group*, identified by verl's ``uid``)::

    A_i = (R_i − μ_g) / (σ_g + ε)         σ_g unbiased (N−1), as verl's GRPO
    A_i = (R_i − μ_g)                      without σ-normalisation

Optionally (GPG paper, "α = B/(B−M)"): every advantage is scaled by ``α = B / (B − M)`` where B
is the number of rollouts in the batch and M the number of rollouts in groups whose rewards are
all equal (they carry no learning signal, so α re-scales the gradient to the informative part).
verl's built-in ``gpg`` estimator instead uses ``B / #{i: R_i ≠ 0}`` and no σ-normalisation;
for rewards ``[0,1,2,3 | 2,2,2,2]`` it gives α = 8/7 where the paper's α is 8/(8−4) = 2.

Singleton groups (one rollout of a prompt) get A = 0 and count in M: with one sample no baseline
can be estimated, and a zero advantage is what a group of identical rewards gets too. (verl's
GRPO instead passes the raw reward through for singletons; its defaults never produce them.)

Everything is vectorised over the batch (``pandas.factorize`` + ``index_add_``/``scatter_reduce_``):
no Python loop over samples or groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch


@dataclass(frozen=True)
class GroupStats:
    """Per-step statistics worth logging next to the advantages."""

    n_rollouts: int
    n_groups: int
    n_zero_variance_groups: int
    n_zero_variance_rollouts: int  # M in α = B/(B−M)
    alpha: float

    @property
    def zero_variance_group_share(self) -> float:
        return self.n_zero_variance_groups / max(self.n_groups, 1)

    def as_metrics(self, prefix: str = "fadtq_gpg/") -> dict[str, float]:
        return {
            f"{prefix}zero_variance_group_share": self.zero_variance_group_share,
            f"{prefix}zero_variance_rollouts": float(self.n_zero_variance_rollouts),
            f"{prefix}alpha": self.alpha,
            f"{prefix}groups": float(self.n_groups),
        }


def group_index(uids) -> tuple[torch.Tensor, int]:
    """Map verl's per-rollout uids (any hashable, usually an object ndarray of str) to 0..G−1."""
    codes, uniques = pd.factorize(np.asarray(uids, dtype=object).reshape(-1))  # hashing, no sort
    return torch.as_tensor(codes, dtype=torch.long), len(uniques)


def gpg_alpha(batch_size: int, zero_advantage_rollouts: int) -> float:
    """GPG paper's gradient correction ``α = B / (B − M)``.

    B: rollouts in the batch; M: rollouts whose advantage is zero because their group's rewards are
    all equal. When every group is uninformative (M = B) all advantages are zero and α is moot: 1.
    """
    informative = batch_size - zero_advantage_rollouts
    return batch_size / informative if informative > 0 else 1.0


def group_normalised_advantage(
    scores: torch.Tensor, group: torch.Tensor, n_groups: int, *, norm_by_std: bool = True, epsilon: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """``A_i = (R_i − μ_g)/(σ_g + ε)`` (or ``R_i − μ_g``), σ unbiased; zero for all-equal/singleton groups.

    Returns the advantages (same shape and dtype as ``scores``) and a per-group boolean "all rewards equal".
    """
    scores = scores.detach()
    counts = torch.bincount(group, minlength=n_groups).to(scores.dtype)
    mean = torch.zeros(n_groups, dtype=scores.dtype).index_add_(0, group, scores) / counts
    deviation = scores - mean[group]
    sum_sq = torch.zeros(n_groups, dtype=scores.dtype).index_add_(0, group, deviation * deviation)
    std = torch.sqrt(sum_sq / (counts - 1).clamp(min=1))
    group_max = torch.full((n_groups,), -torch.inf, dtype=scores.dtype).scatter_reduce_(0, group, scores, "amax")
    group_min = torch.full((n_groups,), torch.inf, dtype=scores.dtype).scatter_reduce_(0, group, scores, "amin")
    all_equal = group_max == group_min  # singletons included
    advantage = deviation / (std[group] + epsilon) if norm_by_std else deviation
    # Exactly zero, not round-off/ε, for groups without signal.
    advantage = torch.where(all_equal[group], torch.zeros_like(advantage), advantage)
    return advantage, all_equal


def compute_gpg_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index,
    *,
    norm_by_std: bool = True,
    alpha_correction: bool = False,
    epsilon: float = 1e-6,
) -> tuple[torch.Tensor, torch.Tensor, GroupStats]:
    """Outcome advantages for verl: ``(advantages, returns, stats)``, both tensors ``(bs, resp_len)``.

    ``R_i`` is the sum of the token-level rewards (verl puts the outcome score on the last valid
    token); the advantage is broadcast over the response tokens and masked by ``response_mask``.
    """
    with torch.no_grad():
        scores = token_level_rewards.sum(dim=-1)
        group, n_groups = group_index(index)
        advantage, all_equal = group_normalised_advantage(scores, group, n_groups, norm_by_std=norm_by_std,
                                                          epsilon=epsilon)
        zero_rollouts = int(all_equal[group].sum().item())
        alpha = gpg_alpha(scores.numel(), zero_rollouts)
        if alpha_correction:
            advantage = advantage * alpha
        advantages = advantage.unsqueeze(-1) * response_mask
    stats = GroupStats(
        n_rollouts=scores.numel(),
        n_groups=n_groups,
        n_zero_variance_groups=int(all_equal.sum().item()),
        n_zero_variance_rollouts=zero_rollouts,
        alpha=alpha,
    )
    return advantages, advantages, stats
