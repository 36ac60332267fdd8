"""Thinking-quality reward from the judge's conciseness and relevance scores."""

#: The judge scores each criterion on this integer scale (0 worst, 3 best).
JUDGE_SCALE_MAX = 3.0


def normalised_judge_score(score: float) -> float:
    """``r = clamp(s, 0, 3) / 3``: a judge score 0–3 mapped to [0, 1]; out-of-range values are clamped."""
    return min(max(float(score), 0.0), JUDGE_SCALE_MAX) / JUDGE_SCALE_MAX


def thinking_quality_reward(r_conc: float, r_rel: float, eta: float = 0.5) -> float:
    """``r_tq = η·r_conc + (1−η)·r_rel`` with ``r_conc, r_rel ∈ [0, 1]`` (normalised judge scores).

    η = 0.5 by default; η = 0 is the "−efficiency" ablation, η = 1 the "−relevance" ablation.
    """
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    return eta * r_conc + (1.0 - eta) * r_rel
