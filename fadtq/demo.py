"""`fadtq demo`: one FAD-TQ pipeline end to end on a CPU machine, through the real commands.

Each stage runs the command a researcher would run (its output goes to a log file under the demo
folder), so the demo proves the user-facing tools, not a shortcut through them:

1. synthetic MVTec-LOCO-layout images → the real Pair3C builder;
2. the offline tiny Qwen2.5-VL (built or reused);
3. the real CPU judge server (or ``FADTQ_JUDGE_URL``);
4. real GPG steps through verl's trainer with the CPU backend, our reward and the judge;
5. evaluation of the trained checkpoint on the synthetic test pairs, and the report;
6. the paper's GPU config composed and validated by verl (``--dry-run``), and the command that
   would train it on a cluster.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console(highlight=False)


class StageFailed(RuntimeError):
    pass


@dataclass
class DemoOptions:
    out: Path
    steps: int = 3
    prompts_per_step: int = 2
    rollouts: int = 4
    eval_limit: int = 12
    judge_url: str | None = None
    keep_judge: bool = False


@dataclass
class DemoState:
    options: DemoOptions
    started: float = field(default_factory=time.monotonic)
    files: dict[str, Path] = field(default_factory=dict)
    judge_note: str = ""


def run_logged(cmd: list[str], log: Path, *, env: dict | None = None, timeout_s: float = 1800,
               watch: str | None = None) -> None:
    """Run ``cmd`` in its own session, output to ``log``; echo lines containing ``watch``; kill the group after."""
    log.parent.mkdir(parents=True, exist_ok=True)
    console.print(f"  [dim]$ {shlex.join(cmd)}[/dim]")
    full_env = {**os.environ, **(env or {})}
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full_env,
                                start_new_session=True, bufsize=1)
        deadline = time.monotonic() + timeout_s
        try:
            for line in proc.stdout:
                fh.write(line)
                if watch and watch in line:
                    console.print(f"  {line.rstrip()[:160]}")
                if time.monotonic() > deadline:
                    raise StageFailed(f"timed out after {timeout_s:.0f} s — see {log}")
            proc.wait()
        finally:
            try:  # everything the command started (Ray workers included) goes with it
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if proc.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise StageFailed(f"`{cmd[0]} …` exited with {proc.returncode} — full log: {log}\n{tail}")


def fadtq_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "fadtq", *args]


def print_step_metrics(metrics_file: Path) -> None:
    """Per-step training metrics from verl's file logger (one JSON object per step)."""
    if not metrics_file.exists():
        console.print(f"  [yellow]no metrics file at {metrics_file}[/yellow]")
        return
    wanted = [("critic/score/mean", "R mean"), ("reward/r_format/mean", "r_format"), ("reward/r_acc/mean", "r_acc"),
              ("reward/r_tq/mean", "r_tq"), ("reward/judge_fail_rate", "judge fail"), ("actor/pg_loss", "pg_loss"),
              ("actor/grad_norm", "grad_norm"), ("training/rollout_probs_diff_max", "rollout Δp max"),
              ("timing_s/step", "step s")]
    table = Table(title="per-step training metrics (verl file logger)")
    table.add_column("step", justify="right")
    for _, label in wanted:
        table.add_column(label, justify="right")
    for line in metrics_file.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        data = entry.get("data", entry)
        if "actor/pg_loss" not in data:
            continue  # validation-only lines
        row = [str(entry.get("step", data.get("training/global_step", "")))]
        row += [f"{data[k]:.4g}" if isinstance(data.get(k), (int, float)) else "–" for k, _ in wanted]
        table.add_row(*row)
    console.print(table)


def print_rollout_table(dump_dir: Path, max_rows: int = 16) -> None:
    """One step's rollouts: answer, sub-rewards, R and the GPG advantage, from the trainer's own dump."""
    dumps = sorted(dump_dir.glob("*.jsonl"), key=lambda p: int(p.stem) if p.stem.isdigit() else -1)
    if not dumps:
        console.print(f"  [yellow]no rollout dump in {dump_dir}[/yellow]")
        return
    rows = [json.loads(line) for line in dumps[-1].read_text().splitlines() if line.strip()]
    table = Table(title=f"rollouts of step {dumps[-1].stem} (group = one prompt; A = fadtq_gpg advantage)")
    for col in ("group", "gt", "answer", "r_format", "r_acc", "r_tq", "judge_ok", "R", "A"):
        table.add_column(col, justify="right" if col not in ("gt", "answer") else "left")
    for row in rows[:max_rows]:
        def fmt(key):
            value = row.get(key)
            return f"{value:.3g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value if value is not None else "–")
        group = str(row.get("uid", "")).rsplit("_", 2)[0][-6:]
        answer = str(row.get("pred") or "–")
        table.add_row(group, str(row.get("gts")), answer, fmt("r_format"), fmt("r_acc"), fmt("r_tq"), fmt("judge_ok"),
                      fmt("score"), fmt("advantage"))
    console.print(table)
