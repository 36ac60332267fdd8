"""LR-IAD's class-imbalance ("focal") reward, applied per group of rollouts of one prompt.

``R_focal = α·(1−p)^γ·f`` (LR-IAD, arXiv 2504.19524). The paper gives no values and no code, so
the choices made here are:

- ``p``: the group's empirical accuracy on that prompt (mean ``r_acc`` over its rollouts) — the
  policy's probability of answering this pair correctly, estimated from the samples GRPO/GPG draws
  anyway. Prompts the policy already solves (p → 1) get no bonus; hard ones get the most.
- ``f``: a per-class weight of the ground-truth class; default the "balanced" inverse frequency
  ``f_c = N / (K·N_c)`` over the training set (1 for every class of the balanced Pair3C train split,
  larger for rare defect classes in MVTec-AD / VisA), or configured explicitly.
- The bonus is paid only to *correct* rollouts: ``R' = R + r_acc·R_focal`` — rewarding a wrong
  answer on a hard prompt would reward guessing. Defaults α = 1, γ = 2 (focal loss's usual γ).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np


def focal_reward(p: np.ndarray | float, alpha: float = 1.0, gamma: float = 2.0, class_weight: np.ndarray | float = 1.0):
    """``R_focal = α·(1−p)^γ·f``, elementwise."""
    return alpha * np.power(1.0 - np.asarray(p, dtype=np.float64), gamma) * np.asarray(class_weight, dtype=np.float64)


def balanced_class_weights(class_counts: Mapping[str, int]) -> dict[str, float]:
    """``f_c = N / (K·N_c)``: 1 for every class of a balanced set, larger for rare classes."""
    total = sum(class_counts.values())
    k = len(class_counts)
    return {label: total / (k * count) for label, count in class_counts.items() if count > 0}


def group_accuracy(r_acc: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Per-rollout ``p``: the mean ``r_acc`` of the rollout's group (``group`` = 0..G−1 codes)."""
    r_acc = np.asarray(r_acc, dtype=np.float64)
    sums = np.bincount(group, weights=r_acc)
    counts = np.bincount(group)
    return (sums / counts)[group]


def focal_bonus(r_acc: np.ndarray, group: np.ndarray, labels, class_weights: Mapping[str, float] | None = None,
                alpha: float = 1.0, gamma: float = 2.0) -> np.ndarray:
    """Per-rollout bonus ``r_acc·α·(1−p)^γ·f_label`` added to R (vectorised over the batch)."""
    r_acc = np.asarray(r_acc, dtype=np.float64)
    weights = np.array([(class_weights or {}).get(str(label), 1.0) for label in labels], dtype=np.float64)
    return r_acc * focal_reward(group_accuracy(r_acc, group), alpha, gamma, weights)
