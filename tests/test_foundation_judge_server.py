"""The CPU judge server speaks the OpenAI protocol our judge client relies on."""

import json

import httpx
import pytest

pytestmark = pytest.mark.judge

SCHEMA = {
    "type": "object",
    "properties": {"conciseness": {"type": "integer", "minimum": 0, "maximum": 3},
                   "relevance": {"type": "integer", "minimum": 0, "maximum": 3}},
    "required": ["conciseness", "relevance"],
    "additionalProperties": False,
}


def test_models_endpoint_lists_production_name(judge_url):
    names = {m["id"] for m in httpx.get(f"{judge_url}/v1/models", timeout=30).json()["data"]}
    assert "Qwen/Qwen3-8B" in names or "judge" in names


def test_chat_completion_with_json_schema(judge_url):
    payload = {
        "model": "Qwen/Qwen3-8B",
        "messages": [{"role": "user", "content": "Score this reasoning for conciseness and relevance (0-3): "
                                                  "'The test image has a scratch the reference lacks.'"}],
        "temperature": 0,
        "max_tokens": 64,
        "chat_template_kwargs": {"enable_thinking": False},
        "response_format": {"type": "json_schema", "json_schema": {"name": "scores", "strict": True, "schema": SCHEMA}},
    }
    reply = httpx.post(f"{judge_url}/v1/chat/completions", json=payload, timeout=120)
    assert reply.status_code == 200
    content = reply.json()["choices"][0]["message"]["content"]
    scores = json.loads(content)
    assert set(scores) == {"conciseness", "relevance"}
    assert all(0 <= v <= 3 for v in scores.values())
