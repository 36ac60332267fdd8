"""A training command bounded in time: its session's memory summed while it runs, what outlives it reported."""

import os
import sys

import psutil

from fadtq.backends.cpu.bounded_run import run_in_own_session

# Starts a child in a process group of its own (as daemons do), prints its PID and exits.
SPAWN_STRAY = ("import subprocess, sys; "
               "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], process_group=0); "
               "print(p.pid, flush=True)")
ALLOCATED = 300 * 2**20


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # killed, not yet collected by init
    except psutil.NoSuchProcess:
        return True


def test_peak_memory_of_the_session_is_measured(tmp_path):
    code = f"import time; block = b'x' * {ALLOCATED}; time.sleep(2); print('done')"
    run = run_in_own_session([sys.executable, "-c", code], env=dict(os.environ), log_path=tmp_path / "run.log",
                             timeout_s=60, poll_s=0.2)
    assert (run.returncode, run.timed_out, run.leftovers) == (0, False, [])
    assert ALLOCATED <= run.peak_rss_bytes < 3 * ALLOCATED
    assert 2 <= run.wall_s < 30
    assert (tmp_path / "run.log").read_text() == "done\n"


def test_a_command_past_its_time_is_stopped(tmp_path):
    run = run_in_own_session([sys.executable, "-c", "import time; time.sleep(60)"], env=dict(os.environ),
                             log_path=tmp_path / "run.log", timeout_s=1, poll_s=0.2)
    assert run.timed_out and run.returncode < 0
    assert 1 <= run.wall_s < 15


def test_what_outlives_the_command_is_reported_and_stopped(tmp_path):
    run = run_in_own_session([sys.executable, "-c", SPAWN_STRAY], env=dict(os.environ), log_path=tmp_path / "run.log",
                             timeout_s=60, exit_grace_s=0.5, poll_s=0.1)
    stray = int((tmp_path / "run.log").read_text())
    try:
        assert run.returncode == 0 and not run.timed_out
        assert [int(entry.split()[0]) for entry in run.leftovers] == [stray]
        assert "time.sleep(120)" in run.leftovers[0]
        assert gone(stray)
    finally:
        if not gone(stray):
            os.kill(stray, 9)
