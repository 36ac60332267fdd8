"""Accuracy reward."""

from typing import Mapping

from fadtq.rewards.parsing import answer_to_label


def accuracy_reward(answer: str | None, options: Mapping[str, str], ground_truth: str) -> float:
    """``r_acc = 1`` iff the answer span maps to exactly one class and it equals the ground truth, else 0."""
    predicted = answer_to_label(answer, options)
    return 1.0 if predicted is not None and predicted == str(ground_truth).strip().lower() else 0.0
