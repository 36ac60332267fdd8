#!/usr/bin/env bash
# Install fadtq's GPU stack on a cluster node, in the order pip cannot do in one step:
#   1. pip install -e ".[gpu]"   verl[vllm]==0.9.1: vLLM 0.24, torch 2.11 (CUDA 13.0 wheels), transformers 5.9
#   2. pip install "flash-attn==<verl's pin>" --no-build-isolation
#      verl's actor loads with flash_attention_2 and its padding-free Qwen2-VL path calls
#      flash_attn_varlen_func, but verl[vllm] does not bring flash-attn. PyPI has it only as an sdist
#      whose setup imports torch, so it is compiled here against step 1's torch: this needs nvcc
#      from a CUDA toolkit of torch's CUDA major version (13) and a C++ compiler, and takes long.
#   3. checks that flash_attn, vllm and verl import.
#
# Usage (inside the environment to install into, e.g. an activated venv, from anywhere):
#   bash scripts/install_gpu.sh
#   bash scripts/install_gpu.sh --print-flash-attn-requirement   # verl's pin, from its metadata; no install
# Environment:
#   PYTHON              interpreter to install into (default: python)
#   FLASH_ATTN_WHEEL    a prebuilt flash-attn wheel (path or URL) to install instead of compiling; it must
#                       match torch, CUDA, Python and the C++ ABI (the script prints the tags to look for)
#   CUDA_HOME           the CUDA toolkit to compile with (default: found like torch does: CUDA_PATH,
#                       nvcc on PATH, /usr/local/cuda)
#   FLASH_ATTN_CUDA_ARCHS, MAX_JOBS, NVCC_THREADS   flash-attn's own build settings. The default builds
#                       for sm 80;90;100;120; FLASH_ATTN_CUDA_ARCHS=80 builds only what Ampere and Ada
#                       cards (A100, A40, A6000, L40S) run, a fraction of the time. MAX_JOBS defaults to
#                       min(cores / 2, free GB / 9).
# Re-running is safe: step 2 is skipped when the pinned flash-attn already imports.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python}"
# Used only if verl's metadata cannot be read; tests/test_install_gpu.py keeps it equal to verl's pin.
FLASH_ATTN_FALLBACK_REQUIREMENT="flash-attn==2.8.3"

die() { echo "install_gpu: error: $*" >&2; exit 2; }
say() { echo "[install_gpu] $*"; }

# verl pins flash-attn in its `fsdp` extra through a nested extra (verl[flash-attn-cu130torch211]);
# fadtq follows that chain in the installed verl's metadata (the script runs from the checkout's root).
flash_attn_requirement() {
    "$PYTHON" -c '
import sys
from fadtq.verl_ext.version import verl_extra_requirement
requirement = verl_extra_requirement("fsdp", "flash-attn")
sys.exit("verl is not installed, or its fsdp extra names no flash-attn") if requirement is None else print(requirement)'
}

if [ "${1:-}" = "--print-flash-attn-requirement" ]; then
    flash_attn_requirement
    exit
elif [ $# -gt 0 ]; then
    die "unknown argument '$1' — run without arguments (settings are environment variables, see the header of $0)"
fi

command -v "$PYTHON" >/dev/null 2>&1 || die "no '$PYTHON' on PATH — activate the environment to install into, or set PYTHON=/path/to/python3.11"
"$PYTHON" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 12)))' \
    || die "PYTHON=$PYTHON is not a Python 3.10-3.12 (fadtq's range) — set PYTHON=/path/to/python3.11"

# The toolkit torch.utils.cpp_extension will compile with, looked up in the same order.
find_cuda_home() {
    if [ -n "${CUDA_HOME:-}" ]; then echo "$CUDA_HOME"
    elif [ -n "${CUDA_PATH:-}" ]; then echo "$CUDA_PATH"
    elif command -v nvcc >/dev/null 2>&1; then dirname "$(dirname "$(command -v nvcc)")"
    elif [ -d /usr/local/cuda ]; then echo /usr/local/cuda
    fi
}

# Checked before step 1 so that a node without a toolkit fails in a second, not after the downloads.
if [ -z "${FLASH_ATTN_WHEEL:-}" ]; then
    cuda_home="$(find_cuda_home)"
    [ -n "$cuda_home" ] && [ -x "$cuda_home/bin/nvcc" ] \
        || die "no CUDA toolkit (nvcc) found${cuda_home:+ in $cuda_home} — flash-attn is compiled against torch's CUDA 13: load a CUDA 13 toolkit (e.g. \`module load cuda/13.0\`, or CUDA_HOME=/usr/local/cuda-13.0) or pass a prebuilt wheel with FLASH_ATTN_WHEEL=…"
    command -v "${CXX:-c++}" >/dev/null 2>&1 \
        || die "no C++ compiler ('${CXX:-c++}') on PATH — install g++ (or load a gcc module), or pass a prebuilt wheel with FLASH_ATTN_WHEEL=…"
