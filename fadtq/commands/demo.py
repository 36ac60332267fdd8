"""`fadtq demo`: one FAD-TQ pipeline end to end on this CPU machine."""

from __future__ import annotations

import argparse
import os

from fadtq.demo import STAGES, DemoOptions

NAME = "demo"
HELP = "run the whole pipeline on CPU: " + " → ".join(stage.name for stage in STAGES)
DESCRIPTION = "Walk one FAD-TQ step end to end, offline, on a CPU, with the real commands:\n\n" + "\n".join(
    f"  {number}. {stage.title}" for number, stage in enumerate(STAGES, start=1)
)
DEFAULTS = DemoOptions()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=str(DEFAULTS.out), help="output folder (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=DEFAULTS.steps, help="GPG training steps (default: %(default)s)")
    parser.add_argument("--rollouts", type=int, default=DEFAULTS.rollouts,
                        help="rollouts per prompt (default: %(default)s)")
    parser.add_argument("--warmup-steps", type=int, default=DEFAULTS.warmup_steps,
                        help="supervised format warm-up steps of the tiny model (default: %(default)s)")
    parser.add_argument("--eval-limit", type=int, default=DEFAULTS.eval_limit,
                        help="evaluate only the first N test pairs; the report then counts the others as missing "
                             "(default: the whole test split)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fadtq.demo import run_demo

    return run_demo(DemoOptions(out=Path(args.out), steps=args.steps, rollouts=args.rollouts,
                                warmup_steps=args.warmup_steps, eval_limit=args.eval_limit,
                                judge_url=os.environ.get("FADTQ_JUDGE_URL")))
