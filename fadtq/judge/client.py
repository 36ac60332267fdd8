"""Async OpenAI-compatible judge client (vLLM's server in production, llama.cpp's on CPU).

Bounded concurrency, per-request timeout, bounded retries with exponential back-off and jitter,
a circuit breaker when the server is down, and a cache so identical reasoning is judged once.
A failure never raises: it returns ``JudgeResult(ok=False, …)`` and the caller applies its fallback.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from dataclasses import dataclass, field

import httpx
from cachetools import LRUCache

from fadtq.judge.breaker import CircuitBreaker
from fadtq.judge.rubric import build_messages, parse_scores, response_format

API_KEY_ENV = "FADTQ_JUDGE_API_KEY"


@dataclass(frozen=True)
class JudgeResult:
    conciseness: float | None  # raw 0–3
    relevance: float | None  # raw 0–3
    ok: bool
    latency_s: float
    cached: bool = False
    error: str = ""


@dataclass
class JudgeSettings:
    base_url: str
    model: str | None = None
    max_concurrency: int = 32
    timeout_s: float = 60.0
    max_retries: int = 2
    backoff_s: float = 0.5
    max_tokens: int = 64
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    cache_size: int = 65536
    extra_body: dict = field(default_factory=dict)


def normalise_base_url(url: str) -> str:
    """``host:port``, ``http://host:port`` or ``…/v1`` → ``http://host:port`` (no trailing ``/v1``)."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    return url[: -len("/v1")] if url.endswith("/v1") else url


class JudgeClient:
    """One client per event loop (httpx connections and semaphores belong to a loop)."""

    def __init__(self, settings: JudgeSettings):
        self.settings = settings
        self.url = normalise_base_url(settings.base_url) + "/v1/chat/completions"
        headers = {"Authorization": f"Bearer {os.environ[API_KEY_ENV]}"} if os.environ.get(API_KEY_ENV) else {}
        self._http = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(settings.timeout_s, connect=min(5.0, settings.timeout_s)),
            limits=httpx.Limits(max_connections=settings.max_concurrency),
        )
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown_s)
        self._cache: LRUCache = LRUCache(maxsize=settings.cache_size)
        self._inflight: dict[str, asyncio.Future] = {}
        self.requests_sent = 0

    def _payload(self, question: str, think: str, answer: str) -> dict:
        payload = {
            "messages": build_messages(question, think, answer),
            "temperature": 0.0,
            "max_tokens": self.settings.max_tokens,
            "response_format": response_format(),
            # Qwen3 thinks by default; a judge writing <think> prose before its JSON breaks parsing.
            "chat_template_kwargs": {"enable_thinking": False},
            **self.settings.extra_body,
        }
        if self.settings.model:
            payload["model"] = self.settings.model
        return payload

    @staticmethod
    def _key(question: str, think: str, answer: str) -> str:
        return hashlib.sha256("\x1f".join((question, think, answer)).encode("utf-8", "replace")).hexdigest()

    async def score(self, question: str, think: str, answer: str) -> JudgeResult:
        """Judge one reasoning text; identical (question, think, answer) triples are judged once."""
        key = self._key(question, think, answer)
        if key in self._cache:
            hit = self._cache[key]
            return JudgeResult(hit.conciseness, hit.relevance, True, 0.0, cached=True)
        if key in self._inflight:  # the same text is being judged right now: share that call
            result = await asyncio.shield(self._inflight[key])
            return JudgeResult(result.conciseness, result.relevance, result.ok, 0.0, cached=True, error=result.error)
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await self._score_uncached(question, think, answer)
            if result.ok:
                self._cache[key] = result
            future.set_result(result)
            return result
        except BaseException as exc:  # cancellation: wake the sharers, then propagate
            future.set_result(JudgeResult(None, None, False, 0.0, error=f"cancelled: {exc!r}"))
            raise
        finally:
            del self._inflight[key]

    async def _score_uncached(self, question: str, think: str, answer: str) -> JudgeResult:
        start = time.monotonic()
        error = "circuit open: judge recently unreachable"
        for attempt in range(self.settings.max_retries + 1):
            if not self.breaker.allow():
                return JudgeResult(None, None, False, time.monotonic() - start, error=error)
            try:
                async with self._semaphore:
                    self.requests_sent += 1
                    reply = await self._http.post(self.url, json=self._payload(question, think, answer))
                if reply.status_code >= 500 or reply.status_code == 429:
                    error = f"HTTP {reply.status_code}"
                    self.breaker.record_failure()
                elif reply.status_code >= 400:  # our request is wrong: retrying will not help
                    self.breaker.record_success()
                    return JudgeResult(None, None, False, time.monotonic() - start,
                                       error=f"HTTP {reply.status_code}: {reply.text[:200]}")
                else:
                    self.breaker.record_success()
                    content = reply.json()["choices"][0]["message"]["content"]
                    scores = parse_scores(content)
                    if scores is not None:
                        return JudgeResult(scores[0], scores[1], True, time.monotonic() - start)
                    error = f"unparsable judge reply: {str(content)[:120]!r}"
            except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
                error = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, httpx.TransportError):
                    self.breaker.record_failure()
            if attempt < self.settings.max_retries:
                delay = self.settings.backoff_s * (2 ** attempt)
                await asyncio.sleep(delay * (0.5 + random.random()))  # full jitter around the back-off
        return JudgeResult(None, None, False, time.monotonic() - start, error=error)

    async def aclose(self) -> None:
        await self._http.aclose()
