#!/usr/bin/env python
"""Benchmark: fadtq_gpg vs verl's `grpo_vectorized`, `grpo` and `gpg` estimators and the memory-bound
floor, measured in the same run.

Default batch: 4,096 rollouts (512 groups × 8, shuffled uids), response length 1,024 — the paper's
32 × 8 batch sixteen times over. The estimators are timed round-robin (so load changes on a shared
machine hit all of them alike). Also checks that fadtq_gpg (α off) equals verl's grpo and
grpo_vectorized on this batch.

Every estimator pays two passes over the (bs × resp_len) tensors — the reward sum and the masked
broadcast of the advantages — which are memory-bound and the same in all of them. They are timed
alone as "floor"; no estimator can be faster. Goal: fadtq_gpg within 1.5× of the floor. Printed too:
the ratio of the per-group work beyond the floor, and the ceiling that the floor puts on any
estimator's speed-up over verl's gpg (a Python loop over groups) on this machine.

On cores other processes use, every multi-threaded torch op can wait a time slice for a descheduled
thread (~10 ms each): that inflates all rows by more than the estimators differ. Time with
``--threads 1`` there.

    python scripts/bench_advantage.py                 # torch's default thread count
    python scripts/bench_advantage.py --threads 1     # one core
"""

import ctypes
import ctypes.util
import sys

import numpy as np
import torch
from _bench import Bench, bench_parser


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


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks instead of returning them to the OS (``mallopt`` thresholds).

    Each estimator returns a fresh (bs × resp_len) tensor, 16 MB here. With glibc's defaults some
    frees give those pages back and the next call page-faults all of them again, adding up to ~6 ms
    to some calls of whichever estimator happens to trigger it, so medians flip between runs. A GPU
    run allocates through CUDA's caching allocator and never sees this.
    """
    libc_name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(libc_name) if libc_name else None
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 1 << 30) and libc.mallopt(m_trim_threshold, 1 << 30))


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--groups", type=int, default=512)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    bench = Bench("advantage", args)
    bench.say(f"glibc keeps freed memory (no page faults between calls): {keep_freed_memory()}")

    from verl.trainer.ppo.core_algos import (
        compute_gpg_outcome_advantage,
        compute_grpo_outcome_advantage,
        compute_grpo_vectorized_outcome_advantage,
    )

    from fadtq.advantage import compute_gpg_advantage

    rewards, mask, uids = make_batch(args.groups, args.group_size, args.length)
    bench.say(f"batch: {len(uids)} rollouts ({args.groups} groups × {args.group_size}, shuffled), response length "
              f"{args.length}; {args.repeats} round-robin repeats; {torch.get_num_threads()} torch threads")
    ours_plain, _, _ = compute_gpg_advantage(rewards, mask, uids)
    for name, estimator in (("grpo", compute_grpo_outcome_advantage),
                            ("grpo_vectorized", compute_grpo_vectorized_outcome_advantage)):
        difference = (ours_plain - estimator(rewards, mask, uids)[0]).abs().max().item()
        bench.fact(f"max_abs_difference_vs_{name}", difference,
                   f"fadtq_gpg (α off) vs verl {name}: max |difference| = {difference:.2e}")

    bench.round_robin({
        "fadtq_gpg": lambda: compute_gpg_advantage(rewards, mask, uids, alpha_correction=True),  # α on
        "grpo_vectorized": lambda: compute_grpo_vectorized_outcome_advantage(rewards, mask, uids),
        "grpo": lambda: compute_grpo_outcome_advantage(rewards, mask, uids),
        "gpg": lambda: compute_gpg_outcome_advantage(rewards, mask, uids),
        "floor": lambda: rewards.sum(dim=-1).unsqueeze(-1) * mask,  # reward sum + masked broadcast
    }, args.repeats)
    for baseline in ("grpo_vectorized", "grpo", "gpg"):
        bench.ratio(f"speed-up of fadtq_gpg over verl {baseline}", baseline, "fadtq_gpg")
    for baseline in ("grpo_vectorized", "grpo", "gpg"):
        bench.ratio(f"… beyond the floor, over verl {baseline}", baseline, "fadtq_gpg", minus="floor")
    bench.ratio("fadtq_gpg relative to the floor", "fadtq_gpg", "floor")
    # An estimator can be no faster than the floor it must pay, so no ratio over gpg can exceed this here.
    bench.ratio("ceiling of any estimator over verl gpg", "gpg", "floor")
    bench.goal("fadtq_gpg within 1.5× of the floor", "fadtq_gpg", at_most=1.5, over="floor")
    return bench.finish()


if __name__ == "__main__":
    sys.exit(main())
