"""Async OpenAI-compatible judge client (vLLM's server in production, llama.cpp's on CPU).

One ``POST /v1/chat/completions`` per reasoning text: the rubric prompt, a strict JSON-schema
``response_format`` (parsed with a regex fallback, scores clamped to 0–3), temperature 0, a small
``max_tokens`` and ``chat_template_kwargs={"enable_thinking": false}`` (Qwen3 would think first).

Around it: bounded concurrency (a semaphore), a per-request timeout, bounded retries with
exponential back-off and jitter, a circuit breaker that answers with a fallback at once while the
server is down, and a cache (plus in-flight sharing) so an identical text is judged once.
A failure never raises: it returns ``JudgeResult(ok=False, error=…)`` and the caller applies its
fallback. The API key, if the server needs one, comes only from the environment (``FADTQ_JUDGE_API_KEY``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

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
    base_url: str  #: ``http://host:port`` (``/v1`` and the scheme are optional)
    model: str | None = None  #: served model name; None lets a single-model server pick
    max_concurrency: int = 32  #: requests in flight from this client
    timeout_s: float = 60.0  #: per HTTP request (connect: at most 5 s)
    max_retries: int = 2  #: extra attempts after a failed one (5xx, 429, network, unparsable reply)
    backoff_s: float = 0.5  #: first back-off; doubles per retry, with ±50 % jitter
    max_tokens: int = 64  #: the JSON needs ~20 tokens; headroom for a model that pads with whitespace
    breaker_failures: int = 5  #: consecutive network/5xx failures that open the circuit
    breaker_cooldown_s: float = 30.0  #: how long an open circuit answers with fallbacks before a trial
    cache_size: int = 65536  #: judged (question, think, answer) triples kept
    extra_body: dict = field(default_factory=dict)  #: merged into every request body

    def __post_init__(self):
        if self.max_concurrency < 1 or self.timeout_s <= 0 or self.max_retries < 0 or self.max_tokens < 1:
            raise ValueError(f"invalid judge settings: max_concurrency={self.max_concurrency} (>= 1), "
                             f"timeout_s={self.timeout_s} (> 0), max_retries={self.max_retries} (>= 0), "
                             f"max_tokens={self.max_tokens} (>= 1)")


def normalise_base_url(url: str) -> str:
    """``host:port``, ``http://host:port`` or ``…/v1`` → ``http://host:port`` (no trailing ``/v1``).

    Raises ``ValueError`` for something that is not an http(s) URL with a host (and a valid port).
    """
    text = str(url).strip()
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
        text = "http://" + text
    text = text.rstrip("/")
    text = text[: -len("/v1")] if text.endswith("/v1") else text
    try:
        parts = urlsplit(text)
        valid = (parts.scheme in ("http", "https") and bool(parts.hostname) and not re.search(r"\s", text)
                 and (parts.port is None or 0 < parts.port < 65536))  # .port raises for a non-number
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(f"not a judge URL: {str(url)!r} (expected http://HOST:PORT)")
    return text


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
        #: Statistics: HTTP requests actually sent, and calls answered by the open breaker without one.
        self.requests_sent = 0
        self.fallbacks_fast = 0

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
        error = "no attempt made"
        payload = self._payload(question, think, answer)
        for attempt in range(self.settings.max_retries + 1):
            async with self._semaphore:
                # Checked once a slot is free: calls queued behind a dying server fall back at once.
                if not self.breaker.allow():
                    self.fallbacks_fast += 1
                    return JudgeResult(None, None, False, time.monotonic() - start,
                                       error="circuit open: judge recently unreachable")
                self.requests_sent += 1
                try:
                    reply = await self._http.post(self.url, json=payload)
                except httpx.TransportError as exc:  # refused, reset, timed out: the server is not there
                    self.breaker.record_failure()
                    error = f"{type(exc).__name__}: {exc}"
                    reply = None
                except httpx.HTTPError as exc:  # it answered, but not with a usable HTTP response
                    self.breaker.record_success()
                    error = f"{type(exc).__name__}: {exc}"
                    reply = None
            if reply is not None:
                scores, error, retry = self._read_reply(reply)
                if scores is not None:
                    return JudgeResult(scores[0], scores[1], True, time.monotonic() - start)
                if not retry:
                    return JudgeResult(None, None, False, time.monotonic() - start, error=error)
            if attempt < self.settings.max_retries:
                delay = self.settings.backoff_s * (2 ** attempt)
                await asyncio.sleep(delay * (0.5 + random.random()))  # jitter: retries do not arrive in lockstep
        return JudgeResult(None, None, False, time.monotonic() - start, error=error)

    def _read_reply(self, reply: httpx.Response) -> tuple[tuple[float, float] | None, str, bool]:
        """``(scores or None, error, retry?)``; records the server's health in the breaker."""
        if reply.status_code >= 500 or reply.status_code == 429:  # overloaded or broken: try again later
            self.breaker.record_failure()
            return None, f"HTTP {reply.status_code}: {reply.text[:200]}", True
        self.breaker.record_success()  # it answered, so it is up
        if reply.status_code >= 400:  # our request is wrong (model name, schema): retrying will not help
            return None, f"HTTP {reply.status_code}: {reply.text[:200]}", False
        try:
            content = reply.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return None, f"malformed judge response ({type(exc).__name__}): {reply.text[:120]!r}", True
        scores = parse_scores(content)
        if scores is None:  # prose, or whitespace up to max_tokens: a retry may still get JSON
            return None, f"unparsable judge reply: {str(content)[:120]!r}", True
        return scores, "", False

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "JudgeClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()
