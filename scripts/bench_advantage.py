#!/usr/bin/env python
"""Benchmark: fadtq_gpg vs verl's built-in `gpg` and `grpo` estimators, measured in the same run.

Default batch: 4,096 rollouts (512 groups × 8), response length 1,024 — the paper's 32 × 8 batch
sixteen times over. Prints the median wall time of each and the speed-up ratios.
"""

import argparse
import statistics
import time

import numpy as np
import torch


def make_batch(groups: int, group_size: int, length: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = groups * group_size
    lengths = rng.integers(length // 4, length + 1, size=n)
    mask = torch.as_tensor((np.arange(length)[None, :] < lengths[:, None]).astype(np.float32))
    rewards = torch.zeros(n, length)
    rewards[torch.arange(n), torch.as_tensor(lengths - 1)] = torch.as_tensor(
        rng.choice([0.0, 1.0, 2.0, 2.5, 3.0], size=n), dtype=torch.float32)
    uids = np.array([f"{g:08x}-uid" for g in range(groups) for _ in range(group_size)], dtype=object)
    return rewards, mask, uids


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=512)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from verl.trainer.ppo.core_algos import compute_gpg_outcome_advantage, compute_grpo_outcome_advantage

    from fadtq.advantage import compute_gpg_advantage

    rewards, mask, uids = make_batch(args.groups, args.group_size, args.length)
    n = len(uids)
    timings = {
        "fadtq_gpg (α on)": median_time(lambda: compute_gpg_advantage(rewards, mask, uids, alpha_correction=True),
                                        args.repeats),
        "verl gpg": median_time(lambda: compute_gpg_outcome_advantage(rewards, mask, uids), args.repeats),
        "verl grpo": median_time(lambda: compute_grpo_outcome_advantage(rewards, mask, uids), args.repeats),
    }
    ours = timings["fadtq_gpg (α on)"]
    print(f"batch: {n} rollouts ({args.groups} groups × {args.group_size}), response length {args.length}, "
          f"median of {args.repeats}, {torch.get_num_threads()} torch threads")
    for name, seconds in timings.items():
        print(f"  {name:<18} {seconds * 1e3:9.2f} ms   ({seconds / ours:6.1f}× fadtq_gpg's time)")
    print(f"speed-up vs verl gpg: {timings['verl gpg'] / ours:.1f}×   vs verl grpo: {timings['verl grpo'] / ours:.1f}×")


if __name__ == "__main__":
    main()
