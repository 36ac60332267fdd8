#!/usr/bin/env python
"""Benchmark: fadtq_gpg vs verl's built-in `gpg` and `grpo` estimators, measured in the same run.

Default batch: 4,096 rollouts (512 groups × 8, shuffled uids), response length 1,024 — the paper's
32 × 8 batch sixteen times over. The estimators are timed round-robin (so load changes on a shared
machine hit all of them alike); prints the median and best wall time of each and the speed-up of
fadtq_gpg over each baseline. Also checks that fadtq_gpg (α off) equals verl's grpo on this batch.

Every estimator also pays two passes over the (bs × resp_len) tensors — the reward sum and the
masked broadcast of the advantages — which are memory-bound and identical in all three. They are
timed alone as "shared floor"; the ratio of the per-group work beyond it is printed too, and the
ceiling that floor puts on any estimator's speed-up over verl's gpg on this machine.

    python scripts/bench_advantage.py                 # torch's default thread count
    python scripts/bench_advantage.py --threads 1     # one core
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
    order = rng.permutation(n)  # verl does not promise contiguous groups
    return rewards[order], mask[order], uids[order]


def round_robin(functions: dict, repeats: int) -> dict[str, list[float]]:
    for fn in functions.values():
        fn()  # warm-up
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=512)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from verl.trainer.ppo.core_algos import compute_gpg_outcome_advantage, compute_grpo_outcome_advantage

    from fadtq.advantage import compute_gpg_advantage

    rewards, mask, uids = make_batch(args.groups, args.group_size, args.length)
    ours_plain, _, _ = compute_gpg_advantage(rewards, mask, uids)
    verl_grpo, _ = compute_grpo_outcome_advantage(rewards, mask, uids)
    difference = (ours_plain - verl_grpo).abs().max().item()

    ours = "fadtq_gpg (α on)"
    times = round_robin({
        ours: lambda: compute_gpg_advantage(rewards, mask, uids, alpha_correction=True),
        "verl gpg": lambda: compute_gpg_outcome_advantage(rewards, mask, uids),
        "verl grpo": lambda: compute_grpo_outcome_advantage(rewards, mask, uids),
        "shared floor": lambda: rewards.sum(dim=-1).unsqueeze(-1) * mask,
    }, args.repeats)
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"batch: {len(uids)} rollouts ({args.groups} groups × {args.group_size}, shuffled), response length "
          f"{args.length}; {args.repeats} round-robin repeats; {torch.get_num_threads()} torch threads")
    print(f"fadtq_gpg (α off) vs verl grpo: max |difference| = {difference:.2e}")
    for name, t in times.items():
        print(f"  {name:<18} median {median[name] * 1e3:9.2f} ms   best {min(t) * 1e3:9.2f} ms")
    best = {name: min(t) for name, t in times.items()}
    floor = "shared floor"
    for baseline in ("verl gpg", "verl grpo"):
        print(f"speed-up vs {baseline}: {median[baseline] / median[ours]:6.1f}× (median)   "
              f"{best[baseline] / best[ours]:6.1f}× (best)   beyond the shared floor: "
              f"{(best[baseline] - best[floor]) / max(best[ours] - best[floor], 1e-6):6.1f}× (best)")
    # An estimator can be no faster than the floor it must pay, so no ratio can exceed this here.
    print(f"ceiling for any estimator vs verl gpg on this machine (verl gpg / shared floor): "
          f"{median['verl gpg'] / median[floor]:6.1f}× (median)   {best['verl gpg'] / best[floor]:6.1f}× (best)")


if __name__ == "__main__":
    main()
