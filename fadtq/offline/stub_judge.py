"""A scripted OpenAI-compatible judge on 127.0.0.1, for the tests and the judge benchmark.

Each ``POST`` is answered with the next scripted ``(status, content)`` reply (the last one repeats)
after ``delay_s``: status 200 sends ``content`` as the assistant message (``None`` → JSON null), any
other status a body that is not JSON. The stub records every request body and its headers, and the
most requests it held at once.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: What a judge that likes everything says.
DEFAULT_REPLY = (200, '{"conciseness": 2, "relevance": 3}')


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # ThreadingHTTPServer listens with a backlog of 5: with dozens of requests in flight the kernel
    # refuses connections, and the client would measure the stub's queue instead of itself.
    request_queue_size = 256


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server API)
        stub: StubJudge = self.server.stub
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, content = stub._take(json.loads(body), dict(self.headers))
        try:
            time.sleep(stub.delay_s)
            payload = (json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
                       if status == 200 else b"oops")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        finally:
            stub._release()

    def log_message(self, *args):
        pass


class StubJudge:
    """The server; set ``replies`` and ``delay_s`` at any time, read ``requests``, ``headers_seen``
    and ``max_in_flight``. ``with StubJudge() as stub:`` serves on ``stub.url`` from a thread."""

    def __init__(self, replies=(DEFAULT_REPLY,), delay_s: float = 0.0):
        self.replies: list[tuple[int, str | None]] = list(replies)
        self.delay_s = delay_s
        self.requests: list[dict] = []
        self.headers_seen: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stub = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def _take(self, body: dict, headers: dict) -> tuple[int, str | None]:
        with self._lock:
            self.requests.append(body)
            self.headers_seen.append(headers)
            reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return reply

    def _release(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def start(self) -> StubJudge:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StubJudge:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _serve(port_queue, replies, delay_s: float) -> None:
    stub = StubJudge(replies, delay_s)
    port_queue.put(stub._server.server_port)
    stub.serve_forever()


@contextmanager
def stub_judge_process(replies=(DEFAULT_REPLY,), delay_s: float = 0.0) -> Iterator[str]:
    """A :class:`StubJudge` in its own process, so that it does not share a GIL with the client being
    measured; yields its URL and stops it afterwards."""
    context = multiprocessing.get_context("spawn")
    port_queue = context.Queue()
    process = context.Process(target=_serve, args=(port_queue, list(replies), delay_s), daemon=True)
    process.start()
    try:
        yield f"http://127.0.0.1:{port_queue.get(timeout=60)}"
    finally:
        process.terminate()
        process.join(10)
