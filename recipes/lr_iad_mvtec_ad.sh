#!/usr/bin/env bash
# LR-IAD (second seed paper) on MVTec-AD: GRPO with KL loss, format + accuracy + focal rare-class reward, binary question, no judge; 4 GPUs.
# Data (training pairs at MVTec-AD's own defect share): fadtq build-data mvtec-ad --root /data/mvtec_anomaly_detection --out data/mvtec_ad_natural --balance natural
# Usage: bash recipes/lr_iad_mvtec_ad.sh [--dry-run | --doctor] [key=value ...]   (environment: recipes/README.md; FADTQ_TRAIN_FILES / FADTQ_VAL_FILES default to data/mvtec_ad_natural/)
exec fadtq train +experiment=lr_iad_mvtec_ad "$@"
