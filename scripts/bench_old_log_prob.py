#!/usr/bin/env python
"""Benchmark: the old-log-prob pass the ratio-free gpg loss never reads, skipped vs computed, in one run.

Trains the same config three times through verl's real trainer on CPU (tiny Qwen2.5-VL, synthetic
Pair3C, no judge: +experiment=gpg), a few steps each:

- ``gpg, skipped``: fadtq.skip_old_log_prob=true (default) — the rollout's log-probs are stored;
- ``gpg, computed`` (the baseline): fadtq.skip_old_log_prob=false — verl's forward pass over the batch;
- ``grpo (no KL)``: +experiment=grpo, whose ratio needs the pass, for scale (without its KL term:
  verl's FSDP2 engine pins the reference model's memory through CUDA, so it cannot run on CPU).

Prints, per run, the median and best over steps 2.. of verl's ``timing_s/old_log_prob`` and
``timing_s/step``, and the step-time ratio of the baseline over the skipped run. No ratio is printed
if a run failed.
The saving on the paper's 3B run is worked out on paper in recipes/README.md.

    python scripts/bench_old_log_prob.py              # 4 steps each
    python scripts/bench_old_log_prob.py --steps 6 --json
"""

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from _bench import Bench, bench_parser

from fadtq.backends.cpu.bounded_run import private_ray_cluster, run_in_own_session

RUNS = {
    "gpg, skipped": ["+experiment=gpg", "fadtq.skip_old_log_prob=true"],
    "gpg, computed": ["+experiment=gpg", "fadtq.skip_old_log_prob=false"],
    # No KL on CPU: verl's FSDP2 engine pins the reference model's memory through CUDA.
    "grpo (no KL)": ["+experiment=grpo", "actor_rollout_ref.actor.use_kl_loss=false"],
}


def prepare(work: Path) -> tuple[str, dict]:
    from fadtq.data.build import build_pair3c
    from fadtq.offline.synth_loco import SMALL_PER_CLASS, generate_loco_tree
    from fadtq.offline.tiny_qwen2_5_vl import build_tiny_qwen2_5_vl

    model = build_tiny_qwen2_5_vl(work / "model")
    data = build_pair3c(generate_loco_tree(work / "loco", counts="small"), work / "pair3c",
                        per_class=SMALL_PER_CLASS, max_pixels=16 * 28 * 28, progress=False)
    return str(model), data.files


def train(bench: Bench, name: str, overrides: list[str], model: str, files: dict, steps: int,
          work: Path) -> dict[str, list[float]]:
    """verl's timings of steps 2.. by key (``step``, ``old_log_prob``); RuntimeError if the run failed."""
    run_dir = work / name.replace(", ", "_").replace(" ", "_")
    env = {**os.environ, "FADTQ_RUN_DIR": str(run_dir), "VERL_FILE_LOGGER_PATH": str(run_dir / "metrics.jsonl"),
           "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "fadtq.train", "+backend=cpu", *overrides, f"data.train_files={files['train']}",
           f"data.val_files={files['test']}", f"actor_rollout_ref.model.path={model}",
           f"trainer.total_training_steps={steps}", "trainer.save_freq=-1", "trainer.test_freq=-1",
           "trainer.val_before_train=false"]
    run_dir.mkdir(parents=True, exist_ok=True)
    bench.say(f"[{name}] training {steps} steps …")
    with private_ray_cluster(env) as ray:
        run = run_in_own_session(cmd + ray.overrides, env=ray.env, log_path=run_dir / "train.log", timeout_s=1800)
    if run.timed_out or run.returncode != 0:
        raise RuntimeError(f"training {'timed out' if run.timed_out else 'failed'} — see {run_dir / 'train.log'}")
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    measured = [row["data"] for row in rows if row["step"] >= 2 and "timing_s/step" in row["data"]]
    if not measured:
        raise RuntimeError(f"no step timings in {run_dir / 'metrics.jsonl'}")
    return {key: [d.get(f"timing_s/{key}", 0.0) for d in measured] for key in ("step", "old_log_prob")}


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--steps", type=int, default=4, help="training steps per run (step 1 is not timed)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the runs' folders here")
    args = parser.parse_args()
    if args.steps < 2:
        parser.error("--steps must be at least 2 (step 1 includes warm-up and is not timed)")
    bench = Bench("old_log_prob", args)
    work = args.keep or Path(tempfile.mkdtemp(prefix="fadtq-bench-olp-"))
    model, files = prepare(work)
    for name, overrides in RUNS.items():
        try:
            timings = train(bench, name, overrides, model, files, args.steps, work)
        except RuntimeError as exc:
            bench.fail(f"{name}: step", str(exc))
            continue
        bench.record(f"{name}: step", timings["step"])
        bench.record(f"{name}: old_log_prob", timings["old_log_prob"])
    bench.ratio("step time, computed / skipped", "gpg, computed: step", "gpg, skipped: step")
    status = bench.finish()
    if args.keep is None and status == 0:
        shutil.rmtree(work, ignore_errors=True)  # kept when a run failed: its train.log says why
    return status


if __name__ == "__main__":
    sys.exit(main())
