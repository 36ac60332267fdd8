"""FAD-TQ's reward for verl: ``reward.custom_reward_function.path=pkg://fadtq.verl_ext.reward``
(docs/design.md, Rewards and verl seam).

verl's reward loop awaits :func:`compute_score` once per rollout on the RewardLoopWorker's event loop,
with ``reward.custom_reward_function.reward_kwargs`` as keyword arguments: ``eta`` (0.5),
``thinking_quality`` (true; false = the "no TQ" ablation), ``judge_on_validation`` (false), ``judge_url``,
``judge_model``, ``judge_fallback_tq`` (0.0), ``judge_max_concurrency`` (32 per worker process),
``judge_timeout_s`` (60), ``judge_max_retries`` (2).

Judge location (:func:`resolve_judge`): when verl hosts the judge (``reward.reward_model.enable``) it
passes ``reward_router_address`` and ``reward_model_tokenizer`` (whose ``name_or_path`` names the model),
and that judge wins; an exported ``FADTQ_JUDGE_URL`` is then ignored with a warning, so a leftover export
cannot send the run elsewhere while the judge's GPU idles. Otherwise the ``judge_url`` kwarg, then
``FADTQ_JUDGE_URL``. Each process logs the endpoint it resolved, once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from typing import Any

from fadtq.data.prompt import PAIR3C_OPTIONS
from fadtq.judge.client import JudgeClient, JudgeResult, JudgeSettings
from fadtq.rewards import (
    accuracy_reward,
    answer_to_label,
    check_unit_interval,
    fadtq_reward,
    format_reward,
    normalised_judge_score,
    parse_response,
    thinking_quality_reward,
)

logger = logging.getLogger(__name__)

JUDGE_URL_ENV = "FADTQ_JUDGE_URL"

# One client per event loop and settings, reused by every call: its connection pool, semaphore,
# breaker and cache must be shared to mean anything. verl awaits compute_score on the
# RewardLoopWorker's own long-lived loop, so in training this is one client per worker process.
# Keyed by the loop object (weakly): an id() could be reused by a later loop after the first closed.
_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> {settings key: JudgeClient}


def judge_client(settings: JudgeSettings) -> JudgeClient:
    """The process's client for ``settings`` on the running event loop (created on first use)."""
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    key = (settings.base_url, settings.model, settings.max_concurrency, settings.timeout_s, settings.max_retries)
    client = per_loop.get(key)
    if client is None:
        client = per_loop[key] = JudgeClient(settings)
    return client


def resolve_judge(judge_url, judge_model, reward_router_address, reward_model_tokenizer,
                  environ=None) -> tuple[str | None, str | None, str]:
    """``(url, model, source)`` of the judge this process calls (see the module docstring for the order)."""
    environ = os.environ if environ is None else environ
    if reward_router_address:
        model = judge_model or getattr(reward_model_tokenizer, "name_or_path", None)
        return reward_router_address, model, "verl-hosted judge (reward.reward_model)"
    if judge_url:
        return judge_url, judge_model, "reward_kwargs.judge_url"
    if environ.get(JUDGE_URL_ENV):
        return environ[JUDGE_URL_ENV], judge_model, JUDGE_URL_ENV
    return None, None, "none"


_endpoints_logged: set = set()


def _log_endpoint_once(url, model, source) -> None:
    if (url, model, source) in _endpoints_logged:
        return
    _endpoints_logged.add((url, model, source))
    logger.warning("fadtq judge (pid %d): %s, model %s, from %s", os.getpid(), url, model, source)
    if source.startswith("verl-hosted") and os.environ.get(JUDGE_URL_ENV):
        logger.warning("%s=%s is ignored: verl hosts the judge (reward.reward_model.enable=true)", JUDGE_URL_ENV,
                       os.environ[JUDGE_URL_ENV])


