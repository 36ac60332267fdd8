"""One process runner: a command in a session of its own, its log followed, and everything it started stopped."""

import os
import subprocess
import sys
import time

import psutil

from fadtq.process_session import SessionProcess, stop_session

# Starts a child in a process group of its own (as daemons do), prints its PID and exits.
SPAWN_STRAY = ("import subprocess, sys; "
               "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], process_group=0); "
               "print(p.pid, flush=True)")

# Starts two grandchildren, one in its own process group, one in ours; prints their PIDs and keeps running.
SPAWN_AND_STAY = ("import subprocess, sys, time; "
                  "sleep = [sys.executable, '-c', 'import time; time.sleep(120)']; "
                  "a = subprocess.Popen(sleep, process_group=0); b = subprocess.Popen(sleep); "
                  "print(a.pid, b.pid, flush=True); time.sleep(120)")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # killed, not yet collected by init
    except psutil.NoSuchProcess:
        return True


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def wait_for_line(path, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if text.endswith("\n"):
            return text
        time.sleep(0.05)
    raise AssertionError(f"no line in {path} after {timeout_s} s")


def start_session_with_stray() -> tuple[int, int]:
    parent = subprocess.Popen([sys.executable, "-c", SPAWN_STRAY], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    stray = int(parent.stdout.readline())
    parent.wait()
    return parent.pid, stray


def test_stop_leaves_neither_the_command_nor_its_grandchildren(tmp_path):
    log = tmp_path / "spawn.log"
    proc = SessionProcess(python(SPAWN_AND_STAY), log)
    grandchildren = [int(pid) for pid in wait_for_line(log).split()]
    try:
        own_group, same_group = grandchildren
        assert os.getpgid(own_group) != proc.pid and os.getpgid(same_group) == proc.pid  # killpg would miss one
        stopped = proc.stop()
        assert sorted(int(entry.split()[0]) for entry in stopped) == sorted([proc.pid, *grandchildren])
        assert all(gone(pid) for pid in [proc.pid, *grandchildren])
        assert proc.returncode == -15  # SIGTERM was enough
        assert proc.stop() == []  # a second stop finds nothing
    finally:
        for pid in grandchildren:
            if not gone(pid):
                os.kill(pid, 9)


def test_sigterm_first_then_sigkill_for_a_command_that_ignores_it(tmp_path):
    graceful = SessionProcess(python("import signal, sys, time\n"
                                     "def clean_up(*_): print('cleaned up', flush=True); sys.exit(0)\n"
                                     "signal.signal(signal.SIGTERM, clean_up)\n"
                                     "print('ready', flush=True); time.sleep(60)"), tmp_path / "graceful.log")
    wait_for_line(tmp_path / "graceful.log")
    graceful.stop()
    assert graceful.returncode == 0 and "cleaned up" in (tmp_path / "graceful.log").read_text()

    stubborn = SessionProcess(python("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                     "print('ready', flush=True); time.sleep(60)"), tmp_path / "stubborn.log")
    wait_for_line(tmp_path / "stubborn.log")
    started = time.monotonic()
    stubborn.stop(term_grace_s=1.0)
    assert stubborn.returncode == -9 and 1.0 <= time.monotonic() - started < 15


def test_wait_times_out_and_stop_ends_it(tmp_path):
    with SessionProcess(python("import time; time.sleep(60)"), tmp_path / "sleep.log") as proc:
        started = time.monotonic()
        assert proc.wait(0.5) is None
        assert 0.5 <= time.monotonic() - started < 10
        assert proc.poll() is None
    assert proc.returncode is not None and gone(proc.pid)


def test_output_lands_in_the_log_and_each_line_reaches_on_line_while_it_runs(tmp_path):
    log, seen_first = tmp_path / "out.log", tmp_path / "seen_first"
    # The command goes on only once on_line has seen its first line: a follower that read the log only
    # after the command exited would leave it waiting until the timeout.
    code = ("import os, sys, time\n"
            "print('first line', flush=True)\n"
            f"while not os.path.exists({str(seen_first)!r}): time.sleep(0.05)\n"
            "print('to stderr', file=sys.stderr, flush=True)\n"
            "sys.stdout.write('no newline at the end'); sys.stdout.flush(); sys.exit(3)")
    lines = []

    def on_line(line):
        lines.append(line)
        if line == "first line":
            seen_first.touch()

    with SessionProcess(python(code), log) as proc:
        assert proc.wait(60, on_line=on_line, poll_s=0.05) == 3
    assert lines == ["first line", "to stderr", "no newline at the end"]
    assert log.read_text() == "first line\nto stderr\nno newline at the end"


def test_append_keeps_the_log_and_follows_only_the_new_lines(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("earlier run\n")
    lines = []
    with SessionProcess(python("print('this run')"), log, append=True) as proc:
        assert proc.wait(60, on_line=lines.append) == 0
    assert lines == ["this run"] and log.read_text() == "earlier run\nthis run\n"


def test_environment_and_working_directory_reach_the_command(tmp_path):
    with SessionProcess(python("import os; print(os.environ['PROBE'], os.getcwd(), os.getsid(0) == os.getpid())"),
                        tmp_path / "env.log", env={**os.environ, "PROBE": "probe-value"}, cwd=tmp_path) as proc:
        assert proc.wait(60) == 0
    assert (tmp_path / "env.log").read_text().split() == ["probe-value", str(tmp_path), "True"]


def test_stop_session_kills_a_process_that_left_the_group_but_kept_the_session():
    session, stray = start_session_with_stray()
    try:
        assert os.getsid(stray) == session and os.getpgid(stray) != session  # killpg(session) would miss it
        leftovers = stop_session(session)
        assert [int(entry.split()[0]) for entry in leftovers] == [stray]
        assert "time.sleep(120)" in leftovers[0]
        assert gone(stray)
    finally:
        if not gone(stray):
            os.kill(stray, 9)


def test_a_session_that_winds_down_within_the_grace_is_not_reported():
    session = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    assert stop_session(session.pid, grace_s=0) != []  # still running: reported and killed
    session.wait()
    quiet = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    quiet.wait()
    assert stop_session(quiet.pid, grace_s=5, poll_s=0.1) == []
