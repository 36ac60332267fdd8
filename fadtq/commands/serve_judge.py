"""`fadtq serve-judge`: the thinking-quality judge as an OpenAI-compatible server, on CPU or with vLLM."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

NAME = "serve-judge"
HELP = "serve the judge (OpenAI-compatible): --cpu, a small llama.cpp model; --vllm, Qwen3-8B on one GPU"

#: The paper's judge, as vLLM serves it; the external_judge experiment asks for the same name.
VLLM_MODEL = "Qwen/Qwen3-8B"
#: Environment, one name each: the judge model (also read by the training config), its served name
#: (read by the external_judge experiment), and the GPU vLLM takes.
JUDGE_MODEL_ENV, SERVED_NAME_ENV, JUDGE_GPU_ENV = "FADTQ_JUDGE_MODEL_PATH", "FADTQ_JUDGE_SERVED_NAME", "FADTQ_JUDGE_GPU"
#: On one 5-GPU node GPUs 0-3 train (recipes/train_fadtq_external_judge.sh) and the judge takes the fifth.
DEFAULT_JUDGE_GPU = "4"

DESCRIPTION = f"""\
Serves the judge in the foreground until interrupted (Ctrl-C); training calls it at
FADTQ_JUDGE_URL=http://HOST:PORT (without /v1). Check it with `fadtq judge-check --url HOST:PORT`.

--cpu   llama.cpp's server (the judge-cpu extra) with a 270M-parameter GGUF model from PyPI, on
        127.0.0.1 by default: for tests, the demo and CPU runs (+backend=cpu points at port 8901).
        Its scores are valid JSON but not meaningful judgements. It prints its URL once it answers.
--vllm  `vllm serve` with the paper's judge ({VLLM_MODEL}, or ${JUDGE_MODEL_ENV}) on one GPU, on
        0.0.0.0 by default so that every training node reaches it; then train with
        +experiment=external_judge. The GPU: CUDA_VISIBLE_DEVICES if exported, else
        ${JUDGE_GPU_ENV}, else {DEFAULT_JUDGE_GPU} (on one 5-GPU node GPUs 0-3 train). Clients must send
        chat_template_kwargs={{"enable_thinking": false}} (Qwen3 thinks by default, and <think> prose
        before the JSON wastes tokens and breaks score parsing); fadtq's judge client always does.

examples:
  fadtq serve-judge --cpu &                          # then: export FADTQ_JUDGE_URL=http://127.0.0.1:8901
  fadtq serve-judge --vllm                           # Qwen/Qwen3-8B on GPU 4, port 8901
  {JUDGE_GPU_ENV}=0 fadtq serve-judge --vllm --model /models/Qwen3-8B   # a node of its own
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fadtq.offline.judge_server import DEFAULT_PARALLEL, DEFAULT_PORT, DEFAULT_THREADS

    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--cpu", dest="engine", action="store_const", const="cpu", help="llama.cpp on this CPU")
    mode.add_argument("--vllm", dest="engine", action="store_const", const="vllm", help="vLLM on one GPU")
    parser.add_argument("--host", help="address to bind (default: 127.0.0.1 with --cpu, 0.0.0.0 with --vllm)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s)")
    parser.add_argument("--model", help=f"--cpu: a GGUF file (default: assembled from the PyPI package); --vllm: a hub "
                                        f"id or folder (default: ${JUDGE_MODEL_ENV}, else {VLLM_MODEL})")
    cpu = parser.add_argument_group("--cpu only")
    cpu.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="decoding threads (default: %(default)s)")
    cpu.add_argument("--parallel", type=int, default=DEFAULT_PARALLEL,
                     help="concurrent request slots (default: %(default)s)")
    vllm = parser.add_argument_group("--vllm only")
    vllm.add_argument("--served-model-name",
                      help=f"the model name clients send (default: ${SERVED_NAME_ENV}, else {VLLM_MODEL})")
    vllm.add_argument("--max-num-seqs", type=int, default=256, help="concurrent sequences (default: %(default)s)")
    vllm.add_argument("--gpu-memory-utilization", type=float, default=0.90, help="(default: %(default)s)")
    vllm.add_argument("--max-model-len", type=int, default=8192, help="context length (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    return serve_cpu(args) if args.engine == "cpu" else serve_vllm(args)


def serve_cpu(args: argparse.Namespace) -> int:
    from fadtq.offline import judge_server

    host = args.host or judge_server.DEFAULT_HOST
    print(f"fadtq serve-judge: loading the CPU judge; training reaches it with "
          f"FADTQ_JUDGE_URL=http://{host}:{args.port}", flush=True)
    try:
        judge_server.serve(host, args.port, model_path=Path(args.model) if args.model else None, threads=args.threads,
                           parallel=args.parallel)
    except RuntimeError as exc:
        print(f"fadtq serve-judge: error: {exc}", file=sys.stderr)
        return 2
    return 0


def serve_vllm(args: argparse.Namespace) -> int:
    # Pinned before anything else so vLLM never claims a GPU the trainer uses (it would take GPU 0).
    os.environ["CUDA_VISIBLE_DEVICES"] = (os.environ.get("CUDA_VISIBLE_DEVICES") or os.environ.get(JUDGE_GPU_ENV)
                                          or DEFAULT_JUDGE_GPU)
    vllm = shutil.which("vllm")
    if vllm is None:
        print("fadtq serve-judge: error: vllm not found — pip install 'fadtq[gpu]' on the judge node", file=sys.stderr)
        return 2
    model = args.model or os.environ.get(JUDGE_MODEL_ENV) or VLLM_MODEL
    served = args.served_model_name or os.environ.get(SERVED_NAME_ENV) or VLLM_MODEL
    command = [vllm, "serve", model, "--host", args.host or "0.0.0.0", "--port", str(args.port),
               "--served-model-name", served, "--max-num-seqs", str(args.max_num_seqs),
               "--gpu-memory-utilization", str(args.gpu_memory_utilization), "--max-model-len", str(args.max_model_len),
               "--generation-config", "vllm"]
    sys.stdout.flush()
    os.execv(vllm, command)  # vLLM replaces this process: signals and the exit status are its own
