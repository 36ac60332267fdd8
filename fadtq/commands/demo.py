"""`fadtq demo`: one FAD-TQ pipeline end to end on this CPU machine."""

from __future__ import annotations

import argparse
import os

from fadtq.demo import STAGES, DemoOptions
from fadtq.demo_learn import STAGES as LEARN_STAGES
from fadtq.demo_learn import LearnOptions

NAME = "demo"
HELP = "run the whole pipeline on CPU: " + " → ".join(stage.name for stage in STAGES)
DESCRIPTION = (
    "Walk one FAD-TQ step end to end, offline, on a CPU, with the real commands:\n\n"
    + "\n".join(f"  {number}. {stage.title}" for number, stage in enumerate(STAGES, start=1))
    + "\n\nWith --learn, measure whether RL lifts a weak base's held-out accuracy (~19 min on 2 cores):\n\n"
    + "\n".join(f"  {number}. {title}" for number, (title, _) in enumerate(LEARN_STAGES, start=1))
)
DEFAULTS = DemoOptions()
LEARN_DEFAULTS = LearnOptions()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=None,
                        help=f"output folder (default: {DEFAULTS.out}; with --learn {LEARN_DEFAULTS.out})")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"GPG training steps (default: {DEFAULTS.steps}; with --learn {LEARN_DEFAULTS.steps})")
    parser.add_argument("--rollouts", type=int, default=DEFAULTS.rollouts,
                        help="rollouts per prompt (default: %(default)s)")
    parser.add_argument("--warmup-steps", type=int, default=DEFAULTS.warmup_steps,
                        help="supervised format warm-up steps of the tiny model (default: %(default)s)")
    parser.add_argument("--eval-limit", type=int, default=DEFAULTS.eval_limit,
                        help="evaluate only the first N test pairs; the report then counts the others as missing "
                             "(default: the whole test split)")
    learn = parser.add_argument_group("--learn: does RL lift a weak base? (writes learning.json, learning_curve.png)")
    learn.add_argument("--learn", action="store_true", help="run the learning demo instead of the walk-through")
    learn.add_argument("--seed", type=int, default=LEARN_DEFAULTS.seed,
                       help="seed of the images, the tiny model, the warm-up and the trainer (default: %(default)s)")
    learn.add_argument("--no-judge", action="store_true",
                       help="no thinking-quality term: reward = r_format + r_acc (default: the CPU judge scores it)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fadtq.demo import run_demo
    from fadtq.demo_learn import run_learn_demo

    if args.learn:
        return run_learn_demo(LearnOptions(out=Path(args.out or LEARN_DEFAULTS.out), seed=args.seed,
                                           steps=args.steps or LEARN_DEFAULTS.steps, judge=not args.no_judge,
                                           judge_url=os.environ.get("FADTQ_JUDGE_URL")))
    return run_demo(DemoOptions(out=Path(args.out or DEFAULTS.out), steps=args.steps or DEFAULTS.steps,
                                rollouts=args.rollouts,
                                warmup_steps=args.warmup_steps, eval_limit=args.eval_limit,
                                judge_url=os.environ.get("FADTQ_JUDGE_URL")))
