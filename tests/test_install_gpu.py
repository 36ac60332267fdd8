"""scripts/install_gpu.sh: valid bash, installs verl's own flash-attn pin, in the right order, and
fails in one line before any install when no CUDA toolkit is there. pip is replaced by a recorder:
nothing is installed."""

import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "install_gpu.sh"


def verl_flash_attn_pin() -> str:
    """flash-attn's requirement in verl's `fsdp` extra, which names it through a nested verl[...] extra."""
    lines = requires("verl") or []
    nested = [m.group(1) for line in lines
              if (m := re.fullmatch(r'verl\[([\w-]+)\]; extra == "fsdp"', line))]
    pins = [m.group(1) for line in lines for extra in nested
            if (m := re.fullmatch(rf'flash-attn(==[\w.]+); extra == "{re.escape(extra)}"', line))]
    assert len(pins) == 1, f"verl's fsdp extra should pin flash-attn exactly once: {lines}"
    return f"flash-attn{pins[0]}"


def run_script(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHON": sys.executable, **env})


def test_script_is_valid_bash():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_flash_attn_pin_is_read_from_verls_metadata():
    result = run_script("--print-flash-attn-requirement")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == verl_flash_attn_pin() == "flash-attn==2.8.3"


def test_fallback_pin_matches_verls_metadata():
    fallback = re.search(r'^FLASH_ATTN_FALLBACK_REQUIREMENT="([^"]+)"$', SCRIPT.read_text(), re.M)
    assert fallback and fallback.group(1) == verl_flash_attn_pin()


def test_no_cuda_toolkit_is_one_line_before_any_install(tmp_path):
    result = run_script(CUDA_HOME=str(tmp_path / "no-cuda"))
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "no CUDA toolkit (nvcc)" in result.stderr
    assert "FLASH_ATTN_WHEEL" in result.stderr


def fake_environment(tmp_path: Path, nvcc_release: str) -> dict:
    """A `python` that records `-m pip …` (and does nothing) and runs everything else for real, a CUDA
    toolkit whose nvcc reports ``nvcc_release``, and a C++ compiler that exists."""
    log = tmp_path / "pip.log"
    shim = tmp_path / "python"
    shim.write_text(f'#!/usr/bin/env bash\nif [ "$1" = -m ] && [ "$2" = pip ]; then\n'
                    f'  echo "${{*:3}} | CUDA_HOME=${{CUDA_HOME:-}} FORCE_BUILD=${{FLASH_ATTENTION_FORCE_BUILD:-}}" >> {log}\n'
                    f'  exit 0\nfi\nexec {sys.executable} "$@"\n')
    nvcc = tmp_path / "cuda" / "bin" / "nvcc"
    nvcc.parent.mkdir(parents=True)
    nvcc.write_text(f'#!/usr/bin/env bash\necho "Cuda compilation tools, release {nvcc_release}, V{nvcc_release}.88"\n')
    cxx = tmp_path / "c++"
    cxx.write_text("#!/usr/bin/env bash\n")
    for tool in (shim, nvcc, cxx):
        tool.chmod(0o755)
    return {"PYTHON": str(shim), "CUDA_HOME": str(tmp_path / "cuda"), "CXX": str(cxx)}


def pip_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "pip.log"
    return log.read_text().splitlines() if log.exists() else []


def torch_cuda() -> str:
    import torch

    if not torch.version.cuda:
        pytest.skip("the installed torch is a CPU build; the script's CUDA-version checks need a CUDA torch")
    return torch.version.cuda


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_installs_base_then_builds_verls_flash_attn_pin(tmp_path):
    cuda = torch_cuda()
    result = run_script(**fake_environment(tmp_path, cuda))
    # the recorder installed nothing, so the final import check must fail — in one line
    assert result.returncode == 2 and "does not import" in result.stderr.strip().splitlines()[-1]
    base, flash_attn = pip_calls(tmp_path)
    assert base.startswith("install -e .[gpu] |")
    forced = "TRUE" if int(cuda.split(".")[0]) >= 13 else ""
    assert flash_attn == (f"install {verl_flash_attn_pin()} --no-build-isolation | "
                          f"CUDA_HOME={tmp_path / 'cuda'} FORCE_BUILD={forced}")


def test_nvcc_of_another_cuda_major_is_refused_in_one_line(tmp_path):
    cuda = torch_cuda()
    other = f"{int(cuda.split('.')[0]) - 1}.4"
    result = run_script(**fake_environment(tmp_path, other))
    assert result.returncode == 2 and len(pip_calls(tmp_path)) == 1  # the base install only
    last = result.stderr.strip().splitlines()[-1]
    assert f"CUDA {other} but torch is built for CUDA {cuda}" in last


def test_a_prebuilt_wheel_needs_no_toolkit(tmp_path):
    env = {**fake_environment(tmp_path, "0.0"), "CUDA_HOME": str(tmp_path / "no-cuda")}
    result = run_script(FLASH_ATTN_WHEEL="/wheels/flash_attn-2.8.3-cp311-cp311-linux_x86_64.whl", **env)
    assert result.returncode == 2 and "does not import" in result.stderr.strip().splitlines()[-1]
    assert [call.split(" |")[0] for call in pip_calls(tmp_path)] == [
        "install -e .[gpu]", "install /wheels/flash_attn-2.8.3-cp311-cp311-linux_x86_64.whl"]
