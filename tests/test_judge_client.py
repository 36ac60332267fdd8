"""The judge client against the real CPU judge server, a server that dies, and one that talks nonsense."""

import asyncio

import pytest

from fadtq.data.prompt import PAIR3C_OPTIONS
from fadtq.judge.breaker import CircuitBreaker
from fadtq.judge.client import JudgeClient, JudgeSettings, normalise_base_url
from fadtq.judge.rubric import parse_scores

QUESTION = "Reference image and test image of a breakfast box. A) normal B) structural anomaly C) logical anomaly"
GOOD = "The test image has a scratch on the left compartment that the reference image does not have."


@pytest.mark.parametrize("text,expected", [
    ('{"conciseness": 2, "relevance": 3}', (2.0, 3.0)),
    ('{"conciseness": 9, "relevance": -1}', (3.0, 0.0)),  # clamped
    ('Sure! "conciseness": 1, "relevance": 2', (1.0, 2.0)),  # regex fallback
    ("conciseness=3 relevance=3", (3.0, 3.0)),
    ("I think it is quite good.", None),
    ('{"conciseness": 1}', None),
    ('"conciseness": 1, "conciseness": 3, "relevance": 2', None),  # ambiguous
    ('{"conciseness": true, "relevance": 2}', None),
    ('{"conciseness": NaN, "relevance": 2}', None),  # Python's JSON parser accepts NaN: not a score
    ('{"conciseness": Infinity, "relevance": 2}', None),
    ('{"conciseness": 2.5, "relevance": 1e3}', (2.5, 3.0)),
    ("[" * 5000 + "]" * 5000, None),  # deeply nested junk
    ("", None),
])
def test_parse_scores(text, expected):
    assert parse_scores(text) == expected


def test_normalise_base_url():
    assert normalise_base_url("10.0.0.5:8000") == "http://10.0.0.5:8000"
    assert normalise_base_url("http://h:1/v1/") == "http://h:1"


def test_circuit_breaker_opens_and_half_opens():
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=10, clock=lambda: now[0])
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert not breaker.allow() and breaker.times_opened == 1
    now[0] = 11.0
    assert breaker.allow()  # half-open: one trial …
    assert not breaker.allow()  # … and only one
    breaker.record_failure()
    assert not breaker.allow() and breaker.times_opened == 1
    now[0] = 21.5
    assert breaker.allow() and breaker.trials == 2
    now[0] = 30.0
    breaker.record_success()
    assert breaker.allow()


@pytest.mark.judge
def test_real_server_scores_and_cache(judge_url):
    async def run():
        client = JudgeClient(JudgeSettings(base_url=judge_url, model="Qwen/Qwen3-8B", timeout_s=120, max_concurrency=4))
        try:
            results = await asyncio.gather(*[client.score(QUESTION, f"{GOOD} Case {i}.", "B") for i in range(4)])
            again = await client.score(QUESTION, f"{GOOD} Case 0.", "B")
            return results, again, client.requests_sent
        finally:
            await client.aclose()

    results, again, sent = asyncio.run(run())
    for r in results:
        assert r.ok, r.error
        assert r.conciseness in {0.0, 1.0, 2.0, 3.0} and r.relevance in {0.0, 1.0, 2.0, 3.0}
        assert r.latency_s > 0
    assert again.cached and (again.conciseness, again.relevance) == (results[0].conciseness, results[0].relevance)
    assert sent == len(results)  # the cached call sent nothing


@pytest.mark.judge
def test_server_stopped_mid_run_falls_back_and_opens_circuit(tmp_path):
    """compute_score calls in flight when the judge dies: all return, judged ones keep their score,
    the rest fall back with judge_ok = 0, and the open circuit answers later calls without the network."""
    from fadtq.offline.judge_server import JudgeServerProcess
    from fadtq.verl_ext.reward import compute_score, judge_client

    server = JudgeServerProcess(threads=1, parallel=2, log_path=tmp_path / "judge.log").start()
    kwargs = {"judge_url": server.url, "judge_timeout_s": 60.0, "judge_max_retries": 1, "judge_fallback_tq": 0.0}
    extra = {"split": "train", "question": QUESTION, "options": PAIR3C_OPTIONS}

    def rollout(i):
        return f"<think>{GOOD} Rollout {i}.</think><answer>B</answer>"

    async def run():
        warm = await compute_score("mvtec_loco_pair3c", rollout(0), "structural", extra, **kwargs)
        tasks = [asyncio.ensure_future(compute_score("mvtec_loco_pair3c", rollout(i), "structural", extra, **kwargs))
                 for i in range(1, 13)]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.to_thread(server.stop)  # the judge dies with requests in flight and queued
        results = await asyncio.gather(*tasks, return_exceptions=True)
        after = await compute_score("mvtec_loco_pair3c", rollout(99), "structural", extra, **kwargs)
        client = judge_client(JudgeSettings(base_url=server.url, timeout_s=60.0, max_retries=1))
        return warm, results, after, client

    try:
        warm, results, after, client = asyncio.run(run())
    finally:
        server.stop()
    assert warm["judge_ok"] == 1.0
    assert not [r for r in results if isinstance(r, BaseException)], results
    failed = [r for r in results if r["judge_ok"] == 0.0]
    assert failed, "stopping the server should have failed some judge calls"
    for r in results:
        assert r["judge_called"] == 1.0 and 2.0 <= r["score"] <= 3.0
        if r["judge_ok"] == 0.0:
            assert r["r_tq"] == 0.0 and r["score"] == 2.0
    assert client.breaker.is_open and client.breaker.times_opened == 1
    assert client.fallbacks_fast >= 1  # calls answered by the open circuit, without a request
    assert after["judge_ok"] == 0.0 and after["judge_latency_s"] < 1.0  # fails fast now


