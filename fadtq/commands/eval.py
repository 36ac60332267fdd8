"""`fadtq eval`: batched inference of a model over a pair parquet."""

from __future__ import annotations

import argparse
import sys

NAME = "eval"
HELP = "run a model (HF folder, hub id or verl checkpoint) over a test parquet and write predictions JSONL"
DESCRIPTION = """\
Run a model over a fadtq test parquet with the prompt and images recorded in each row (images
resized with the row's max_pixels, as in training) and write one JSON line per pair: the parsed
prediction (same parser as the reward), reasoning length in words, the raw response.

Resumable: rows already in --out are skipped, so re-running the same command after an interruption
finishes the job. Greedy by default; --temperature > 0 samples.

--model takes a Hugging Face model folder, a hub id (org/name), or a verl checkpoint
(…/global_step_N/actor), which is merged once into a HF folder by verl's model merger. A checkpoint
root (the run's trainer.default_local_dir, e.g. checkpoints/fadtq/fadtq_qwen2_5_vl_3b) or <root>/latest
means its latest saved step, read from verl's latest_checkpointed_iteration.txt there.

examples:
  fadtq eval --model Qwen/Qwen2.5-VL-7B-Instruct --data data/pair3c/test.parquet --backend vllm --out runs/qwen7b.jsonl
  fadtq eval --model checkpoints/fadtq/fadtq_qwen2_5_vl_3b/latest --data data/pair3c/test.parquet --out runs/fadtq.jsonl
  fadtq eval --model checkpoints/fadtq/gpg_no_tq_qwen2_5_vl_3b/global_step_100/actor --data data/pair3c/test.parquet --out runs/gpg_100.jsonl
  fadtq eval --model models/tiny --data data/pair3c/test.parquet --backend hf --limit 8 --out runs/tiny.jsonl
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="HF model folder, hub id, verl checkpoint (…/global_step_N/actor), or a checkpoint "
                             "root / <root>/latest (its latest saved step)")
    parser.add_argument("--data", required=True, help="test parquet written by `fadtq build-data`")
    parser.add_argument("--out", required=True, help="predictions JSONL (appended to; rows already there are skipped)")
    parser.add_argument("--backend", choices=["vllm", "hf"], default="vllm",
                        help="vllm (GPU, default) or hf (transformers; CPU and small runs)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="prompts per generate call, also the resume granularity (default: 8 for hf, 256 for vllm)")
    parser.add_argument("--max-new-tokens", type=int, default=1024, help="default: %(default)s")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling when --temperature > 0")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N rows of --data")
    parser.add_argument("--name", default=None,
                        help="model name recorded in every line and shown in reports (default: from --model)")
    parser.add_argument("--merged-dir", default=None,
                        help="where merged verl checkpoints are kept (default: merged_models/ next to --out)")
    engine = parser.add_argument_group("model loading")
    engine.add_argument("--trust-remote-code", action="store_true", help="for models with custom code (MiniCPM-V, Kimi-VL)")
    engine.add_argument("--tensor-parallel-size", type=int, default=1, help="vllm: GPUs per model (default: %(default)s)")
    engine.add_argument("--gpu-memory-utilization", type=float, default=0.9, help="vllm (default: %(default)s)")
    engine.add_argument("--max-model-len", type=int, default=None, help="vllm: context length (default: the model's)")


def run(args: argparse.Namespace) -> int:
    from fadtq.eval.runner import EngineOptions, EvalInputError, SamplingOptions, run_eval

    batch_size = args.batch_size if args.batch_size is not None else (8 if args.backend == "hf" else 256)
    try:
        result = run_eval(
            args.model, args.data, args.out, backend=args.backend, batch_size=batch_size, limit=args.limit,
            options=SamplingOptions(args.max_new_tokens, args.temperature, args.top_p, args.seed),
            engine=EngineOptions(args.trust_remote_code, args.tensor_parallel_size, args.gpu_memory_utilization,
                                 args.max_model_len),
            name=args.name, merged_dir=args.merged_dir)
    except EvalInputError as exc:
        print(f"fadtq eval: error: {exc}", file=sys.stderr)
        return 2
    print(f"{result['generated']} pairs generated, {result['skipped_done']} already done → {result['out']}")
    print(quick_summary(result["out"], args.data, args.limit))
    return 0


def quick_summary(out: str, data: str, limit: int | None) -> str:
    """One line of the file's accuracy so far (over the rows present; `fadtq report` gives the table)."""
    from pathlib import Path

    from fadtq.eval import metrics
    from fadtq.eval.predictions import read_predictions

    if not Path(out).is_file():
        return "no predictions written"
    run = read_predictions(out)
    frame = run.frame
    if not len(frame):
        return f"{out}: no readable predictions ({run.describe_issues()})"
    preds = [p if isinstance(p, str) else None for p in frame["pred"]]
    return (f"{run.name}: accuracy {100 * metrics.accuracy(frame['label'], preds):.2f}% on {len(frame)} pairs, "
            f"Balance Score {metrics.balance_score(preds, run.classes):.3f}, unparsable "
            f"{100 * metrics.unparsable_share(preds):.1f}% — `fadtq report {out} --data {data} --out DIR` for the tables")
