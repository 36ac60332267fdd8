"""`fadtq --help` lists every subcommand and each subcommand's --help works."""

import os
import subprocess
import sys

import pytest

from fadtq import cli


def test_help_lists_every_command_module():
    names = [m.NAME for m in cli._command_modules()]
    result = subprocess.run([sys.executable, "-m", "fadtq", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for name in names:
        assert name in result.stdout
        sub = subprocess.run([sys.executable, "-m", "fadtq", name, "--help"], capture_output=True, text=True)
        assert sub.returncode == 0, sub.stderr


def test_train_takes_overrides_before_and_after_its_options(capsys):
    """`fadtq train` and its alias `python -m fadtq.train` hand every override to the same composition."""
    from fadtq import train

    for main, args in ((cli.main, ["train", "+experiment=gpg", "--dry-run", "trainer.total_epoch=1"]),
                       (train.main, ["+experiment=gpg", "--dry-run", "trainer.total_epoch=1"])):
        assert main(args) == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("fadtq.train: error:")]
        assert len(errors) == 1 and "did you mean trainer.total_epochs" in errors[0], errors


def test_train_refuses_an_unknown_option(capsys):
    assert cli.main(["train", "+experiment=gpg", "--dryrun"]) == 2
    assert "unknown option(s) ['--dryrun']" in capsys.readouterr().err


def test_other_commands_refuse_stray_arguments(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["judge-check", "--url", "127.0.0.1:1", "stray"])
    assert exit_.value.code == 2 and "unrecognized arguments: stray" in capsys.readouterr().err


def test_serve_judge_needs_an_engine(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["serve-judge"])
    assert exit_.value.code == 2 and "--cpu" in capsys.readouterr().err


def test_serve_judge_vllm_without_vllm_is_one_line(tmp_path):
    environment = {**os.environ, "PATH": str(tmp_path)}  # no vllm there
    result = subprocess.run([sys.executable, "-m", "fadtq", "serve-judge", "--vllm"], capture_output=True, text=True,
                            env=environment, timeout=60)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "fadtq serve-judge: error: vllm not found — pip install 'fadtq[gpu]' on the judge node"]
