"""`fadtq make-tiny-model OUT`: a tiny random Qwen2.5-VL model folder, built offline."""

from __future__ import annotations

import argparse
import sys

NAME = "make-tiny-model"
HELP = "write a tiny random Qwen2.5-VL model folder, offline (the CPU backend's default model)"
DESCRIPTION = """\
Writes a randomly initialised Qwen2.5-VL (2 text layers, 2 vision blocks, ~0.5 M parameters, fp32)
with its own small tokenizer, Qwen2-VL's chat template and processor, all built here without any
download. It loads with transformers' Auto classes and verl's tokenizer / processor helpers, so the
CPU backend, the tests and the demo run the real Qwen2.5-VL code paths; its answers are noise.

examples:
  fadtq make-tiny-model models/tiny-qwen2.5-vl     # where +backend=cpu looks (FADTQ_MODEL_PATH overrides)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT", help="folder to write (must be empty or absent unless --force)")
    parser.add_argument("--force", action="store_true", help="replace a non-empty OUT")
    parser.add_argument("--seed", type=int, default=0, help="seed for the tokenizer corpus and the weights")
    parser.add_argument("--init-std", type=float, default=None,
                        help="std of the random weights (default: transformers' 0.02; 0.05 makes the answer ~10× "
                             "more sensitive to the images, for runs that should learn from them)")


def run(args: argparse.Namespace) -> int:
    from fadtq.offline.tiny_qwen2_5_vl import DEFAULT_INIT_STD, OutputDirNotEmpty, build_tiny_qwen2_5_vl

    init_std = DEFAULT_INIT_STD if args.init_std is None else args.init_std
    if not init_std > 0:
        print(f"fadtq make-tiny-model: error: --init-std {init_std}: the weights' std must be positive", file=sys.stderr)
        return 2
    try:
        out = build_tiny_qwen2_5_vl(args.out, force=args.force, seed=args.seed, init_std=init_std)
    except OutputDirNotEmpty as exc:
        print(f"fadtq make-tiny-model: error: {exc}", file=sys.stderr)
        return 2
    print(f"tiny Qwen2.5-VL written to {out}")
    return 0
