"""Session fixtures shared by the whole test-suite.

- ``tiny_model_dir``: an offline tiny random Qwen2.5-VL folder, built once per session.
- ``small_loco_tree`` / ``small_pair3c``: a small synthetic LOCO tree and the Pair3C set built from it
  (tiny images), shared by every test that only reads them.
- ``judge_url``: a real OpenAI-compatible judge server (llama.cpp + a 270M GGUF model) on
  127.0.0.1, started once per session and stopped (by PID) afterwards.
"""

from __future__ import annotations

import os

import pytest

# Everything runs offline and quietly; set before any test imports transformers or verl.
for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "WANDB_MODE": "disabled",
    "TOKENIZERS_PARALLELISM": "false",
    "RAY_USAGE_STATS_ENABLED": "0",
}.items():
    os.environ.setdefault(_key, _value)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
    from fadtq.offline.tiny_qwen2_5_vl import build_tiny_qwen2_5_vl

    return str(build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("models") / "tiny-qwen2.5-vl"))


@pytest.fixture(scope="session")
def small_loco_tree(tmp_path_factory):
    """A small synthetic tree in MVTec LOCO AD's layout; read-only (copy it before changing it)."""
    from fadtq.offline.synth_loco import generate_loco_tree

    return generate_loco_tree(tmp_path_factory.mktemp("loco_small") / "loco", counts="small")


@pytest.fixture(scope="session")
def small_pair3c(small_loco_tree, tmp_path_factory):
    """Pair3C built from ``small_loco_tree`` at the tiny processor's own pixel budget; read-only."""
    from fadtq.data.build import build_pair3c
    from fadtq.offline.synth_loco import SMALL_PER_CLASS

    return build_pair3c(small_loco_tree, tmp_path_factory.mktemp("pair3c_small") / "pair3c",
                        per_class=SMALL_PER_CLASS, max_pixels=16 * 28 * 28, progress=False)


@pytest.fixture(scope="session")
def judge_url(tmp_path_factory):
    """Base URL (no ``/v1``) of a real judge server; its log is kept in the session's tmp dir."""
    from fadtq.offline.judge_server import JudgeServerProcess

    log = tmp_path_factory.mktemp("judge") / "server.log"
    server = JudgeServerProcess(threads=2, parallel=4, log_path=log)
    try:
        server.start()
    except Exception as exc:  # make the cause visible in the failing test's output
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"CPU judge server did not start: {exc}\n{tail}") from exc
    yield server.url
    server.stop()


@pytest.fixture
def stub_judge():
    """A scripted OpenAI-compatible judge on 127.0.0.1 (:class:`fadtq.offline.stub_judge.StubJudge`):
    set ``replies`` / ``delay_s``, read ``requests``; its base URL is ``stub_judge.url``."""
    from fadtq.offline.stub_judge import StubJudge

    with StubJudge() as stub:
        yield stub
