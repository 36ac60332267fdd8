"""Property-based fuzzing of the reward: never raises, R ∈ [0, 3], r_tq counts only when r_acc = 1."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fadtq.rewards.accuracy import accuracy_reward
from fadtq.rewards.format import format_reward
from fadtq.rewards.parsing import parse_response
from fadtq.rewards.thinking_quality import normalised_judge_score, thinking_quality_reward
from fadtq.rewards.total import fadtq_reward

OPTIONS = {"A": "normal", "B": "structural", "C": "logical"}
pieces = st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", "A", "B", "C", "normal", "structural",
                          "logical", " or ", "not ", "\n", " ", "scratch", "<", ">", "/"])
responses = st.one_of(st.text(max_size=300), st.lists(pieces, max_size=30).map("".join),
                      st.binary(max_size=200).map(lambda b: b.decode("latin-1")))


@settings(max_examples=600, deadline=None)
@given(response=responses, truth=st.sampled_from(["normal", "structural", "logical"]),
       conc=st.floats(allow_nan=False, allow_infinity=False, min_value=-10, max_value=10),
       rel=st.floats(allow_nan=False, allow_infinity=False, min_value=-10, max_value=10),
       eta=st.floats(min_value=0, max_value=1))
def test_reward_is_total_bounded_and_gated(response, truth, conc, rel, eta):
    parsed = parse_response(response)
    r_format = format_reward(parsed)
    r_acc = accuracy_reward(parsed.answer, OPTIONS, truth)
    r_tq = thinking_quality_reward(normalised_judge_score(conc), normalised_judge_score(rel), eta)
    total = fadtq_reward(r_format, r_acc, r_tq)
    assert 0.0 <= total <= 3.0
    assert 0.0 <= r_tq <= 1.0
    assert total - r_format - r_acc == pytest.approx(r_tq if r_acc == 1.0 else 0.0, abs=1e-12)
