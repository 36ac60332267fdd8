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


def test_cli_serves_the_cpu_judge(tmp_path):
    """`fadtq serve-judge --cpu` in the foreground: it answers, lists its names, and says so on stdout."""
    import os
    import signal
    import subprocess
    import sys

    from fadtq.offline.judge_server import free_port, wait_until_ready

    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "fadtq", "serve-judge", "--cpu", "--port", str(port)],
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", timeout_s=180, proc=server)
        names = {m["id"] for m in httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=30).json()["data"]}
        assert "Qwen/Qwen3-8B" in names or "judge" in names
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # what Ctrl-C does: the server stops cleanly
        server.wait(timeout=30)
    text = log.read_text(errors="replace")
    assert f"FADTQ_JUDGE_URL=http://127.0.0.1:{port}" in text and f"ready at http://127.0.0.1:{port}/v1" in text
    assert server.returncode == 0, text[-2000:]