fi

say "step 1/3: pip install -e .[gpu] (verl[vllm]==0.9.1: vLLM, torch, transformers)"
"$PYTHON" -m pip install -e ".[gpu]"

if ! requirement="$(flash_attn_requirement 2>/dev/null)"; then
    say "warning: could not read verl's flash-attn pin ($(flash_attn_requirement 2>&1 | tail -n 1)); using $FLASH_ATTN_FALLBACK_REQUIREMENT"
    requirement="$FLASH_ATTN_FALLBACK_REQUIREMENT"
fi
pinned_version="${requirement#flash-attn==}"

# What a prebuilt wheel must match, in the tags flash-attn's wheel names use.
wheel_tags="$("$PYTHON" -c '
import platform, sys, torch
cuda = torch.version.cuda or "none"
cu = "cu" + cuda.replace(".", "")
torch_version = torch.__version__.split("+")[0]
abi = "cxx11abi" + str(torch._C._GLIBCXX_USE_CXX11_ABI).upper()
python = "cp%d%d" % sys.version_info[:2]
print(f"CUDA {cuda} ({cu}), torch {torch_version}, {python}, {abi}, linux_{platform.machine()}")')"
installed_flash_attn="$("$PYTHON" -c 'import flash_attn; print(flash_attn.__version__)' 2>/dev/null || true)"

if [ "$installed_flash_attn" = "$pinned_version" ]; then
    say "step 2/3: flash-attn $installed_flash_attn already imports — skipped"
elif [ -n "${FLASH_ATTN_WHEEL:-}" ]; then
    say "step 2/3: pip install $FLASH_ATTN_WHEEL (needs: $wheel_tags)"
    "$PYTHON" -m pip install "$FLASH_ATTN_WHEEL"
else
    torch_cuda="$("$PYTHON" -c 'import torch; print(torch.version.cuda or "")')"
    [ -n "$torch_cuda" ] || die "the installed torch is a CPU build — reinstall it from PyPI's default index (pip install --force-reinstall torch==2.11.0) and rerun"
    nvcc_release="$("$cuda_home/bin/nvcc" --version | sed -n 's/.*release \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p')"
    # torch refuses to compile extensions with a toolkit of another CUDA major version.
    [ "${nvcc_release%%.*}" = "${torch_cuda%%.*}" ] \
        || die "nvcc in $cuda_home is CUDA $nvcc_release but torch is built for CUDA $torch_cuda — point CUDA_HOME at a CUDA ${torch_cuda%%.*}.x toolkit, or pass a prebuilt wheel with FLASH_ATTN_WHEEL=… ($wheel_tags)"
    # flash-attn's setup first tries a prebuilt wheel from GitHub, guessing its name from torch's CUDA
    # version; it maps every CUDA >= 12 to its cu12 builds, which do not load against CUDA-13 torch, and
    # the download hangs on nodes without internet. Compile instead.
    if [ "${torch_cuda%%.*}" -ge 13 ]; then
        export FLASH_ATTENTION_FORCE_BUILD="${FLASH_ATTENTION_FORCE_BUILD:-TRUE}"
    fi
    say "step 2/3: pip install $requirement --no-build-isolation (compiles with $cuda_home/bin/nvcc, CUDA $nvcc_release, for sm ${FLASH_ATTN_CUDA_ARCHS:-80;90;100;120}; long)"
    CUDA_HOME="$cuda_home" "$PYTHON" -m pip install "$requirement" --no-build-isolation \
        || die "building $requirement failed (see above) — or install a prebuilt wheel for $wheel_tags with FLASH_ATTN_WHEEL=… bash $0"
fi

say "step 3/3: import check"
"$PYTHON" -c "
import flash_attn, verl, vllm
from flash_attn import flash_attn_varlen_func  # what verl's padding-free Qwen2-VL path calls
print(f'flash-attn {flash_attn.__version__}, vllm {vllm.__version__}, verl {verl.__version__}')
" || die "the GPU stack does not import (see above) — if flash_attn is what fails, rebuild it, or use a prebuilt wheel for $wheel_tags"
installed_flash_attn="$("$PYTHON" -c 'import flash_attn; print(flash_attn.__version__)')"
[ "$installed_flash_attn" = "$pinned_version" ] \
    || say "warning: flash-attn $installed_flash_attn is installed, verl 0.9.1 pins $pinned_version"
say "done. Next: \`fadtq doctor\` checks this node for the cluster run."
