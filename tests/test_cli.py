"""`fadtq --help` lists every subcommand and each subcommand's --help works."""

import subprocess
import sys

from fadtq import cli


def test_help_lists_every_command_module():
    names = [m.NAME for m in cli._command_modules()]
    result = subprocess.run([sys.executable, "-m", "fadtq", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for name in names:
        assert name in result.stdout
        sub = subprocess.run([sys.executable, "-m", "fadtq", name, "--help"], capture_output=True, text=True)
        assert sub.returncode == 0, sub.stderr
