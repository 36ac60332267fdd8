"""The FAD-TQ total reward."""


def fadtq_reward(r_format: float, r_acc: float, r_tq: float, use_thinking_quality: bool = True) -> float:
    """``R = r_format + r_acc + min(1, max(0, r_acc))·r_tq`` ∈ [0, 3].

    The thinking-quality term counts only for correct answers (a well-argued wrong answer earns
    nothing for its argument). ``use_thinking_quality=False`` drops the third term (the "no TQ" /
    plain-GPG ablation).
    """
    gate = min(1.0, max(0.0, r_acc))
    return r_format + r_acc + (gate * r_tq if use_thinking_quality else 0.0)
