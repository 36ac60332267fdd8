#!/usr/bin/env bash
# FAD-TQ with the judge as an external vLLM server (fadtq serve-judge --vllm; FADTQ_JUDGE_URL).
# Usage: bash recipes/train_fadtq_external_judge.sh [--dry-run | --doctor] [key=value ...]   (environment: recipes/README.md)
#   FADTQ_ACTOR_GPUS  GPUs of this node the trainer may use (default 0,1,2,3), exported as CUDA_VISIBLE_DEVICES
#                     unless that is already set: Ray then sees only these, and never schedules actor or rollout
#                     work onto the judge's GPU (fadtq serve-judge --vllm takes GPU 4 by default, FADTQ_JUDGE_GPU).
#                     One 5-GPU node: `fadtq serve-judge --vllm &` then this script. On a `ray start` cluster,
#                     Ray counts GPUs when it starts: export CUDA_VISIBLE_DEVICES before `ray start` on that node.
export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES:-${FADTQ_ACTOR_GPUS:-0,1,2,3}}"
exec fadtq train +experiment=external_judge "$@"
