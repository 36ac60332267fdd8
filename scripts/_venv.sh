# Shared by scripts/test.sh and scripts/demo.sh: create .venv if missing and install fadtq into it.
# Usage: source scripts/_venv.sh; ensure_venv "test"   (extras to install, comma-separated)
# Re-installs only when pyproject.toml or the constraints change (a stamp file records their hash).

ensure_venv() {
    local extras="$1"
    local venv="${FADTQ_VENV:-.venv}"
    local python="${PYTHON:-}"
    if [ -z "$python" ]; then
        for candidate in python3.11 python3.12 python3.10 python3; do
            if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 12)))'; then
                python="$candidate"; break
            fi
        done
    fi
    if [ -z "$python" ]; then
        echo "fadtq: error: no Python 3.10-3.12 found; install one or set PYTHON=/path/to/python3.11" >&2
        return 1
    fi
    if [ ! -x "$venv/bin/python" ]; then
        echo "[fadtq] creating $venv with $python"
        "$python" -m venv "$venv" || { echo "fadtq: error: could not create $venv; install python3-venv" >&2; return 1; }
    fi
    local stamp="$venv/.fadtq-installed"
    local want
    want="$extras:$(cat pyproject.toml constraints/cpu.txt | sha256sum | cut -c1-16)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "[fadtq] installing fadtq[$extras] into $venv (first run: a few minutes)"
        # The CPU environment pins torch/torchvision (constraints/cpu.txt); verl itself does not name torch.
        "$venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null
        "$venv/bin/python" -m pip install --quiet --progress-bar off -c constraints/cpu.txt -e ".[$extras]"
        echo "$want" > "$stamp"
    fi
    export PATH="$PWD/$venv/bin:$PATH"
    # Everything here runs offline: no model hub, no wandb, quiet tokenizers.
    export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled TOKENIZERS_PARALLELISM=false
    export RAY_USAGE_STATS_ENABLED=0
}
