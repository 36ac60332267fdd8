"""Reaping a command's session: what a Ray-starting command leaves behind is found and killed by PID."""

import os
import subprocess
import sys

import psutil

from fadtq.backends.cpu.bounded_run import reap_session

# Starts a child in a process group of its own (as daemons do), prints its PID and exits.
SPAWN_STRAY = ("import subprocess, sys; "
               "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], process_group=0); "
               "print(p.pid, flush=True)")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # killed, not yet collected by init
    except psutil.NoSuchProcess:
        return True


def start_session_with_stray() -> tuple[int, int]:
    parent = subprocess.Popen([sys.executable, "-c", SPAWN_STRAY], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    stray = int(parent.stdout.readline())
    parent.wait()
    return parent.pid, stray


def test_reap_kills_a_process_that_left_the_group_but_kept_the_session():
    session, stray = start_session_with_stray()
    try:
        assert os.getsid(stray) == session and os.getpgid(stray) != session  # killpg(session) would miss it
        leftovers = reap_session(session)
        assert [int(entry.split()[0]) for entry in leftovers] == [stray]
        assert "time.sleep(120)" in leftovers[0]
        assert gone(stray)
    finally:
        if not gone(stray):
            os.kill(stray, 9)


def test_a_session_that_winds_down_within_the_grace_is_not_reported():
    session = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    assert reap_session(session.pid, grace_s=0) != []  # still running: reported and killed
    session.wait()
    quiet = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    quiet.wait()
    assert reap_session(quiet.pid, grace_s=5, poll_s=0.1) == []
