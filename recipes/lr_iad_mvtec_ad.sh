#!/usr/bin/env bash
# LR-IAD (second seed paper) on MVTec-AD: GRPO with KL loss, format + accuracy + focal rare-class reward, binary question, no judge; 4 GPUs.
# Data (training pairs at MVTec-AD's own defect share): fadtq build-data mvtec-ad --root /data/mvtec_anomaly_detection --out data/mvtec_ad_natural --balance natural
# Usage: bash recipes/lr_iad_mvtec_ad.sh [--dry-run] [key=value ...]   (environment: see recipes/_common.sh; TRAIN_FILES / VAL_FILES default to data/mvtec_ad_natural/)
natural_data="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/data/mvtec_ad_natural"
TRAIN_FILES="${TRAIN_FILES:-$natural_data/train.parquet}"
VAL_FILES="${VAL_FILES:-$natural_data/test.parquet}"
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_experiment lr_iad_mvtec_ad "$@"
