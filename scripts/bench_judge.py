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
of one. A latency-bound stub server (fixed delay, unlimited parallelism) shows the client's own
ceiling: close to ``--concurrency`` ×.

  python scripts/bench_judge.py                      # starts the CPU judge server itself
  python scripts/bench_judge.py --url http://judge-node:8901 --model Qwen/Qwen3-8B --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fadtq.judge.client import JudgeClient, JudgeSettings
from fadtq.rewards import accuracy_reward, parse_response

OPTIONS = {"A": "normal", "B": "structural", "C": "logical"}
QUESTION = ("Product: screw bag. The first image is a reference image known to be normal; the second image is a "
            "test image of the same product.\nWhich option describes the test image?\nA) normal\n"
            "B) structural anomaly\nC) logical anomaly")
PHRASES = ["the test image", "shows", "a scratch on the bag", "one nut is missing", "compared with the reference",
           "matches the reference", "an extra washer", "so", "the screws look the same", "the count differs"]


def rollouts(n: int, accuracy: float, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (response, ground truth) pairs of a policy that is right with probability ``accuracy``;
    every reasoning text differs, so nothing is served from the cache."""
    rng = random.Random(seed)
    labels = list(OPTIONS.values())
    letter = {label: key for key, label in OPTIONS.items()}
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
        if accuracy_reward(parsed.answer, OPTIONS, truth) == 1.0 and parsed.think:
            calls.append((parsed.think, parsed.answer))
    return calls


async def judge_all(url: str, model: str | None, calls, concurrency: int) -> tuple[float, int]:
    """Wall time to judge ``calls`` with ``concurrency`` in flight (1 = strictly one at a time)."""
    settings = JudgeSettings(base_url=url, model=model, max_concurrency=concurrency, timeout_s=300, max_retries=1)
    async with JudgeClient(settings) as client:
        start = time.perf_counter()
        if concurrency == 1:
            results = [await client.score(QUESTION, think, answer) for think, answer in calls]
        else:
            results = await asyncio.gather(*[client.score(QUESTION, think, answer) for think, answer in calls])
        return time.perf_counter() - start, sum(r.ok for r in results)


class _FixedDelayJudge(BaseHTTPRequestHandler):
    delay_s = 0.2  # a GPU judge's latency for one short JSON answer, with spare batch capacity

    def do_POST(self):  # noqa: N802 (http.server API)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(self.delay_s)
        body = json.dumps({"choices": [{"message": {"content": '{"conciseness": 2, "relevance": 3}'}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve_stub(port_queue) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FixedDelayJudge)
    server.daemon_threads = True
    port_queue.put(server.server_port)
    server.serve_forever()


def compare(label: str, url: str, model: str | None, calls, concurrency: int, sequential_sample: int) -> float:
    sample = calls if sequential_sample <= 0 else calls[:sequential_sample]
    one_wall, one_ok = asyncio.run(judge_all(url, model, sample, 1))
    one_at_a_time = one_wall * len(calls) / max(len(sample), 1)
    concurrent, ok = asyncio.run(judge_all(url, model, calls, concurrency))
    ratio = one_at_a_time / concurrent
    measured = "measured" if len(sample) == len(calls) else f"measured on {len(sample)}, scaled linearly"
    print(f"[{label}]")
    print(f"  one at a time:          {one_at_a_time:7.1f} s for {len(calls)} calls ({measured}; "
          f"{one_wall / max(len(sample), 1):.2f} s per call, {one_ok}/{len(sample)} ok)")
    print(f"  concurrent ({concurrency:>3} in flight): {concurrent:7.1f} s for {len(calls)} calls ({ok}/{len(calls)} ok)")
    print(f"  speed-up: {ratio:.2f}×", flush=True)
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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

    samples = rollouts(args.rollouts, args.accuracy)
    calls = gated_calls(samples)
    print(f"{len(samples)} rollouts at accuracy {args.accuracy:.2f}: {len(calls)} judge calls, "
          f"{len(samples) - len(calls)} saved by accuracy gating ({100 * (1 - len(calls) / len(samples)):.0f}%)")

    server = None
    url = args.url
    if args.stub_only:
        pass
    elif url is None:
        from fadtq.offline.judge_server import JudgeServerProcess

        print(f"starting the CPU judge server ({args.threads} threads, {args.parallel} slots) …", flush=True)
        server = JudgeServerProcess(threads=args.threads, parallel=args.parallel).start()
        url = server.url
    try:
        if not args.stub_only:
            compare("judge server" if args.url else "CPU judge server (llama.cpp, 270M GGUF)", url, args.model,
                    calls, args.concurrency, args.sequential_sample)
    finally:
        if server is not None:
            server.stop()

    port_queue = multiprocessing.get_context("spawn").Queue()
    stub = multiprocessing.get_context("spawn").Process(target=serve_stub, args=(port_queue,), daemon=True)
    stub.start()  # its own process: the client's event loop does not share a GIL with the server
    try:
        compare(f"latency-bound stub ({_FixedDelayJudge.delay_s * 1000:.0f} ms per request, unlimited parallelism)",
                f"http://127.0.0.1:{port_queue.get(timeout=60)}", None, calls, 32, 0)
    finally:
        stub.terminate()
        stub.join(10)
    print("What bounds the speed-up: the server's batch capacity. The CPU judge decodes a few slots on 2 cores "
          "(compute-bound); vLLM on a GPU decodes dozens of requests together, approaching the stub's case.")


if __name__ == "__main__":
    main()
