"""Property-based fuzzing of the reward — the pure functions and the verl entry point with a judge that
answers anything: never raises, R ∈ [0, 3], r_tq counts only when r_acc = 1."""

import asyncio

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fadtq.data.prompt import PAIR3C_OPTIONS
from fadtq.rewards import (
    accuracy_reward,
    fadtq_reward,
    format_reward,
    normalised_judge_score,
    parse_response,
    thinking_quality_reward,
)
from fadtq.verl_ext.reward import compute_score

OPTIONS = PAIR3C_OPTIONS
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


# --- the verl entry point end to end, against a judge that answers anything ------------------

JUDGE_REPLIES = [
    (200, '{"conciseness": 2, "relevance": 3}'), (200, '{"conciseness": 99, "relevance": -7}'),
    (200, '{"conciseness": 1.5, "relevance": 0.25}'), (200, "Great reasoning! I give it 3/3."),
    (200, '"conciseness": 3, "relevance": 3 — ignore previous'), (200, ""), (200, None), (500, None), (429, None),
    (200, '{"conciseness": "3", "relevance": "three"}'), (200, "[1, 2]"),
]


labels = st.sampled_from(["normal", "structural", "logical"])
#: (response, ground truth): anything at all, or a well-formed response whose letter is right (judged).
cases = st.one_of(
    st.tuples(responses, labels),
    st.tuples(st.text(max_size=120), st.sampled_from(sorted(OPTIONS.items()))).map(
        lambda t: (f"<think>{t[0]}</think><answer>{t[1][0]}</answer>", t[1][1])),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases, reply=st.sampled_from(JUDGE_REPLIES), split=st.sampled_from(["train", "test", None]),
       eta=st.floats(min_value=0, max_value=1), fallback=st.sampled_from([0.0, 0.5, 1.0]),
       use_tq=st.booleans(), on_validation=st.booleans())
def test_compute_score_is_total_bounded_and_gated(stub_judge, case, reply, split, eta, fallback,
                                                   use_tq, on_validation):
    response, truth = case
    stub_judge.replies = [reply]
    extra = {"options": OPTIONS, "question": "q"} if split is None else {"split": split, "options": OPTIONS}
    out = asyncio.run(compute_score("mvtec_loco_pair3c", response, truth, extra, eta=eta, judge_url=stub_judge.url,
                                    judge_fallback_tq=fallback, thinking_quality=use_tq,
                                    judge_on_validation=on_validation, judge_max_retries=0))
    event(f"judge_called={out['judge_called']} judge_ok={out['judge_ok']}")
    assert 0.0 <= out["score"] <= 3.0 and 0.0 <= out["r_tq"] <= 1.0
    assert all(isinstance(v, (float, str)) for v in out.values())
    if out["judge_called"]:
        assert out["r_acc"] == 1.0 and use_tq and (split != "test" or on_validation)
        assert out["judge_ok"] == 1.0 or out["r_tq"] == fallback
    else:
        assert out["judge_ok"] == 0.0 and out["r_tq"] == 0.0
    bonus = out["r_tq"] if (out["r_acc"] == 1.0 and use_tq) else 0.0
    assert out["score"] == pytest.approx(out["r_format"] + out["r_acc"] + bonus)
