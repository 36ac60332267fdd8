#!/usr/bin/env bash
# LR-IAD's focal rare-class reward on top of FAD-TQ (second seed paper).
# Usage: bash recipes/ablation_focal.sh [--dry-run | --doctor] [key=value ...]   (environment: recipes/README.md)
exec fadtq train +experiment=focal "$@"
