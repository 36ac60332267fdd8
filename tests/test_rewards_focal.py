"""LR-IAD focal reward: hand-computed values of α·(1−p)^γ·f and its group-level application."""

import numpy as np
import pytest

from fadtq.rewards import balanced_class_weights, focal_bonus, focal_reward, group_accuracy


def test_focal_reward_hand_values():
    assert focal_reward(0.0, alpha=1.0, gamma=2.0, class_weight=1.0) == 1.0
    assert focal_reward(0.5, alpha=1.0, gamma=2.0, class_weight=1.0) == 0.25
    assert focal_reward(0.75, alpha=2.0, gamma=1.0, class_weight=3.0) == pytest.approx(1.5)
    assert focal_reward(1.0) == 0.0  # a solved prompt earns no bonus


def test_balanced_class_weights():
    assert balanced_class_weights({"normal": 40, "structural": 40, "logical": 40}) == {
        "normal": 1.0, "structural": 1.0, "logical": 1.0}
    weights = balanced_class_weights({"normal": 300, "anomalous": 100})  # N/(K·N_c)
    assert weights == {"normal": pytest.approx(400 / 600), "anomalous": 2.0}


def test_group_accuracy_and_bonus():
    r_acc = np.array([1, 0, 0, 0, 1, 1, 1, 1], dtype=float)
    group = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    assert group_accuracy(r_acc, group).tolist() == [0.25] * 4 + [1.0] * 4
    labels = ["structural"] * 4 + ["normal"] * 4
    bonus = focal_bonus(r_acc, group, labels, {"structural": 2.0}, alpha=1.0, gamma=2.0)
    # group 0: p = 1/4 → (3/4)^2 · 2 = 1.125 for the one correct rollout; group 1 solved → 0
    assert bonus.tolist() == pytest.approx([1.125, 0, 0, 0, 0, 0, 0, 0])


def test_balanced_class_weights_ignore_absent_classes():
    assert balanced_class_weights({"normal": 30, "anomalous": 10, "logical": 0}) == {
        "normal": pytest.approx(40 / 60), "anomalous": 2.0}


def test_wrong_rollouts_never_get_a_bonus():
    r_acc = np.array([0, 0, 0, 1], dtype=float)
    bonus = focal_bonus(r_acc, np.zeros(4, dtype=int), ["logical"] * 4, alpha=2.0, gamma=1.0)
    assert bonus.tolist() == pytest.approx([0, 0, 0, 2.0 * 0.75])


def test_rare_class_weight_on_an_imbalanced_set_hand_values():
    """10 anomalous / 32 normal training pairs: f_c = N/(K·N_c) = 42/(2·10) = 2.1 and 42/(2·32) = 0.65625."""
    weights = balanced_class_weights({"normal": 32, "anomalous": 10})
    assert weights == {"normal": pytest.approx(0.65625), "anomalous": pytest.approx(2.1)}
    r_acc = np.array([1, 0, 0, 0, 1, 0, 0, 0], dtype=float)  # one correct rollout in each group: p = 1/4
    group = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    bonus = focal_bonus(r_acc, group, ["anomalous"] * 4 + ["normal"] * 4, weights, alpha=1.0, gamma=2.0)
    # (3/4)^2 = 0.5625: × 2.1 = 1.18125 for the rare class, × 0.65625 = 0.369140625 for the common one
    assert bonus.tolist() == pytest.approx([1.18125, 0, 0, 0, 0.369140625, 0, 0, 0])


def test_balanced_binary_set_gives_no_rare_class_weight():
    """The balanced MVTec-AD / VisA builds (20/20 per category): f = 1, only the difficulty term acts."""
    assert balanced_class_weights({"normal": 300, "anomalous": 300}) == {"normal": 1.0, "anomalous": 1.0}
