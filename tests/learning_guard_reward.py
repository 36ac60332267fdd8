"""The learning guard's reward (tests/test_learning_guard.py), loaded by verl from this file's path:

    reward.custom_reward_function.path=tests/learning_guard_reward.py
    reward.custom_reward_function.name=letter_preference
    +reward.custom_reward_function.reward_kwargs.letter=B      # the preferred answer letter
    +reward.custom_reward_function.reward_kwargs.sign=-1       # optional: the same reward negated

It pays ``sign`` for a well-formed ``<think>…</think><answer>X</answer>`` whose answer is the letter X
and 0 otherwise, ignoring the images and the ground truth, so a working gradient path through verl
must move the letter's share of the rollouts up (sign 1) or down (sign −1) within a few dozen steps.
"""

from __future__ import annotations

from fadtq.rewards import parse_response


def answered_letter(response: str) -> str | None:
    """The letter a well-formed response answers (``B``, ``b``, ``B)`` → ``B``); None otherwise."""
    parsed = parse_response(response)
    answer = (parsed.answer or "").strip().rstrip(").").strip().upper()
    return answer if parsed.well_formed and answer in {"A", "B", "C"} else None


def names_letter(response: str, letter: str) -> bool:
    return answered_letter(response) == letter.upper()


def letter_preference(data_source, solution_str, ground_truth, extra_info=None, *, letter: str = "B",
                      sign: float = 1.0, **_ignored) -> dict:
    """verl's ``compute_score``; ``_ignored`` takes the FAD-TQ reward's kwargs (judge URL, η) from the config."""
    if str(letter).upper() not in {"A", "B", "C"}:
        raise ValueError(f"reward_kwargs.letter must be A, B or C, got {letter!r}")
    if float(sign) not in (1.0, -1.0):
        raise ValueError(f"reward_kwargs.sign must be 1 or -1, got {sign!r}")
    answered = answered_letter(solution_str)
    named = answered == str(letter).upper()
    return {"score": float(sign) if named else 0.0, "named_letter": float(named), "pred": answered or ""}
