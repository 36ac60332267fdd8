#!/usr/bin/env bash
# Run the test-suite: creates .venv if missing, installs fadtq with its test extra, runs pytest.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/test_rewards_table.py -x`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/_venv.sh
ensure_venv test
exec python -m pytest "$@"
