"""The judge client against the real CPU judge server, a server that dies, and one that talks nonsense."""

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

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
    assert breaker.allow()  # half-open: one trial
    breaker.record_failure()
    assert not breaker.allow()
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
    from fadtq.offline.judge_server import JudgeServerProcess

    server = JudgeServerProcess(threads=1, parallel=2, log_path=tmp_path / "judge.log").start()

    async def run():
        client = JudgeClient(JudgeSettings(base_url=server.url, timeout_s=60, max_retries=1, backoff_s=0.05,
                                           breaker_failures=2, breaker_cooldown_s=60))
        try:
            first = await client.score(QUESTION, GOOD, "B")
            server.stop()
            after = [await client.score(QUESTION, f"{GOOD} {i}", "B") for i in range(4)]
            return first, after, client
        finally:
            await client.aclose()

    try:
        first, after, client = asyncio.run(run())
    finally:
        server.stop()
    assert first.ok
    assert all(not r.ok for r in after)
    assert client.breaker.is_open and client.breaker.times_opened >= 1
    assert "circuit open" in after[-1].error  # later calls fail fast without touching the network


class _ProseHandler(BaseHTTPRequestHandler):
    reply = "The reasoning is fine, I would give it a good score."

    def do_POST(self):  # noqa: N802 (http.server API)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"choices": [{"message": {"role": "assistant", "content": self.reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_garbage_judge_output_gives_fallback_without_crash():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ProseHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        async def run():
            client = JudgeClient(JudgeSettings(base_url=f"http://127.0.0.1:{httpd.server_port}", max_retries=1,
                                               backoff_s=0.01))
            try:
                return await client.score(QUESTION, GOOD, "B"), client.requests_sent
            finally:
                await client.aclose()

        result, sent = asyncio.run(run())
    finally:
        httpd.shutdown()
    assert not result.ok and "unparsable" in result.error
    assert sent == 2  # retried once, then gave up
