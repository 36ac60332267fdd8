"""GPG advantages (pure core, torch): group-normalised outcome advantages and the GPG paper's α.

For the N rollouts ``i`` of one prompt (a *group*, identified by verl's ``uid``)::

    A_i = (R_i − μ_g) / (σ_g + ε)         σ_g unbiased (N−1), as verl's GRPO
    A_i = (R_i − μ_g)                      without σ-normalisation

Optionally (GPG paper, "α = B/(B−M)"): every advantage is scaled by ``α = B / (B − M)`` where B
is the number of rollouts in the batch and M the number of rollouts in groups whose rewards are
all equal (they carry no learning signal, so α re-scales the gradient to the informative part).
verl's built-in ``gpg`` estimator instead uses ``B / #{i: R_i ≠ 0}`` and no σ-normalisation;
for rewards ``[0,1,2,3 | 2,2,2,2]`` it gives α = 8/7 where the paper's α is 8/(8−4) = 2.

Choices (documented, tested):

- Singleton groups (one rollout of a prompt) get A = 0 and count in M: with one sample no baseline
  can be estimated, and a zero advantage is what a group of identical rewards gets too. (verl's
  GRPO instead passes the raw reward through, ``R/(1+ε)``; its defaults never produce singletons.)
- A group whose rewards are all *exactly* equal gets A = 0 exactly (verl's GRPO can return
  round-off / ε there, e.g. ``(0.1 − mean(0.1, 0.1, 0.1)) / 1e-6``).
- A batch where every group is uninformative (M = B) has α = 1: all advantages are zero anyway.
- Rollouts without a single response token (verl's synthetic padding samples, added when a batch
  does not split evenly over the GPUs, all share one uid and reward 0) are left out of B, M and the
  group counts: they contribute nothing to the loss. Their rewards still enter their group's μ and
  σ, as in verl's GRPO (padding has a group of its own).
- Half-precision rewards are summed and normalised in float32; the result has the dtype of the sum.

Everything is vectorised over the batch (``pandas.factorize`` + ``bincount``/``index_add_``/
``scatter_reduce_``): no Python loop over samples or groups. The cost is the reward sum and the
masked broadcast over ``(bs, resp_len)`` that every verl estimator pays, plus ~20 tiny tensor ops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch


@dataclass(frozen=True)
class GroupStats:
    """Per-step statistics worth logging next to the advantages."""

    n_rollouts: int  # B: rollouts with at least one response token
    n_groups: int  # groups with at least one such rollout
    n_zero_variance_groups: int  # groups whose rewards are all equal (singletons included)
    n_zero_variance_rollouts: int  # M in α = B/(B−M)
    alpha: float  # the paper's α for this batch, whether or not it was applied
    alpha_applied: bool = False

    @property
    def zero_variance_group_share(self) -> float:
        return self.n_zero_variance_groups / max(self.n_groups, 1)

    def as_metrics(self, prefix: str = "fadtq_gpg/") -> dict[str, float]:
        return {
            f"{prefix}zero_variance_group_share": self.zero_variance_group_share,
            f"{prefix}zero_variance_rollouts": float(self.n_zero_variance_rollouts),
            f"{prefix}alpha": self.alpha,
            f"{prefix}alpha_applied": float(self.alpha_applied),
            f"{prefix}groups": float(self.n_groups),
        }


def group_index(uids, device: torch.device | str | None = None) -> tuple[torch.Tensor, int]:
    """Map verl's per-rollout uids (any hashable, usually an object ndarray of str) to 0..G−1."""
    codes, uniques = pd.factorize(np.asarray(uids, dtype=object).reshape(-1))  # hashing, no sort
    return torch.as_tensor(codes, dtype=torch.long, device=device), len(uniques)


def rows_with_response(response_mask: torch.Tensor) -> torch.Tensor:
    """``(bs,)`` bool: the rollout has at least one response token.

    verl right-pads responses, so a non-empty response has its first mask entry set; only rows whose
    first entry is 0 (padding samples, empty responses) are scanned in full — O(bs) in the usual case.
    """
    if response_mask.shape[-1] == 0:
        return torch.zeros(response_mask.shape[0], dtype=torch.bool, device=response_mask.device)
    live = response_mask[:, 0] != 0
    doubtful = (~live).nonzero().squeeze(-1)
    if doubtful.numel():
        live[doubtful] = response_mask.index_select(0, doubtful).amax(dim=-1) > 0
    return live


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

    ``scores``: ``(bs,)`` outcome rewards; ``group``: ``(bs,)`` group ids in ``0..n_groups−1``.
    Returns the advantages (shape and dtype of ``scores``) and a per-group bool "all rewards equal".
    """
    scores = scores.detach()
    zeros = scores.new_zeros(n_groups)
    counts = torch.bincount(group, minlength=n_groups).to(scores.dtype)
    mean = zeros.index_add(0, group, scores) / counts
    deviation = scores - mean.index_select(0, group)
    sum_sq = zeros.index_add(0, group, deviation * deviation)
    std = torch.sqrt(sum_sq / (counts - 1).clamp(min=1))
    group_max = scores.new_full((n_groups,), -torch.inf).scatter_reduce_(0, group, scores, "amax")
    group_min = scores.new_full((n_groups,), torch.inf).scatter_reduce_(0, group, scores, "amin")
    all_equal = group_max == group_min  # singletons included
    advantage = deviation / (std + epsilon).index_select(0, group) if norm_by_std else deviation
    # Exactly zero, not round-off/ε, for groups without signal.
    return advantage.masked_fill(all_equal.index_select(0, group), 0.0), all_equal


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
    ``index`` holds one group id (verl's prompt ``uid``) per rollout; groups need not be contiguous.
    """
    if len(index) != token_level_rewards.shape[0]:
        raise ValueError(f"{len(index)} uids for {token_level_rewards.shape[0]} rollouts: "
                         "index must hold one prompt uid per row of token_level_rewards")
    with torch.no_grad():
        scores = token_level_rewards.sum(dim=-1)
        if scores.dtype in (torch.float16, torch.bfloat16):
            scores = scores.float()
        group, n_groups = group_index(index, device=scores.device)
        advantage, all_equal = group_normalised_advantage(scores, group, n_groups, norm_by_std=norm_by_std,
                                                          epsilon=epsilon)
        live = rows_with_response(response_mask)
        live_per_group = torch.bincount(group, weights=live.to(scores.dtype), minlength=n_groups)
        live_groups = live_per_group > 0
        n_live = int(live.sum().item())
        zero_rollouts = int(live_per_group[all_equal].sum().item())
        alpha = gpg_alpha(n_live, zero_rollouts)
        if alpha_correction and alpha != 1.0:
            advantage = advantage * alpha
        advantages = advantage.unsqueeze(-1) * response_mask
    stats = GroupStats(
        n_rollouts=n_live,
        n_groups=int(live_groups.sum().item()),
        n_zero_variance_groups=int((all_equal & live_groups).sum().item()),
        n_zero_variance_rollouts=zero_rollouts,
        alpha=alpha,
        alpha_applied=alpha_correction,
    )
    return advantages, advantages, stats