async def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: dict | None = None,
    *,
    eta: float = 0.5,
    thinking_quality: bool = True,
    judge_on_validation: bool = False,
    judge_url: str | None = None,
    judge_model: str | None = None,
    judge_fallback_tq: float = 0.0,
    judge_max_concurrency: int = 32,
    judge_timeout_s: float = 60.0,
    judge_max_retries: int = 2,
    reward_router_address: str | None = None,
    reward_model_tokenizer: Any = None,
    **_: Any,
) -> dict:
    """FAD-TQ reward for one rollout: ``R = r_format + r_acc + min(1, max(0, r_acc))·r_tq`` and its parts.

    Keys (verl averages the numeric ones in validation): ``score`` (R ∈ [0, 3]), ``acc`` (= r_acc, the
    key verl promotes to ``val-core``), ``r_format``, ``r_acc``, ``r_tq``, ``r_conc``, ``r_rel``
    (normalised judge scores, 0 when not judged), ``judge_called``, ``judge_ok`` (1 only for a parsed
    reply), ``judge_latency_s``, ``judge_error`` ("" unless it failed) and ``pred`` (the predicted
    label, "" when the answer names no single class).

    The judge is called only when ``thinking_quality`` is on, ``r_acc = 1`` (otherwise its score cannot
    count), the think span is non-empty, and the row is a training row (``extra_info["split"]``,
    default ``train``) unless ``judge_on_validation``. A failed call gives ``r_tq = judge_fallback_tq``.

    Model output and judge failures never raise; invalid settings raise ``ValueError`` (``eta`` or
    ``judge_fallback_tq`` outside [0, 1] at the first call, a malformed judge URL or non-positive
    limits at the first judge call), because a configuration error should stop the run, not bias it.
    """
    _check_settings(eta, judge_fallback_tq)
    extra_info = extra_info if isinstance(extra_info, dict) else {}
    options = extra_info.get("options") or PAIR3C_OPTIONS  # a row without options: Pair3C's letters
    try:
        parsed = parse_response(solution_str)
        r_format = format_reward(parsed)
        r_acc = accuracy_reward(parsed.answer, options, ground_truth)
        pred = answer_to_label(parsed.answer, options) or ""
    except Exception as exc:  # a reward must never take training down
        logger.warning("reward parsing failed (%r); scoring 0", exc)
        parsed, r_format, r_acc, pred = None, 0.0, 0.0, ""

    result = {"acc": r_acc, "r_format": r_format, "r_acc": r_acc, "r_tq": 0.0, "r_conc": 0.0, "r_rel": 0.0,
              "judge_called": 0.0, "judge_ok": 0.0, "judge_latency_s": 0.0, "judge_error": "", "pred": pred}
    is_train = str(extra_info.get("split", "train")) == "train"
    has_reasoning = parsed is not None and bool(parsed.think)
    if thinking_quality and r_acc == 1.0 and has_reasoning and (is_train or judge_on_validation):
        judged = await _judge(parsed.think, parsed.answer or "", str(extra_info.get("question") or ""),
                              judge_url, judge_model, reward_router_address, reward_model_tokenizer,
                              judge_max_concurrency, judge_timeout_s, judge_max_retries)
        result["judge_called"] = 1.0
        result["judge_latency_s"] = float(judged.latency_s)
        if judged.ok:
            r_conc, r_rel = normalised_judge_score(judged.conciseness), normalised_judge_score(judged.relevance)
            result.update(judge_ok=1.0, r_conc=r_conc, r_rel=r_rel, r_tq=thinking_quality_reward(r_conc, r_rel, eta))
        else:
            result["r_tq"] = float(judge_fallback_tq)
            result["judge_error"] = str(judged.error)[:300]
            _log_judge_failure(judged.error)
    result["score"] = fadtq_reward(r_format, r_acc, result["r_tq"], use_thinking_quality=thinking_quality)
    return result


def _check_settings(eta: float, judge_fallback_tq: float) -> None:
    for name, value in (("eta", eta), ("judge_fallback_tq", judge_fallback_tq)):
        check_unit_interval(f"reward.custom_reward_function.reward_kwargs.{name}", value)


_failures_logged = 0


def _log_judge_failure(error: str) -> None:
    """Log the first judge failure of the process and then every 100th (training logs stay readable;
    the per-step ``reward/judge_fail_rate`` metric counts all of them)."""
    global _failures_logged
    if _failures_logged % 100 == 0:
        logger.warning("judge call failed (%d so far in this process), fallback r_tq used: %s",
                       _failures_logged + 1, error)
    _failures_logged += 1


async def _judge(think, answer, question, judge_url, judge_model, reward_router_address, reward_model_tokenizer,
                 max_concurrency, timeout_s, max_retries) -> JudgeResult:
    url, model, source = resolve_judge(judge_url, judge_model, reward_router_address, reward_model_tokenizer)
    _log_endpoint_once(url, model, source)
    if not url:
        return JudgeResult(None, None, False, 0.0, error=f"no judge configured: set reward_kwargs.judge_url, "
                                                         f"{JUDGE_URL_ENV} or reward.reward_model.enable")
    # Invalid settings (a malformed URL, zero concurrency) raise here: a configuration error.
    client = judge_client(JudgeSettings(base_url=url, model=model, max_concurrency=int(max_concurrency),
                                        timeout_s=float(timeout_s), max_retries=int(max_retries)))
    try:
        return await client.score(question, think, answer)
    except Exception as exc:  # defensive: the client itself does not raise
        return JudgeResult(None, None, False, 0.0, error=repr(exc))
