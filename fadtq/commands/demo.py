"""`fadtq demo`: one FAD-TQ pipeline end to end on this CPU machine."""

from __future__ import annotations

import argparse
import os

NAME = "demo"
HELP = "run the whole pipeline on CPU: data → tiny model → judge → GPG steps in verl → eval + report → GPU config"
DESCRIPTION = """\
Walk one FAD-TQ step end to end, offline, on a CPU, with the real commands:

  1. synthetic MVTec-LOCO-layout images → Pair3C (the real builder);
  2. a tiny random Qwen2.5-VL, warmed up on the answer format;
  3. a real OpenAI-compatible judge server on CPU (or FADTQ_JUDGE_URL);
  4. GPG steps through verl's trainer with the CPU backend and the FAD-TQ reward, with per-step
     metrics and one step's rollouts (answer, r_format, r_acc, r_tq, R, A);
  5. evaluation of the trained checkpoint and the report (tables, plots, HTML);
  6. the paper's GPU config validated by verl, and the command that trains it on a cluster.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", help="output folder (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=3, help="GPG training steps (default: %(default)s)")
    parser.add_argument("--rollouts", type=int, default=4, help="rollouts per prompt (default: %(default)s)")
    parser.add_argument("--warmup-steps", type=int, default=400,
                        help="supervised format warm-up steps of the tiny model (default: %(default)s)")
    parser.add_argument("--eval-limit", type=int, default=None,
                        help="evaluate only the first N test pairs; the report then counts the others as missing "
                             "(default: the whole test split)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fadtq.demo import DemoOptions, run_demo

    return run_demo(DemoOptions(out=Path(args.out), steps=args.steps, rollouts=args.rollouts,
                                warmup_steps=args.warmup_steps, eval_limit=args.eval_limit,
                                judge_url=os.environ.get("FADTQ_JUDGE_URL")))
