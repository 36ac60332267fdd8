"""Run a command in a session of its own, its output in a log file, and stop everything it started.

A training run starts a private Ray cluster (GCS, raylet, workers, the rollout server); the judge is a
llama.cpp server. Some of those processes start process groups of their own, but none leaves the
session (``setsid``) the command was started in. So the session id finds them all: they can be
measured, and stopped by PID — without ``ray stop``, which would also hit other clusters on the machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import psutil

#: Seconds a session's processes get to exit after SIGTERM before they are killed.
TERM_GRACE_S = 10.0
#: Seconds to wait for killed processes to disappear.
KILL_WAIT_S = 10.0


def session_processes(session_id: int) -> list[psutil.Process]:
    """The living processes of a session (a zombie is already dead: its parent, or init, collects it)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == session_id and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (OSError, psutil.Error):
            continue
    return found


def describe(proc: psutil.Process) -> str:
    """``"pid cmdline"`` (the command line cut to 160 characters)."""
    try:
        return f"{proc.pid} {' '.join(proc.cmdline())[:160]}"
    except psutil.Error:
        return str(proc.pid)


def _wait_until_empty(session_id: int, timeout_s: float, poll_s: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    while (left := session_processes(session_id)) and time.monotonic() < deadline:
        time.sleep(poll_s)
    return left


def _signal_all(processes: list[psutil.Process], sig: int) -> None:
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)  # psutil checks the PID still names the same process


def stop_session(session_id: int, *, grace_s: float = 0.0, term_grace_s: float = TERM_GRACE_S,
                 poll_s: float = 0.1) -> list[str]:
    """Give the session ``grace_s`` to empty by itself, then SIGTERM every process left in it and SIGKILL
    those still there after ``term_grace_s``. Returns the processes it had to stop, as ``"pid cmdline"``.

    Each process is signalled by PID: signalling the process group is not enough, since a child may
    start a group of its own and keep the session.
    """
    left = _wait_until_empty(session_id, grace_s, poll_s)
    stopped = [describe(proc) for proc in left]
    if left:
        _signal_all(left, signal.SIGTERM)
        left = _wait_until_empty(session_id, term_grace_s, poll_s)
    deadline = time.monotonic() + KILL_WAIT_S
    while left and time.monotonic() < deadline:  # again if one was started between a scan and its kill
        _signal_all(left, signal.SIGKILL)
        left = _wait_until_empty(session_id, 1.0, poll_s)
    return stopped


class SessionProcess:
    """``cmd`` started in a new session, stdout and stderr to ``log_path`` (None: discarded).

    Like :class:`subprocess.Popen`, it starts at construction. :meth:`wait` keeps to a deadline and can
    follow the log line by line; :meth:`stop` ends every process of the session, the command's
    descendants included; leaving a ``with`` block stops it too.
    """

    def __init__(self, cmd: Sequence[str], log_path: str | Path | None = None, *,
                 env: Mapping[str, str] | None = None, cwd: str | Path | None = None, append: bool = False):
        self.cmd = list(cmd)
        self.log_path = Path(log_path) if log_path is not None else None
        self._log_read_to = 0
        if self.log_path is None:
            output = contextlib.nullcontext(subprocess.DEVNULL)
        else:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            if append and self.log_path.exists():
                self._log_read_to = self.log_path.stat().st_size
            output = open(self.log_path, "ab" if append else "wb")  # closed below: the child keeps its own copy
        with output as out:
            self.popen = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                          start_new_session=True)

    @property
    def pid(self) -> int:
        """The command's PID, which is also its session id."""
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def poll(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout_s: float, *, on_line: Callable[[str], None] | None = None,
             on_poll: Callable[[], None] | None = None, poll_s: float = 0.25) -> int | None:
        """Wait up to ``timeout_s`` for the command to exit: its exit code, or None if it still runs.

        ``on_line`` gets each line the command writes to its log, shortly after it is written;
        ``on_poll`` is called every ``poll_s`` seconds while waiting.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            code = self.popen.poll()
            if on_poll is not None:
                on_poll()
            if on_line is not None:
                self._follow_log(on_line, to_the_end=code is not None)
            remaining = deadline - time.monotonic()
            if code is not None or remaining <= 0:
                return code
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=min(poll_s, remaining))

    def _follow_log(self, on_line: Callable[[str], None], *, to_the_end: bool) -> None:
        if self.log_path is None:
            raise ValueError("on_line needs a log file: pass log_path")
        with open(self.log_path, "rb") as log:
            log.seek(self._log_read_to)
            chunk = log.read()
        lines = chunk.split(b"\n")
        unfinished = lines.pop()  # empty when the chunk ends with a newline
        if to_the_end and unfinished:
            lines.append(unfinished)
            unfinished = b""
        self._log_read_to += len(chunk) - len(unfinished)
        for line in lines:
            on_line(line.decode(errors="replace").rstrip("\r"))

    def stop(self, *, grace_s: float = 0.0, term_grace_s: float = TERM_GRACE_S, poll_s: float = 0.1) -> list[str]:
        """Stop every process of the session (see :func:`stop_session`) and collect the command's exit code.

        Returns the processes that had to be stopped; safe to call more than once.
        """
        stopped = stop_session(self.pid, grace_s=grace_s, term_grace_s=term_grace_s, poll_s=poll_s)
        self.popen.wait()
        return stopped

    def __enter__(self) -> SessionProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
