#!/usr/bin/env python
"""Benchmark: judging 256 rollouts with our concurrent client vs one call at a time (same run).

Starts the CPU judge server (or uses --url), builds 256 FAD-TQ-like rollouts (one training step of
the paper: 32 prompts × 8), and prints the wall time of each mode, their ratio, and the share of
judge calls that gating on accuracy saves (the judge is called only when r_acc = 1).

What bounds the ratio: the server's parallel slots and the CPU (the tiny llama.cpp model is compute
bound on 2 cores, so concurrency mostly overlaps network and queueing); on vLLM with continuous
batching the gain is far larger.
"""

import argparse
import asyncio
import random
import time

from fadtq.judge.client import JudgeClient, JudgeSettings
from fadtq.rewards.parsing import parse_response
from fadtq.rewards.accuracy import accuracy_reward

OPTIONS = {"A": "normal", "B": "structural", "C": "logical"}
QUESTION = "Reference image and test image of a screw bag. A) normal B) structural anomaly C) logical anomaly"


def rollouts(n: int, seed: int = 0):
    rng = random.Random(seed)
    parts = ["the test image", "shows", "a scratch", "one nut is missing", "compared with the reference",
             "matches the reference", "an extra washer", "so"]
    for i in range(n):
        think = " ".join(rng.choice(parts) for _ in range(rng.randint(6, 18))) + f" (case {i})"
        yield f"<think>{think}</think><answer>{rng.choice('ABC')}</answer>", rng.choice(list(OPTIONS.values()))


async def judge_all(url: str, items, concurrency: int, sequential: bool) -> float:
    client = JudgeClient(JudgeSettings(base_url=url, max_concurrency=concurrency, timeout_s=300, max_retries=1,
                                       cache_size=1))
    start = time.perf_counter()
    try:
        if sequential:
            for think, answer in items:
                await client.score(QUESTION, think, answer)
        else:
            await asyncio.gather(*[client.score(QUESTION, think, answer) for think, answer in items])
    finally:
        await client.aclose()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None, help="judge URL (default: start the CPU judge server)")
    parser.add_argument("--rollouts", type=int, default=256)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sequential-sample", type=int, default=32,
                        help="one-at-a-time calls measured (extrapolated to all gated calls; default: %(default)s)")
    args = parser.parse_args()

    samples = list(rollouts(args.rollouts))
    gated = []
    for response, truth in samples:
        parsed = parse_response(response)
        if accuracy_reward(parsed.answer, OPTIONS, truth) == 1.0:
            gated.append((parsed.think, parsed.answer))
    saved = 1 - len(gated) / len(samples)
    print(f"{len(samples)} rollouts, {len(gated)} correct → judge calls saved by accuracy gating: {100 * saved:.0f}%")

    server = None
    url = args.url
    if url is None:
        from fadtq.offline.judge_server import JudgeServerProcess

        server = JudgeServerProcess(threads=2, parallel=args.concurrency).start()
        url = server.url
    try:
        sample = gated[: args.sequential_sample]
        one_at_a_time = asyncio.run(judge_all(url, sample, 1, sequential=True)) * len(gated) / max(len(sample), 1)
        concurrent = asyncio.run(judge_all(url, gated, args.concurrency, sequential=False))
    finally:
        if server is not None:
            server.stop()
    print(f"one at a time: {one_at_a_time:.1f} s for {len(gated)} calls (measured on {len(sample)}, extrapolated)")
    print(f"concurrent ({args.concurrency} in flight): {concurrent:.1f} s   ratio: {one_at_a_time / concurrent:.2f}×")


if __name__ == "__main__":
    main()
