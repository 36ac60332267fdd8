"""Does RL learn, for every seed? Runs `fadtq demo --learn` once per seed and tabulates learning.json.

    python scripts/bench_learning.py                       # seeds 0 1 2, ~19 min each on 2 cores
    python scripts/bench_learning.py --seeds 3 --steps 100 --no-judge -- [extra fadtq demo arguments]

Prints, per seed, held-out accuracy before → after, the rise in points, the Balance Score (as a share of
its maximum, 1), the share of held-out pairs whose reasoning names the right class (verl's first and last
validation), training minutes, and whether the issue's goal was met (rise ≥ 20 points, after ≥ 75 %,
Balance Score ≥ 0.8, training ≤ 20 min). A seed whose run failed is listed as failed and the script
exits 1. Writes ``summary.json`` next to the runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

GOAL = {"rise": 0.20, "after": 0.75, "balance_after": 0.80, "train_minutes": 20.0}


def goal_met(result: dict) -> bool:
    return (result["after"] - result["before"] >= GOAL["rise"] and result["after"] >= GOAL["after"]
            and result["balance_after"] >= GOAL["balance_after"]
            and result["train_seconds"] / 60 <= GOAL["train_minutes"])


def reasoning(result: dict) -> str:
    points = [p.get("reasoning_accuracy") for p in result.get("validation", [])]
    return f"{points[0]:.0%} → {points[-1]:.0%}" if points and None not in points else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="runs/learn", help="one folder per seed under it (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=None, help="GPG steps (default: fadtq demo --learn's)")
    parser.add_argument("--no-judge", action="store_true")
    parser.add_argument("extra", nargs="*", help="more `fadtq demo` arguments (after --)")
    args = parser.parse_args()

    rows = []
    for seed in args.seeds:
        out = Path(args.out) / f"seed{seed}"
        cmd = [sys.executable, "-m", "fadtq", "demo", "--learn", "--seed", str(seed), "--out", str(out), *args.extra]
        cmd += ["--steps", str(args.steps)] if args.steps else []
        cmd += ["--no-judge"] if args.no_judge else []
        print(f"seed {seed}: {' '.join(cmd)}", flush=True)
        done = subprocess.run(cmd).returncode == 0 and (out / "learning.json").is_file()
        rows.append(json.loads((out / "learning.json").read_text()) if done else {"seed": seed, "failed": True})

    print(f"\n{'seed':>4}  {'before':>7}  {'after':>7}  {'rise':>7}  {'BS before':>9}  {'BS after':>8}  "
          f"{'reasoning':>11}  {'steps':>5}  {'train min':>9}  goal")
    for row in rows:
        if row.get("failed"):
            print(f"{row['seed']:>4}  failed (see its folder's logs/)")
            continue
        print(f"{row['seed']:>4}  {row['before']:>7.1%}  {row['after']:>7.1%}  "
              f"{100 * (row['after'] - row['before']):>+6.1f}p  {row['balance_before']:>9.2f}  "
              f"{row['balance_after']:>8.2f}  {reasoning(row):>11}  {row['steps']:>5}  {row['train_seconds'] / 60:>9.1f}  "
              f"{'met' if goal_met(row) else 'not met'}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "summary.json").write_text(json.dumps({"goal": GOAL, "runs": rows}, indent=1) + "\n")
    return 1 if any(row.get("failed") for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
