#!/usr/bin/env bash
# FAD-TQ with the judge as an external vLLM server (scripts/serve_judge.sh; FADTQ_JUDGE_URL).
# Usage: bash recipes/train_fadtq_external_judge.sh [--dry-run | --doctor] [key=value ...]   (environment: see recipes/_common.sh)
#   ACTOR_GPUS   GPUs of this node the trainer may use (default 0,1,2,3), exported as CUDA_VISIBLE_DEVICES
#                unless that is already set: Ray then sees only these, and never schedules actor or rollout
#                work onto the judge's GPU (scripts/serve_judge.sh takes GPU 4 by default, JUDGE_GPU).
#                One 5-GPU node: `bash scripts/serve_judge.sh &` then this script. On a `ray start` cluster,
#                Ray counts GPUs when it starts: export CUDA_VISIBLE_DEVICES before `ray start` on that node.
export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES:-${ACTOR_GPUS:-0,1,2,3}}"
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_experiment external_judge "$@"
