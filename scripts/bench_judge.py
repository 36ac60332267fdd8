#!/usr/bin/env python
"""Benchmark: judging one training step's rollouts with our concurrent client vs one call at a time.

One FAD-TQ step is 32 prompts × 8 rollouts = 256 responses. The reward calls the judge only for
correct answers (r_acc = 1), so the script first counts the calls that gating saves, then times
the remaining calls twice against the same server, in the same run:

- one at a time: what a plain per-sample ``requests.post`` reward function does;
- concurrent: our client (``--concurrency`` requests in flight), as verl's async reward loop uses it.

It prints both wall times and their ratio. The ratio is bounded by the server, not the client: by
how many requests it decodes together (slots, continuous batching) and how much faster a batch
decodes than one request. The CPU judge (llama.cpp, a 270M model on 2 cores) is compute-bound,
so expect a small ratio there; a GPU vLLM server batches dozens of requests at almost the cost
of one. A latency-bound stub server (fixed delay, unlimited parallelism, 32 in flight) shows the
client's own ceiling: close to 32×. No ratio is printed if any request failed.

  python scripts/bench_judge.py                      # starts the CPU judge server itself
  python scripts/bench_judge.py --url http://judge-node:8901 --model Qwen/Qwen3-8B --concurrency 64
  python scripts/bench_judge.py --stub-only          # the client's ceiling only
"""

from __future__ import annotations

import asyncio
import random
import sys

from _bench import Bench, bench_parser

from fadtq.data.prompt import PAIR3C_OPTIONS, question_text
from fadtq.judge.client import JudgeClient, JudgeSettings
from fadtq.offline.stub_judge import stub_judge_process
from fadtq.rewards import accuracy_reward, parse_response

QUESTION = question_text("screw_bag", PAIR3C_OPTIONS)
PHRASES = ["the test image", "shows", "a scratch on the bag", "one nut is missing", "compared with the reference",
           "matches the reference", "an extra washer", "so", "the screws look the same", "the count differs"]
STUB_DELAY_S = 0.2  # a GPU judge's latency for one short JSON answer, with spare batch capacity
STUB_CONCURRENCY = 32


def rollouts(n: int, accuracy: float, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (response, ground truth) pairs of a policy that is right with probability ``accuracy``;
    every reasoning text differs, so nothing is served from the cache."""
    rng = random.Random(seed)
    labels = list(PAIR3C_OPTIONS.values())
    letter = {label: key for key, label in PAIR3C_OPTIONS.items()}
    out = []
    for i in range(n):
        truth = rng.choice(labels)
        answer = truth if rng.random() < accuracy else rng.choice([x for x in labels if x != truth])
        think = " ".join(rng.choice(PHRASES) for _ in range(rng.randint(8, 24))) + f" (rollout {i})"
        out.append((f"<think>{think}</think><answer>{letter[answer]}</answer>", truth))
    return out


def gated_calls(samples: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (think, answer) texts the reward sends to the judge: correct answers only."""
    calls = []
    for response, truth in samples:
        parsed = parse_response(response)
        if accuracy_reward(parsed.answer, PAIR3C_OPTIONS, truth) == 1.0 and parsed.think:
            calls.append((parsed.think, parsed.answer))
    return calls


def judge_all(url: str, model: str | None, calls, concurrency: int) -> None:
    """Judge ``calls`` with ``concurrency`` in flight (1 = strictly one at a time); raises if any failed."""
    async def run():
        settings = JudgeSettings(base_url=url, model=model, max_concurrency=concurrency, timeout_s=300,
                                 max_retries=1)
        async with JudgeClient(settings) as client:
            if concurrency == 1:
                return [await client.score(QUESTION, think, answer) for think, answer in calls]
            return await asyncio.gather(*[client.score(QUESTION, think, answer) for think, answer in calls])

    failed = [r for r in asyncio.run(run()) if not r.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(calls)} requests failed (first: {failed[0].error})")


def compare(bench: Bench, label: str, description: str, url: str, model: str | None, calls, concurrency: int,
            sequential_sample: int) -> None:
    sample = calls if sequential_sample <= 0 else calls[:sequential_sample]
    bench.say(f"[{label}] {description}: {len(calls)} calls")
    one, many = f"{label}: one at a time", f"{label}: {concurrency} in flight"
    measured = bench.round_robin({one: lambda: judge_all(url, model, sample, 1),
                                  many: lambda: judge_all(url, model, calls, concurrency)}, repeats=1, warmup=False)
    if len(sample) < len(calls) and measured[one].error is None:
        one_sample = measured[one].median
        bench.say(f"  one at a time: {one_sample / len(sample):.2f} s per call, measured on {len(sample)} calls")
        one = f"{label}: one at a time, scaled to {len(calls)} calls"
        bench.record(one, [one_sample * len(calls) / len(sample)])
    bench.ratio(f"{label}: speed-up of {concurrency} in flight", one, many)


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--url", default=None, help="judge URL (default: start the CPU judge server)")
    parser.add_argument("--model", default=None, help="served model name (default: the server's own)")
    parser.add_argument("--rollouts", type=int, default=256, help="rollouts of one step (default: %(default)s)")
    parser.add_argument("--accuracy", type=float, default=0.5,
                        help="policy accuracy of the synthetic rollouts (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default: %(default)s)")
    parser.add_argument("--parallel", type=int, default=4, help="slots of the CPU judge server (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="threads of the CPU judge server (default: %(default)s)")
    parser.add_argument("--sequential-sample", type=int, default=32,
                        help="one-at-a-time calls timed and scaled to all calls; 0 = time all (default: %(default)s)")
    parser.add_argument("--stub-only", action="store_true", help="skip the judge server; time only the stub")
    args = parser.parse_args()
    bench = Bench("judge", args)

    samples = rollouts(args.rollouts, args.accuracy)
    calls = gated_calls(samples)
    bench.fact("judge_calls", len(calls),
               f"{len(samples)} rollouts at accuracy {args.accuracy:.2f}: {len(calls)} judge calls, "
               f"{len(samples) - len(calls)} saved by accuracy gating "
               f"({100 * (1 - len(calls) / len(samples)):.0f}%)")

    server = None
    url = args.url
    if args.stub_only:
        pass
    elif url is None:
        from fadtq.offline.judge_server import JudgeServerProcess

        bench.say(f"starting the CPU judge server ({args.threads} threads, {args.parallel} slots) …")
        server = JudgeServerProcess(threads=args.threads, parallel=args.parallel).start()
        url = server.url
    try:
        if not args.stub_only:
            compare(bench, "judge", args.url or "the CPU judge server (llama.cpp, 270M GGUF)", url,
                    args.model, calls, args.concurrency, args.sequential_sample)
    finally:
        if server is not None:
            server.stop()

    # Its own process: the client's event loop does not share a GIL with the server.
    with stub_judge_process(delay_s=STUB_DELAY_S) as stub_url:
        compare(bench, "stub", f"latency-bound stub ({STUB_DELAY_S * 1000:.0f} ms per request, unlimited "
                "parallelism)", stub_url, None, calls, STUB_CONCURRENCY, 0)
    bench.say("What bounds the speed-up: the server's batch capacity. The CPU judge decodes a few slots on 2 cores "
              "(compute-bound); vLLM on a GPU decodes dozens of requests together, approaching the stub's case.")
    return bench.finish()


if __name__ == "__main__":
    sys.exit(main())
