"""LR-IAD's class-imbalance ("focal") reward, applied per group of rollouts of one prompt.

``R_focal = α·(1−p)^γ·f`` (LR-IAD, arXiv 2504.19524, "a reward function that dynamically
prioritizes rare defect patterns"). The paper defines p as "the predicted probability of the
correct answer", α as a scale, γ as the focusing parameter and f as a factor that amplifies the
reward for critical anomalies; it gives no values and its code repository is empty. Our choices:

- ``p`` = the group's empirical accuracy on that prompt: the mean ``r_acc`` of its N rollouts, the
  Monte-Carlo estimate of the policy's probability of answering this pair correctly (GRPO/GPG
  draw those samples anyway; token probabilities of the answer letter would ignore the reasoning
  that produced it). A prompt the policy already solves (p = 1) earns nothing; a hard one the most.
- ``f`` = a per-class weight of the ground-truth class: by default the "balanced" inverse class
  frequency of the training set, ``f_c = N / (K·N_c)``, or configured per class
  (``fadtq.focal.class_weights``; unlisted classes: 1). On a balanced training set — Pair3C (40 per
  class) and the default MVTec-AD / VisA builds (20/20 per category) — ``f = 1`` for every class,
  so the reward is only a difficulty bonus ``α·(1−p)^γ``. The rare class gets ``f > 1`` only when
  the training set is imbalanced, as LR-IAD's is: ``fadtq build-data mvtec-ad|visa --balance
  natural`` draws anomalous pairs at the dataset's own defect share s
  (``fadtq.data.binary_sets.NATURAL_DEFECT_SHARE``), so ``f_anomalous = 1/(2s) > 1`` and
  ``f_normal = 1/(2(1−s)) < 1``.
- ``α = 1``, ``γ = 2`` by default (γ = 2 is focal loss's usual value); configurable.
- It is paid only to *correct* rollouts: ``R' = R + r_acc·R_focal`` — rewarding a wrong answer on
  a hard prompt would reward guessing. R' can exceed 3 (by at most α·max f). The group-level
  step runs in the ``fadtq_sync`` trainer mode, before the advantage (a per-sample reward
  function cannot see the group).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np


def focal_reward(p: np.ndarray | float, alpha: float = 1.0, gamma: float = 2.0, class_weight: np.ndarray | float = 1.0):
    """``R_focal = α·(1−p)^γ·f``, elementwise."""
    return alpha * np.power(1.0 - np.asarray(p, dtype=np.float64), gamma) * np.asarray(class_weight, dtype=np.float64)


def balanced_class_weights(class_counts: Mapping[str, int]) -> dict[str, float]:
    """``f_c = N / (K·N_c)``: 1 for every class of a balanced set, larger for rare classes."""
    present = {label: count for label, count in class_counts.items() if count > 0}
    total, k = sum(present.values()), len(present)
    return {label: total / (k * count) for label, count in present.items()}


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
