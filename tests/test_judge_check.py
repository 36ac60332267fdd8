"""`fadtq judge-check`: the health check against the real CPU judge, and its one-line errors."""

import socket

import pytest

from fadtq.cli import main


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.judge
def test_judge_check_scores_three_texts(judge_url, capsys):
    assert main(["judge-check", "--url", judge_url + "/v1", "--model", "Qwen/Qwen3-8B"]) == 0
    out = capsys.readouterr().out
    for name in ("concise, compares", "rambling", "injection"):
        line = next(line for line in out.splitlines() if line.strip().startswith(name))
        assert "conciseness" in line and "relevance" in line and line.rstrip().endswith(" s")
    assert "3/3 judged" in out


@pytest.mark.parametrize("url,fragment", [
    ("not a url", "not a judge URL"),
    ("ftp://judge:21", "not a judge URL"),
    (f"http://127.0.0.1:{closed_port()}", "3 of 3 requests failed"),
])
def test_judge_check_errors_are_one_line(url, fragment, capsys):
    assert main(["judge-check", "--url", url, "--timeout", "5"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("fadtq judge-check: error: ") and fragment in err[0]
    assert " — " in err[0]  # says what to do
