#!/usr/bin/env bash
# LR-IAD (second seed paper) on VisA: GRPO with KL loss, format + accuracy + focal rare-class reward, binary question, no judge; 4 GPUs.
# Data (training pairs at VisA's own defect share): fadtq build-data visa --root /data/VisA --out data/visa_natural --balance natural
# Usage: bash recipes/lr_iad_visa.sh [--dry-run | --doctor] [key=value ...]   (environment: recipes/README.md; FADTQ_TRAIN_FILES / FADTQ_VAL_FILES default to data/visa_natural/)
exec fadtq train +experiment=lr_iad_visa "$@"
