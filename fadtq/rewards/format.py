"""Format reward."""

from fadtq.rewards.parsing import ParsedResponse


def format_reward(parsed: ParsedResponse) -> float:
    """``r_format = 1`` iff the response is exactly ``<think>…</think><answer>…</answer>`` (see
    :func:`fadtq.rewards.parsing.parse_response` for the precise rule), else 0."""
    return 1.0 if parsed.well_formed else 0.0
