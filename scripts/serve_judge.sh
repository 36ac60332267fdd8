#!/usr/bin/env bash
# The production judge (Qwen3-8B) with vLLM on one GPU: `fadtq serve-judge --vllm`, whose --help lists the options.
exec fadtq serve-judge --vllm "$@"
