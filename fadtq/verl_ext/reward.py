"""verl reward entry point: ``reward.custom_reward_function.path=pkg://fadtq.verl_ext.reward``.

verl's reward loop (``naive`` manager) awaits :func:`compute_score` once per rollout, on the
RewardLoopWorker's event loop, with ``reward_kwargs`` from
``reward.custom_reward_function.reward_kwargs`` merged in. It returns a dict of scalars/strings:
verl logs every numeric key in validation and keeps all of them as ``reward_extra_info``.

Judge location, first found: ``judge_url`` kwarg → ``FADTQ_JUDGE_URL`` → verl-hosted judge
(``reward_router_address`` + ``reward_model_tokenizer``, when ``reward.reward_model.enable``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from fadtq.judge.client import JudgeClient, JudgeResult, JudgeSettings
from fadtq.rewards.accuracy import accuracy_reward
from fadtq.rewards.format import format_reward
from fadtq.rewards.parsing import answer_to_label, parse_response
from fadtq.rewards.thinking_quality import normalised_judge_score, thinking_quality_reward
from fadtq.rewards.total import fadtq_reward

logger = logging.getLogger(__name__)

JUDGE_URL_ENV = "FADTQ_JUDGE_URL"
DEFAULT_OPTIONS = {"A": "normal", "B": "structural", "C": "logical"}

_clients: dict[tuple, JudgeClient] = {}


def _judge_client(url: str, model: str | None, max_concurrency: int, timeout_s: float, max_retries: int) -> JudgeClient:
    loop = asyncio.get_running_loop()
    key = (id(loop), url, model, max_concurrency, timeout_s, max_retries)
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = JudgeClient(JudgeSettings(
            base_url=url, model=model, max_concurrency=max_concurrency, timeout_s=timeout_s, max_retries=max_retries))
    return client


def _resolve_judge(judge_url, judge_model, reward_router_address, reward_model_tokenizer) -> tuple[str | None, str | None]:
    url = judge_url or os.environ.get(JUDGE_URL_ENV) or reward_router_address
    model = judge_model
    if model is None and reward_router_address and url == reward_router_address and reward_model_tokenizer is not None:
        # verl serves the judge under its local model path
        model = getattr(reward_model_tokenizer, "name_or_path", None)
    return url, model


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
    """FAD-TQ reward for one rollout: ``R = r_format + r_acc + r_acc·r_tq`` plus its parts.

    The judge is called only when ``r_acc = 1`` (otherwise its score cannot count) and, on
    validation rows (``extra_info["split"] != "train"``), only if ``judge_on_validation``.
    A judge failure gives ``r_tq = judge_fallback_tq`` and ``judge_ok = 0``. Never raises.
    """
    extra_info = extra_info or {}
    options = extra_info.get("options") or DEFAULT_OPTIONS
    try:
        parsed = parse_response(solution_str)
        r_format = format_reward(parsed)
        r_acc = accuracy_reward(parsed.answer, options, ground_truth)
        pred = answer_to_label(parsed.answer, options) or ""
    except Exception as exc:  # a reward must never take training down
        logger.warning("reward parsing failed (%r); scoring 0", exc)
        parsed, r_format, r_acc, pred = None, 0.0, 0.0, ""

    # `acc` is the key verl promotes to val-core/<data_source>/acc/mean@N in validation.
    result = {"acc": r_acc, "r_format": r_format, "r_acc": r_acc, "r_tq": 0.0, "r_conc": 0.0, "r_rel": 0.0,
              "judge_called": 0.0, "judge_ok": 0.0, "judge_latency_s": 0.0, "pred": pred}
    is_train = str(extra_info.get("split", "train")) == "train"
    if thinking_quality and r_acc == 1.0 and (is_train or judge_on_validation) and parsed is not None:
        judged = await _judge(parsed.think or "", parsed.answer or "", str(extra_info.get("question", "")),
                              judge_url, judge_model, reward_router_address, reward_model_tokenizer,
                              judge_max_concurrency, judge_timeout_s, judge_max_retries)
        result["judge_called"] = 1.0
        result["judge_latency_s"] = judged.latency_s
        if judged.ok:
            r_conc, r_rel = normalised_judge_score(judged.conciseness), normalised_judge_score(judged.relevance)
            result.update(judge_ok=1.0, r_conc=r_conc, r_rel=r_rel, r_tq=thinking_quality_reward(r_conc, r_rel, eta))
        else:
            result["r_tq"] = float(judge_fallback_tq)
    result["score"] = fadtq_reward(r_format, r_acc, result["r_tq"], use_thinking_quality=thinking_quality)
    return result


async def _judge(think, answer, question, judge_url, judge_model, reward_router_address, reward_model_tokenizer,
                 max_concurrency, timeout_s, max_retries) -> JudgeResult:
    url, model = _resolve_judge(judge_url, judge_model, reward_router_address, reward_model_tokenizer)
    if not url:
        logger.warning("thinking_quality is on but no judge is configured (judge_url, %s or a verl reward model)",
                       JUDGE_URL_ENV)
        return JudgeResult(None, None, False, 0.0, error="no judge configured")
    try:
        client = _judge_client(url, model, int(max_concurrency), float(timeout_s), int(max_retries))
        return await client.score(question, think, answer)
    except Exception as exc:  # defensive: the client itself does not raise
        return JudgeResult(None, None, False, 0.0, error=repr(exc))
