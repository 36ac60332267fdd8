"""Run a training command in its own session, bounded in time, and leave nothing behind.

A verl run starts a private Ray cluster: a dozen processes (GCS, raylet, TaskRunner, workers,
TransferQueue actors, the rollout server). Started in a new session, every one of them keeps that
session id, so they can be measured (summed RSS) and, at the end, killed by PID — without
``ray stop``, which would also hit other Ray clusters on the machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil


@dataclass
class BoundedRun:
    returncode: int
    wall_s: float
    peak_rss_bytes: int  # summed over the session's processes (shared pages count once per process)
    timed_out: bool
    leftovers: list[str] = field(default_factory=list)  # "pid cmdline" of processes that outlived the grace period


def session_processes(session_id: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == session_id:
                found.append(proc)
        except (OSError, psutil.Error):
            continue
    return found


def summed_rss(processes: list[psutil.Process]) -> int:
    total = 0
    for proc in processes:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


def _describe(proc: psutil.Process) -> str:
    try:
        return f"{proc.pid} {' '.join(proc.cmdline())[:160]}"
    except psutil.Error:
        return str(proc.pid)


def run_in_own_session(cmd: list[str], *, env: dict[str, str], log_path: Path, timeout_s: float,
                       exit_grace_s: float = 30.0, poll_s: float = 1.0, cwd: Path | None = None) -> BoundedRun:
    """Run ``cmd`` (stdout+stderr to ``log_path``) in a new session; kill the session after ``timeout_s``.

    After the command exits, its session gets ``exit_grace_s`` to wind down (Ray's processes exit
    shortly after a clean driver exit); whatever is still there is reported and killed by PID.
    """
    start = time.monotonic()
    peak = 0
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
        try:
            while proc.poll() is None and time.monotonic() - start < timeout_s:
                peak = max(peak, summed_rss(session_processes(proc.pid)))
                time.sleep(poll_s)
            timed_out = proc.poll() is None
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    wall = time.monotonic() - start
    return BoundedRun(returncode=proc.returncode, wall_s=wall, peak_rss_bytes=peak, timed_out=timed_out,
                      leftovers=reap_session(proc.pid, grace_s=exit_grace_s, poll_s=poll_s))


def reap_session(session_id: int, *, grace_s: float = 0.0, poll_s: float = 1.0) -> list[str]:
    """Give the session's processes ``grace_s`` to exit, then kill the rest by PID; returns them as "pid cmdline".

    Killing the process group is not enough: a child may start its own group and keep the session.
    """
    deadline = time.monotonic() + grace_s
    while session_processes(session_id) and time.monotonic() < deadline:
        time.sleep(poll_s)
    leftovers = session_processes(session_id)
    described = [_describe(p) for p in leftovers]
    for p in leftovers:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(leftovers, timeout=10)
    return described