def run_client(url, calls, **settings):
    async def run():
        async with JudgeClient(JudgeSettings(base_url=url, **{"backoff_s": 0.01, **settings})) as client:
            results = await asyncio.gather(*[client.score(QUESTION, think, "B") for think in calls])
            return results, client

    return asyncio.run(run())


def test_garbage_judge_output_gives_fallback_without_crash(stub_judge):
    stub, url = stub_judge, stub_judge.url
    stub.replies = [(200, "The reasoning is fine, I would give it a good score.")]
    (result,), client = run_client(url, [GOOD], max_retries=1)
    assert not result.ok and "unparsable" in result.error
    assert client.requests_sent == 2  # retried once, then gave up
    assert not client.breaker.is_open  # the server is up: prose is not an outage


def test_out_of_range_scores_are_clamped(stub_judge):
    stub, url = stub_judge, stub_judge.url
    stub.replies = [(200, '{"conciseness": 17, "relevance": -4}')]
    (result,), _ = run_client(url, [GOOD])
    assert result.ok and (result.conciseness, result.relevance) == (3.0, 0.0)


def test_server_error_is_retried_then_succeeds(stub_judge):
    stub, url = stub_judge, stub_judge.url
    stub.replies = [(503, None), (429, None), (200, '{"conciseness": 2, "relevance": 1}')]
    (result,), client = run_client(url, [GOOD], max_retries=2)
    assert result.ok and (result.conciseness, result.relevance) == (2.0, 1.0)
    assert client.requests_sent == 3


def test_client_error_is_not_retried(stub_judge):
    stub, url = stub_judge, stub_judge.url
    stub.replies = [(404, None)]
    (result,), client = run_client(url, [GOOD], max_retries=3)
    assert not result.ok and result.error.startswith("HTTP 404") and client.requests_sent == 1


def test_request_body_and_api_key(stub_judge, monkeypatch):
    stub, url = stub_judge, stub_judge.url
    stub.replies = [(200, '{"conciseness": 3, "relevance": 3}')]
    monkeypatch.setenv("FADTQ_JUDGE_API_KEY", "sk-test-123")
    run_client(url + "/v1", [GOOD], model="Qwen/Qwen3-8B")
    body = stub.requests[0]
    assert body["model"] == "Qwen/Qwen3-8B" and body["temperature"] == 0.0 and body["max_tokens"] >= 64
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["conciseness", "relevance"]
    assert GOOD in body["messages"][-1]["content"] and "B" in body["messages"][-1]["content"]
    assert stub.headers_seen[0]["Authorization"] == "Bearer sk-test-123"


def test_concurrency_is_bounded_and_identical_texts_are_judged_once(stub_judge):
    stub, url = stub_judge, stub_judge.url
    stub.replies = [(200, '{"conciseness": 1, "relevance": 2}')]
    stub.delay_s = 0.2
    calls = [f"{GOOD} {i % 10}" for i in range(30)]  # 10 distinct texts, each 3 times, all at once
    results, client = run_client(url, calls, max_concurrency=3)
    assert all(r.ok for r in results)
    assert client.requests_sent == len(stub.requests) == 10
    assert stub.max_in_flight <= 3
    assert sum(r.cached for r in results) == 20


def test_unreachable_server_opens_circuit_and_later_calls_fail_fast():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    results, client = run_client(f"http://127.0.0.1:{port}", [f"{GOOD} {i}" for i in range(20)],
                                 max_retries=2, breaker_failures=3, max_concurrency=2)
    assert all(not r.ok for r in results)
    assert client.breaker.times_opened == 1
    assert client.requests_sent < 20  # most calls never touched the network
    assert sum("circuit open" in r.error for r in results) >= 10
