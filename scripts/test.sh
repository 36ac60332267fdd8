#!/usr/bin/env bash
# Run the test-suite: creates .venv if missing, installs fadtq with its test extra, lints (ruff), runs pytest.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/test_rewards_table.py -x`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/_venv.sh
ensure_venv test
ruff check --quiet . || { echo "fadtq: ruff found the problems above (fix them, or \`ruff check --fix .\`)" >&2; exit 1; }
exec python -m pytest "$@"
