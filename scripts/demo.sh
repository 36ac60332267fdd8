#!/usr/bin/env bash
# The main job on the embedded default: creates .venv if missing, installs fadtq, runs `fadtq demo`.
# Extra arguments go to `fadtq demo`, e.g. `bash scripts/demo.sh --out runs/demo`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/_venv.sh
ensure_venv judge-cpu
exec fadtq demo "$@"
