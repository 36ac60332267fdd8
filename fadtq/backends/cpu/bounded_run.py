"""Run a training command in its own session, bounded in time and measured, and leave nothing behind.

A verl run starts a private Ray cluster: a dozen processes (GCS, raylet, TaskRunner, workers,
TransferQueue actors, the rollout server), all in the command's session (:mod:`fadtq.process_session`),
so their memory is summed while it runs and whatever outlives it is reported and stopped.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from fadtq.process_session import SessionProcess, session_processes


@dataclass
class BoundedRun:
    returncode: int
    wall_s: float
    peak_rss_bytes: int  # summed over the session's processes (shared pages count once per process)
    timed_out: bool
    leftovers: list[str] = field(default_factory=list)  # "pid cmdline" of processes that outlived the grace period


def summed_rss(processes: list[psutil.Process]) -> int:
    total = 0
    for proc in processes:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


def run_in_own_session(cmd: list[str], *, env: dict[str, str], log_path: Path, timeout_s: float,
                       exit_grace_s: float = 30.0, poll_s: float = 1.0, cwd: Path | None = None,
                       on_line: Callable[[str], None] | None = None) -> BoundedRun:
    """Run ``cmd`` (stdout+stderr to ``log_path``, each line to ``on_line``) in a new session; stop the
    session after ``timeout_s``.

    After the command exits, its session gets ``exit_grace_s`` to wind down (Ray's processes exit
    shortly after a clean driver exit); whatever is still there is reported and stopped.
    """
    start = time.monotonic()
    proc = SessionProcess(cmd, log_path, env=env, cwd=cwd)
    peak = 0

    def sample_memory() -> None:
        nonlocal peak
        peak = max(peak, summed_rss(session_processes(proc.pid)))

    try:
        timed_out = proc.wait(timeout_s, on_line=on_line, on_poll=sample_memory, poll_s=poll_s) is None
        wall = time.monotonic() - start
    finally:
        leftovers = proc.stop(grace_s=0.0 if proc.poll() is None else exit_grace_s, poll_s=poll_s)
    return BoundedRun(returncode=proc.returncode, wall_s=wall, peak_rss_bytes=peak, timed_out=timed_out,
                      leftovers=leftovers)


@dataclass(frozen=True)
class PrivateRayCluster:
    env: dict[str, str]  # the caller's environment without RAY_ADDRESS
    temp_dir: str

    @property
    def overrides(self) -> list[str]:
        """The launcher's Hydra overrides that start this cluster."""
        return ["ray_kwargs.ray_init.address=local", f"+ray_kwargs.ray_init._temp_dir={self.temp_dir}"]


@contextmanager
def private_ray_cluster(env: Mapping[str, str]) -> Iterator[PrivateRayCluster]:
    """A run's own Ray cluster, so it never attaches to (or cleans up) another one: no inherited
    ``RAY_ADDRESS``, ``address=local``, and a fresh temp dir with a short path (Ray's socket paths are
    length-limited), removed afterwards."""
    temp_dir = tempfile.mkdtemp(prefix="fadtq-ray-")
    try:
        yield PrivateRayCluster({k: v for k, v in env.items() if k != "RAY_ADDRESS"}, temp_dir)
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
