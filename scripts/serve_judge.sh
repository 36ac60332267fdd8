#!/usr/bin/env bash
# Serve the production judge (Qwen3-8B) with vLLM on one GPU, OpenAI-compatible.
#   bash scripts/serve_judge.sh [MODEL] [PORT] [SERVED_NAME] [MAX_NUM_SEQS] [GPU_MEM_UTIL] [MAX_MODEL_LEN]
# Defaults: Qwen/Qwen3-8B 8901 Qwen/Qwen3-8B 256 0.90 8192.
#   JUDGE_GPU   the GPU the judge runs on (default 4: on one 5-GPU node GPUs 0-3 train, see ACTOR_GPUS in
#               recipes/train_fadtq_external_judge.sh); exported as CUDA_VISIBLE_DEVICES unless that is already set.
#               On a node of its own, JUDGE_GPU=0.
# Then train with the `external_judge` experiment and FADTQ_JUDGE_URL=http://HOST:PORT.
#
# Clients must send chat_template_kwargs={"enable_thinking": false}: Qwen3 thinks by default, and a
# judge that writes <think> prose before its JSON wastes tokens and breaks score parsing. fadtq's
# judge client always sends it.
set -euo pipefail
MODEL="${1:-${JUDGE_MODEL_PATH:-Qwen/Qwen3-8B}}"
PORT="${2:-8901}"
SERVED_NAME="${3:-Qwen/Qwen3-8B}"
MAX_NUM_SEQS="${4:-256}"
GPU_MEM_UTIL="${5:-0.90}"
MAX_MODEL_LEN="${6:-8192}"
# Pinned so vLLM does not claim a GPU the trainer uses (it would take GPU 0 by default).
export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES:-${JUDGE_GPU:-4}}"
command -v vllm >/dev/null || { echo "serve_judge: error: vllm not found — pip install 'fadtq[gpu]' on the judge node" >&2; exit 2; }
exec vllm serve "$MODEL" \
    --host 0.0.0.0 --port "$PORT" \
    --served-model-name "$SERVED_NAME" \
    --max-num-seqs "$MAX_NUM_SEQS" \
    --gpu-memory-utilization "$GPU_MEM_UTIL" \
    --max-model-len "$MAX_MODEL_LEN" \
    --generation-config vllm
