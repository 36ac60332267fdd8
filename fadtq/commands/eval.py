"""`fadtq eval`: batched inference of a model over a pair parquet."""

from __future__ import annotations

import argparse
import sys

NAME = "eval"
HELP = "run a model (HF folder or verl checkpoint) over a test parquet and write predictions JSONL"
DESCRIPTION = """\
Run a model over a fadtq test parquet with the prompt recorded in each row and write one JSON line
per pair (parsed prediction, reasoning length, raw response). Resumable: rows already in --out are
skipped. Greedy by default.

  fadtq eval --model Qwen/Qwen2.5-VL-7B-Instruct --data data/pair3c/test.parquet --backend vllm --out runs/qwen7b.jsonl
  fadtq eval --model checkpoints/fadtq/run/global_step_190/actor --data … --out runs/fadtq.jsonl
  fadtq eval --model models/tiny --data … --backend hf --limit 8 --out /tmp/preds.jsonl
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="Hugging Face model folder (or hub id with vllm) or verl actor checkpoint")
    parser.add_argument("--data", required=True, help="test parquet written by `fadtq build-data`")
    parser.add_argument("--out", required=True, help="predictions JSONL (appended to; existing rows are skipped)")
    parser.add_argument("--backend", choices=["vllm", "hf"], default="vllm", help="vllm (GPU) or hf (transformers; CPU)")
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per generate call (default: %(default)s)")
    parser.add_argument("--max-new-tokens", type=int, default=1024, help="default: %(default)s")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="only the first N rows")


def run(args: argparse.Namespace) -> int:
    from fadtq.eval.runner import EvalInputError, SamplingOptions, run_eval

    try:
        result = run_eval(args.model, args.data, args.out, backend=args.backend, batch_size=args.batch_size, limit=args.limit,
                          options=SamplingOptions(args.max_new_tokens, args.temperature, args.top_p, args.seed))
    except EvalInputError as exc:
        print(f"fadtq eval: error: {exc}", file=sys.stderr)
        return 2
    print(f"{result['generated']} pairs generated, {result['skipped_done']} already done → {result['out']}")
    return 0
