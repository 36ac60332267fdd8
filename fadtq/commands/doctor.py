"""`fadtq doctor`: a preflight of this node against a training config, before a long GPU run."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fadtq.config_checks import ConfigError, as_list, check_judge_configured, config_value, looks_local
from fadtq.verl_ext.reward import JUDGE_URL_ENV

NAME = "doctor"
HELP = "preflight this node against a training config: GPUs, memory, driver, packages, model, data, disk, judge"
DESCRIPTION = """\
Composes the training config exactly as `fadtq train` does (same experiment, same overrides;
`fadtq train --doctor …` runs this) and checks, on the node you run it on, what would otherwise
fail minutes or hours into a run. One line per check, `✓ name: detail` or `✗ name: what is wrong
— the fix`; the exit status is 0 only if every check passes (1 if any fails, 2 for a config that
does not compose).

  config          fadtq's own config rules (verl's validate_config runs when training starts)
  gpus            CUDA devices visible here vs trainer.n_gpus_per_node (+ the verl-hosted judge's pool)
  gpu memory      free memory per GPU vs gpu_memory_utilization × total (vLLM refuses to start below it)
  cuda driver     the driver's CUDA version vs the CUDA torch was built for
  flash_attn      importable when the actor uses flash-attention / the padding-free path
  verl, vllm, transformers, torch
                  verl is the release fadtq extends; the others satisfy verl's own requirement
                  specifiers for the rollout engine in use (verl[vllm])
  actor model, judge model
                  a local folder with config.json, or a hub id in the Hugging Face cache
                  (never downloads; with HF_HUB_OFFLINE=1 an uncached id fails)
  train data, val data
                  the parquet files exist, their rows count, sampled images decode
  pair3c table 1  for data_source mvtec_loco_pair3c: label counts equal the paper's Table 1
  disk            free space under trainer.default_local_dir vs the checkpoints kept
  judge           an external judge answers the real, schema-constrained requests (as `fadtq judge-check`)
  judge address   with trainer.nnodes > 1, the external judge URL is not a loopback address

examples:
  fadtq doctor                                           # the paper's main run
  fadtq doctor +experiment=external_judge trainer.nnodes=2
  bash recipes/train_fadtq_qwen2_5_vl_3b.sh --doctor     # the recipe's experiment and overrides
  fadtq train +experiment=gpg --doctor                   # the same, as an option of the run itself
"""

#: When no weights can be read: Qwen2.5-VL-3B-Instruct, vision tower included.
FALLBACK_PARAMETERS = 3.75e9
#: Bytes per parameter of each part verl's FSDP checkpoint manager writes (``checkpoint.save_contents``).
CHECKPOINT_BYTES_PER_PARAMETER = {"model": 4, "optimizer": 8, "hf_model": 2}
#: verl's default ``actor_rollout_ref.actor.checkpoint.save_contents``.
DEFAULT_SAVE_CONTENTS = ("model", "optimizer", "extra")
#: Rows whose every image is decoded: the first few, plus a seeded sample of the rest.
FIRST_ROWS, SAMPLED_ROWS = 4, 8
FLASH_ATTN_FIX = ("pip install '{requirement}' --no-build-isolation after torch (it builds against the installed "
                  "torch), or the prebuilt wheel matching torch / CUDA / Python from flash-attn's releases")


@dataclass(frozen=True)
class CheckResult:
    """One line of the report: ``✓ name: detail`` or ``✗ name: detail — fix``."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = "✓" if self.ok else "✗"
        return f"{mark} {self.name}: {self.detail}" + (f" — {self.fix}" if not self.ok and self.fix else "")


def passed(name: str, detail: str) -> CheckResult:
    return CheckResult(name, True, detail)


def failed(name: str, detail: str, fix: str = "") -> CheckResult:
    return CheckResult(name, False, detail, fix)


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def _parameters(n: float) -> str:
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.3g} {unit} parameters"
    return f"{n:.0f} parameters"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- config ------------------------------------------------------------------------------------------

def check_config_rules(config) -> CheckResult:
    """fadtq's own rules (GPG on-policy, judge pool, GPU arithmetic, reward options); files are checked below."""
    from fadtq.config_checks import ConfigError, validate

    try:
        validate(config, files=False, verl=False)  # files: their own checks below; verl's run at launch
    except ConfigError as exc:
        return failed("config", str(exc))
    return passed("config", "fadtq's config rules hold (verl's validate_config runs when training starts)")


# --- GPUs --------------------------------------------------------------------------------------------

def _cpu_backend(config) -> bool:
    return config_value(config, "fadtq.backend") == "cpu"


def verl_hosted_judge(config) -> bool:
    """verl serves the judge on its own GPU pool."""
    return bool(config_value(config, "reward.reward_model.enable", False)
                and config_value(config, "reward.reward_model.enable_resource_pool", False))


def gpus_needed_here(config) -> tuple[int, int]:
    """(actor GPUs, judge GPUs) this node must show. On one node both pools live here; on several,
    each node carries ``trainer.n_gpus_per_node`` and the judge pool may sit on any of them."""
    actor = int(config_value(config, "trainer.n_gpus_per_node", 1))
    judge = 0
    if verl_hosted_judge(config) and int(config_value(config, "trainer.nnodes", 1)) == 1:
        judge = (int(config_value(config, "reward.reward_model.n_gpus_per_node", 0))
                 * int(config_value(config, "reward.reward_model.nnodes", 1)))
    return actor, judge


def _visible_devices_note() -> str:
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    return f"CUDA_VISIBLE_DEVICES={value}" if value is not None else "CUDA_VISIBLE_DEVICES unset"


NO_CUDA_FIX = ("run on a GPU node with the NVIDIA driver and torch's CUDA build (pip install -e '.[gpu]'), "
               "or train on CPU with +backend=cpu")


def check_gpu_count(config) -> CheckResult:
    if _cpu_backend(config):
        return passed("gpus", "none needed (fadtq.backend=cpu)")
    import torch

    actor, judge = gpus_needed_here(config)
    needed = actor + judge
    need_text = (f"{actor} (actor, trainer.n_gpus_per_node)" + (f" + {judge} (judge pool)" if judge else "")
                 + " on this node")
    nnodes = int(config_value(config, "trainer.nnodes", 1))
    if nnodes > 1:
        judge_total = (int(config_value(config, "reward.reward_model.n_gpus_per_node", 0))
                       * int(config_value(config, "reward.reward_model.nnodes", 1)) if verl_hosted_judge(config) else 0)
        need_text += f", {actor * nnodes + judge_total} in the whole Ray cluster (check `ray status`)"
    if not torch.cuda.is_available():
        return failed("gpus", f"torch.cuda.is_available() is False: no CUDA device visible ({_visible_devices_note()}); "
                              f"this config needs {need_text}", NO_CUDA_FIX)
    count = torch.cuda.device_count()
    if count < needed:
        return failed("gpus", f"{count} CUDA devices visible ({_visible_devices_note()}), this config needs {need_text}",
                      "run on a node with enough GPUs, widen CUDA_VISIBLE_DEVICES, or lower trainer.n_gpus_per_node "
                      "(FADTQ_GPUS_PER_NODE / FADTQ_JUDGE_GPUS)")
    return passed("gpus", f"{count} visible ({_visible_devices_note()}), needs {need_text}")


def gpu_memory_shares(config) -> list[tuple[str, float]]:
    """(pool, gpu_memory_utilization) per GPU index on this node: actor GPUs first, then the judge's.
    Ray usually hands out the lowest GPU indices first; the check follows that order."""
    actor, judge = gpus_needed_here(config)
    actor_share = float(config_value(config, "actor_rollout_ref.rollout.gpu_memory_utilization", 0.5))
    judge_share = float(config_value(config, "reward.reward_model.rollout.gpu_memory_utilization", 0.5))
    return [("actor", actor_share)] * actor + [("judge", judge_share)] * judge


def check_gpu_memory(config) -> CheckResult:
    if _cpu_backend(config):
        return passed("gpu memory", "no GPU memory needed (fadtq.backend=cpu)")
    import torch

    if not torch.cuda.is_available():
        return failed("gpu memory", "torch.cuda.is_available() is False: no CUDA device visible, so no free memory "
                                    "to measure", NO_CUDA_FIX)
    shares = gpu_memory_shares(config)[: torch.cuda.device_count()]  # too few GPUs is the gpus check's line
    short, lowest = [], None
    for index, (pool, share) in enumerate(shares):
        free, total = torch.cuda.mem_get_info(index)
        lowest = free if lowest is None else min(lowest, free)
        if free < share * total:
            short.append(f"GPU {index} ({pool}) has {_gib(free)} free of {_gib(total)}, needs {share:.2f} × total "
                         f"= {_gib(share * total)}")
    if short:
        return failed("gpu memory", "; ".join(short) + " (vLLM refuses to start with less free than "
                                                     "gpu_memory_utilization × total)",
                      "free those GPUs (nvidia-smi shows which processes hold them) or lower "
                      "actor_rollout_ref.rollout.gpu_memory_utilization / "
                      "reward.reward_model.rollout.gpu_memory_utilization")
    pools = sorted({f"{pool} ≥ {share:.2f} × total" for pool, share in shares})
    return passed("gpu memory", f"{len(shares)} GPUs have their share free ({', '.join(pools)}; "
                                f"least free {_gib(lowest or 0)})")


def _cuda_version_tuple(value) -> tuple[int, int] | None:
    """12040 (the CUDA driver API's encoding) or "12.4" → (12, 4)."""
    if isinstance(value, int) and value > 0:
        return value // 1000, (value % 1000) // 10
    match = re.match(r"\s*(\d+)\.(\d+)", str(value or ""))
    return (int(match.group(1)), int(match.group(2))) if match else None


def driver_cuda_version() -> tuple[tuple[int, int] | None, str]:
    """The newest CUDA version the installed NVIDIA driver supports, and where it was read; (None, why) if unknown."""
    import torch

    probe = getattr(torch.cuda, "driver_version", None)
    if callable(probe):
        with contextlib.suppress(Exception):
            version = _cuda_version_tuple(probe())
            if version:
                return version, "torch.cuda.driver_version"
    try:
        import pynvml
    except ImportError:
        pynvml = None
    if pynvml is not None:
        with contextlib.suppress(Exception):
            pynvml.nvmlInit()
            try:
                version = _cuda_version_tuple(int(pynvml.nvmlSystemGetCudaDriverVersion()))
            finally:
                pynvml.nvmlShutdown()
            if version:
                return version, "pynvml"
    if shutil.which("nvidia-smi") is None:
        return None, "no torch.cuda.driver_version, pynvml not installed, nvidia-smi not found: no NVIDIA driver here"
    try:
        output = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"nvidia-smi failed ({_one_line(exc)})"
    match = re.search(r"CUDA Version:\s*(\d+\.\d+)", output)
    if not match:
        return None, "nvidia-smi printed no 'CUDA Version' (driver not loaded?)"
    return _cuda_version_tuple(match.group(1)), "nvidia-smi"


def check_cuda_driver(config) -> CheckResult:
    if _cpu_backend(config):
        return passed("cuda driver", "not needed (fadtq.backend=cpu)")
    import torch

    if torch.version.cuda is None:
        return failed("cuda driver", f"torch {torch.__version__} is a CPU build (torch.version.cuda is None)",
                      "install the CUDA build of torch that verl pins (pip install -e '.[gpu]')")
    built_for = _cuda_version_tuple(torch.version.cuda)
    supported, source = driver_cuda_version()
    if supported is None:
        reason = source
        if not torch.cuda.is_available():
            reason = f"torch.cuda.is_available() is False: no CUDA device visible; {source}"
        return failed("cuda driver", f"the driver's CUDA version is unknown ({reason}); torch {torch.__version__} "
                                     f"needs CUDA {torch.version.cuda}", NO_CUDA_FIX)
    text = (f"driver supports CUDA {supported[0]}.{supported[1]} ({source}), torch {torch.__version__} built for "
            f"{torch.version.cuda}")
    if built_for and supported < built_for:
        return failed("cuda driver", text, f"upgrade the NVIDIA driver to one supporting CUDA {torch.version.cuda}, or "
                                           "install a torch built for the driver's CUDA version")
    return passed("cuda driver", text)


# --- packages ----------------------------------------------------------------------------------------

def flash_attention_reasons(config) -> list[str]:
    """Why the resolved config needs flash-attention (empty: it does not)."""
    reasons = []
    if config_value(config, "actor_rollout_ref.model.use_remove_padding", False):
        reasons.append("actor_rollout_ref.model.use_remove_padding=true (padding-free path calls flash_attn_varlen_func)")
    attn = config_value(config, "actor_rollout_ref.model.override_config.attn_implementation")
    if attn is None:
        reasons.append("attn_implementation unset → verl loads the actor with flash_attention_2")
    elif str(attn).startswith("flash_attention"):
        reasons.append(f"attn_implementation={attn}")
    return reasons


def verl_requirements(extras: Iterable[str] = ()) -> dict[str, object]:
    """verl's own requirement specifiers per package (canonical name → SpecifierSet): the unconditional ones
    plus those of ``extras`` (e.g. ``vllm``), read from the installed verl's metadata."""
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.utils import canonicalize_name

    try:
        lines = requires("verl") or []
    except PackageNotFoundError:
        return {}
    wanted = ("", *extras)
    specs: dict[str, SpecifierSet] = {}
    for line in lines:
        requirement = Requirement(line)
        if requirement.marker is not None and not any(requirement.marker.evaluate({"extra": e}) for e in wanted):
            continue
        name = canonicalize_name(requirement.name)
        specs[name] = specs.get(name, SpecifierSet()) & requirement.specifier
    return specs


def check_flash_attn(config) -> CheckResult:
    from fadtq.verl_ext.version import verl_extra_requirement

    reasons = flash_attention_reasons(config)
    try:
        import flash_attn
        from flash_attn import flash_attn_varlen_func  # noqa: F401  (what verl's padding-free Qwen2-VL path calls)
    except Exception as exc:  # an ABI mismatch is an ImportError or OSError with an undefined symbol
        if not reasons:
            attn = config_value(config, "actor_rollout_ref.model.override_config.attn_implementation")
            return passed("flash_attn", f"not installed; not needed (no padding-free path, attn_implementation={attn})")
        return failed("flash_attn", f"import flash_attn failed ({_one_line(exc)}); the config needs it: "
                                    f"{'; '.join(reasons)}",
                      FLASH_ATTN_FIX.format(requirement=verl_extra_requirement("fsdp", "flash-attn") or "flash-attn"))
    return passed("flash_attn", f"{getattr(flash_attn, '__version__', '?')} imports"
                                + (f" (needed: {'; '.join(reasons)})" if reasons else " (not needed by this config)"))


def check_verl_version() -> CheckResult:
    from importlib.metadata import version

    from fadtq.verl_ext.version import SUPPORTED_VERL, verl_version_problem

    problem = verl_version_problem()
    if problem:
        return failed("verl", problem)
    return passed("verl", f"{version('verl')} (fadtq extends verl {SUPPORTED_VERL})")


def rollout_engines(config) -> list[str]:
    """Rollout engines the run starts: the actor's, and the verl-hosted judge's."""
    engines = [str(config_value(config, "actor_rollout_ref.rollout.name", ""))]
    if verl_hosted_judge(config):
        engines.append(str(config_value(config, "reward.reward_model.rollout.name", "")))
    return sorted({e for e in engines if e})


def verl_extras(engines: Iterable[str]) -> list[str]:
    """Those of ``engines`` that are extras of the installed verl (``vllm``, ``sglang``; not ``hf``)."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        declared = set(metadata("verl").get_all("Provides-Extra") or [])
    except PackageNotFoundError:
        return []
    return [e for e in engines if e in declared]


def check_package_version(config, package: str) -> CheckResult:
    """``package`` (vllm, transformers, torch) satisfies verl's requirement specifiers for the engines in use."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

    from fadtq.verl_ext.version import SUPPORTED_VERL

    engines = rollout_engines(config)
    extras = verl_extras(engines)
    specifier = verl_requirements(extras).get(canonicalize_name(package))
    source = f"verl[{','.join(extras)}]" if extras else "verl"
    install_fix = f"pip install '{source}=={SUPPORTED_VERL}' (or pip install -e '.[gpu]') for verl's pinned set"
    try:
        installed = version(package)
    except PackageNotFoundError:
        if package == "vllm" and "vllm" not in engines:
            return passed(package, f"not installed; not needed (rollout engines: {', '.join(engines) or 'none'})")
        return failed(package, f"not installed, but {source} needs {package}{specifier or ''}", install_fix)
    if specifier is None or not str(specifier):
        return passed(package, f"{installed} ({source} sets no bound)")
    try:
        ok = specifier.contains(Version(installed), prereleases=True)
    except InvalidVersion:
        ok = False
    if not ok:
        return failed(package, f"{installed} is installed but {source} requires {package}{specifier}", install_fix)
    return passed(package, f"{installed} satisfies {source}'s {package}{specifier}")


# --- models ------------------------------------------------------------------------------------------

def hub_offline(environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    return any(environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _safetensors_parameters(files: Iterable[Path]) -> int:
    """Exact parameter count from safetensors headers (8-byte little-endian length, then JSON); reads no weights."""
    total = 0
    for file in files:
        with open(file, "rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(length))
        total += sum(math.prod(entry["shape"]) for name, entry in header.items() if name != "__metadata__")
    return total


def _dtype_bytes(config_json: dict) -> int:
    dtype = str(config_json.get("torch_dtype") or config_json.get("dtype")
                or (config_json.get("text_config") or {}).get("torch_dtype") or "bfloat16")
    return 4 if "32" in dtype else 2


def model_files(path: str, cache_dir: str | None = None) -> tuple[Path | None, list[Path], list[str], dict | None]:
    """(config.json, weight files present, weight files missing, safetensors index) of a local folder or a
    hub id in the Hugging Face cache; config.json is None when neither has it. Never downloads."""
    if looks_local(path):
        folder = Path(path).expanduser()
        config = folder / "config.json"
        index_file = folder / "model.safetensors.index.json"
        index = json.loads(index_file.read_text()) if index_file.is_file() else None
        if index is not None:
            names = sorted(set(index.get("weight_map", {}).values()))
            return (config if config.is_file() else None, [folder / n for n in names if (folder / n).is_file()],
                    [n for n in names if not (folder / n).is_file()], index)
        weights = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("pytorch_model*.bin"))
        return config if config.is_file() else None, weights, [] if weights else ["*.safetensors"], None
    from huggingface_hub import try_to_load_from_cache

    def cached(filename: str) -> Path | None:
        found = try_to_load_from_cache(path, filename, cache_dir=cache_dir)
        return Path(found) if isinstance(found, str) else None

    config = cached("config.json")
    if config is None:
        return None, [], [], None
    index_file = cached("model.safetensors.index.json")
    if index_file is not None:
        index = json.loads(index_file.read_text())
        names = sorted(set(index.get("weight_map", {}).values()))
        present = {n: cached(n) for n in names}
        return config, [p for p in present.values() if p], [n for n, p in present.items() if p is None], index
    single = cached("model.safetensors")
    return config, [single] if single else [], [] if single else ["model.safetensors"], None


def model_parameter_count(path: str, cache_dir: str | None = None) -> tuple[float, str]:
    """Parameters of the model at ``path`` (local folder or cached hub id) and how they were counted;
    :data:`FALLBACK_PARAMETERS` (Qwen2.5-VL-3B) when nothing readable is there."""
    with contextlib.suppress(Exception):
        config, present, missing, index = model_files(path, cache_dir)
        safetensors = [p for p in present if p.suffix == ".safetensors"]
        if safetensors and not missing:
            return float(_safetensors_parameters(safetensors)), "counted from the safetensors headers"
        if index and index.get("metadata", {}).get("total_size") and config is not None:
            size = float(index["metadata"]["total_size"])
            bytes_each = _dtype_bytes(json.loads(config.read_text()))
            return size / bytes_each, f"safetensors index total_size / {bytes_each} B"
    return FALLBACK_PARAMETERS, f"weights not readable here: assumed {FALLBACK_PARAMETERS / 1e9:.2f} B (Qwen2.5-VL-3B)"


def check_model_path(name: str, key: str, path: str, *, offline: bool | None = None,
                     cache_dir: str | None = None) -> CheckResult:
    """``path`` (the value of ``key``) is a local model folder, or a hub id whose files are in the HF cache."""
    offline = hub_offline() if offline is None else offline
    if not path:
        return failed(name, f"{key} is not set", f"set {key}=<hub id or local folder>")
    if "://" in path:
        return passed(name, f"{path}: remote storage, copied by verl at start-up (not checked here)")
    try:
        config, _, missing, _ = model_files(path, cache_dir)
    except Exception as exc:  # e.g. a value that is neither an existing folder nor a valid hub id
        return failed(name, f"{key}: {path} is neither a model folder here nor a readable hub id ({_one_line(exc)})",
                      f"point {key} at a local model folder or a hub id such as Qwen/Qwen2.5-VL-3B-Instruct")
    if looks_local(path):
        folder = Path(path).expanduser()
        if not folder.is_dir():
            return failed(name, f"{key}: {path} is not a folder",
                          f"point {key} at a downloaded Hugging Face model folder, or use a hub id")
        if config is None:
            return failed(name, f"{key}: {path} has no config.json, so it is not a Hugging Face model folder",
                          f"point {key} at the folder that holds config.json and the weights")
        if missing:
            return failed(name, f"{key}: {path} lacks weight files ({', '.join(missing[:3])})",
                          "finish the download or copy the missing shards")
        count, how = model_parameter_count(path, cache_dir)
        return passed(name, f"{path}: local folder with config.json, {_parameters(count)} ({how})")
    fetch = f"`hf download {path}` on a node with internet access (same HF_HOME), or point {key} at a local folder"
    if config is not None and not missing:
        return passed(name, f"{path}: in the Hugging Face cache ({config.parents[2]})")
    what = "not in the Hugging Face cache" if config is None else f"partly cached (missing {', '.join(missing[:3])})"
    if offline:
        return failed(name, f"{key}: {path} is {what} and HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE forbid downloading",
                      fetch)
    return passed(name, f"{path}: {what}; will download from the hub at start-up (cache it first to save GPU time)")


def check_actor_model(config) -> CheckResult:
    key = "actor_rollout_ref.model.path"
    return check_model_path("actor model", key, str(config_value(config, key, "")))


def check_judge_model(config) -> CheckResult:
    if not config_value(config, "reward.reward_model.enable", False):
        return passed("judge model", "not hosted by verl (reward.reward_model.enable=false)")
    key = "reward.reward_model.model_path"
    return check_model_path("judge model", key, str(config_value(config, key, "")))


# --- data --------------------------------------------------------------------------------------------

def _image_bytes(image) -> bytes:
    """The encoded image of one entry of a row's ``images`` list (bytes, or a path to a file)."""
    if isinstance(image, dict):
        if image.get("bytes"):
            return image["bytes"]
        image = image.get("image") or image.get("path")
    if isinstance(image, (bytes, bytearray)):
        return bytes(image)
    if isinstance(image, str):
        return Path(image.removeprefix("file://")).read_bytes()
    raise ValueError(f"unsupported image entry {type(image).__name__}")


def _sample_rows(count: int, seed: int) -> list[int]:
    import random

    first = list(range(min(FIRST_ROWS, count)))
    rest = range(len(first), count)
    return first + sorted(random.Random(seed).sample(rest, min(SAMPLED_ROWS, len(rest))))


def undecodable_images(path: Path, image_key: str, rows: list[int]) -> list[str]:
    """Each image of ``rows`` that PIL cannot fully decode, as ``row R image I (reason)``; streams the file."""
    import pyarrow.parquet as pq
    from PIL import Image

    wanted, problems, offset = set(rows), [], 0
    parquet = pq.ParquetFile(path)
    if image_key not in parquet.schema_arrow.names:
        return [f"no '{image_key}' column (data.image_key)"]
    for batch in parquet.iter_batches(batch_size=64, columns=[image_key]):
        for i, images in enumerate(batch.column(0).to_pylist()):
            row = offset + i
            if row not in wanted:
                continue
            for j, image in enumerate(images or []):
                try:
                    with Image.open(io.BytesIO(_image_bytes(image))) as decoded:
                        decoded.load()
                except Exception as exc:  # PIL raises many types for one bad file
                    problems.append(f"row {row} image {j} ({_one_line(exc)})")
            if not images:
                problems.append(f"row {row} has no images")
        offset += batch.num_rows
        if offset > max(wanted, default=-1):
            break
    return problems


def check_data_files(config, key: str) -> CheckResult:
    """Every file of ``key`` exists and is parquet; sampled rows' images decode."""
    import pyarrow.parquet as pq

    name = "train data" if key == "data.train_files" else "val data"
    paths = as_list(config_value(config, key))
    if not paths:
        return failed(name, f"{key} is not set", f"set {key}=<parquet built by `fadtq build-data`>")
    rebuild = (f"build it with `fadtq build-data pair3c --root … --out …` (see data/README.md) or override "
               f"{key}=…")
    image_key = str(config_value(config, "data.image_key", "images"))
    seed = int(config_value(config, "data.seed", 42))
    total, checked = 0, 0
    for path in paths:
        if "://" in path:
            continue  # remote storage: verl copies it
        file = Path(path).expanduser()
        if not file.is_file():
            return failed(name, f"{key}: {path} does not exist", rebuild)
        try:
            count = pq.ParquetFile(file).metadata.num_rows
        except Exception as exc:
            return failed(name, f"{key}: {path} is not a readable parquet file ({_one_line(exc)})", rebuild)
        if count == 0:
            return failed(name, f"{key}: {path} has no rows", rebuild)
        rows = _sample_rows(count, seed)
        problems = undecodable_images(file, image_key, rows)
        if problems:
            return failed(name, f"{key}: {path}: {len(problems)} image(s) do not decode: {'; '.join(problems[:3])}",
                          "rebuild the file with `fadtq build-data` from the original images")
        total, checked = total + count, checked + len(rows)
    return passed(name, f"{', '.join(paths)}: {total} rows; every image of {checked} sampled rows decodes")


def _label_counts(paths: list[str]) -> tuple[dict, dict]:
    """Pair3C rows of ``paths``: (counts[split][category][label], rows per split)."""
    import pyarrow.parquet as pq

    from fadtq.data.build import DATA_SOURCE

    counts: dict = {}
    splits: dict = {}
    for path in paths:
        table = pq.read_table(Path(path).expanduser(), columns=["data_source", "reward_model", "extra_info"])
        for source, reward, extra in zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True):
            if source != DATA_SOURCE:
                continue
            extra, reward = extra or {}, reward or {}
            split, category, label = extra.get("split"), extra.get("category"), reward.get("ground_truth")
            per = counts.setdefault(split, {}).setdefault(category, {})
            per[label] = per.get(label, 0) + 1
            splits[split] = splits.get(split, 0) + 1
    return counts, splits


def check_pair3c_table1(config) -> CheckResult:
    """For Pair3C rows: counts per split, category and label equal the paper's Table 1."""
    from fadtq.data.build import DATA_SOURCE, PAPER_TABLE1_TEST, PAPER_TABLE1_TRAIN, matches_paper_table1

    name = "pair3c table 1"
    if _cpu_backend(config):
        return passed(name, "not checked for fadtq.backend=cpu (its smoke runs use small sets by design)")
    files = {key: [p for p in as_list(config_value(config, key)) if "://" not in p and Path(p).expanduser().is_file()]
             for key in ("data.train_files", "data.val_files")}
    try:
        per_key = {key: _label_counts(paths) for key, paths in files.items()}
    except Exception as exc:
        return failed(name, f"cannot read labels ({_one_line(exc)})", "fix the data files (see the data lines)")
    if not any(splits for _, splits in per_key.values()):
        return passed(name, f"no {DATA_SOURCE} rows: not a Pair3C run")
    expected_split = {"data.train_files": "train", "data.val_files": "test"}
    leaks = [f"{key} holds {n} '{split}' rows" for key, expected in expected_split.items()
             for split, n in per_key[key][1].items() if split != expected]
    counts: dict = {}
    for key_counts, _ in per_key.values():
        for split, per_category in key_counts.items():
            for category, per_label in per_category.items():
                merged = counts.setdefault(split, {}).setdefault(category, {})
                for label, n in per_label.items():
                    merged[label] = merged.get(label, 0) + n
    rebuild = ("rebuild with `fadtq build-data pair3c --root … --out data/pair3c --manifest "
               "data/pair3c_seed42_manifest.csv` (the paper's split)")
    if leaks:
        return failed(name, "; ".join(leaks), rebuild)
    if matches_paper_table1(counts):
        return passed(name, "600 train / 968 test pairs, every category × label equals the paper's Table 1")
    differences = []
    for split, table in (("train", PAPER_TABLE1_TRAIN), ("test", PAPER_TABLE1_TEST)):
        for category, per_label in table.items():
            for label, expected in per_label.items():
                found = counts.get(split, {}).get(category, {}).get(label, 0)
                if found != expected:
                    differences.append(f"{split} {category} {label} {found} (Table 1: {expected})")
    totals = ", ".join(f"{split} {sum(sum(p.values()) for p in counts.get(split, {}).values())}/"
                       f"{sum(sum(p.values()) for p in table.values())}"
                       for split, table in (("train", PAPER_TABLE1_TRAIN), ("test", PAPER_TABLE1_TEST)))
    return failed(name, f"{DATA_SOURCE} counts differ from the paper's Table 1 ({totals} pairs; {len(differences)} "
                        f"cells differ, e.g. {'; '.join(differences[:3])})", rebuild)


# --- disk --------------------------------------------------------------------------------------------

def checkpoint_bytes(parameters: float, save_contents: Iterable[str] = DEFAULT_SAVE_CONTENTS) -> float:
    """Disk size of one verl FSDP actor checkpoint of a model with ``parameters`` parameters.

    Per parameter, for each part listed in ``actor_rollout_ref.actor.checkpoint.save_contents``:
    ``model`` the fp32 sharded weights, 4 B; ``optimizer`` Adam's two fp32 moments m and v, 8 B;
    ``hf_model`` a bf16 Hugging Face copy, 2 B. ``extra`` (scheduler, RNG) is negligible.
    verl's default (model, optimizer, extra) is 12 B/parameter: 45e9 B for Qwen2.5-VL-3B's
    3.75e9 parameters, 52.5e9 B with hf_model as well.
    """
    return parameters * sum(CHECKPOINT_BYTES_PER_PARAMETER.get(part, 0) for part in set(save_contents))


def checkpoints_kept(total_steps: int, save_freq: int, max_to_keep: int | None) -> int:
    """Checkpoints on disk at the end: verl saves every ``save_freq`` steps and at the last step, and
    keeps the newest ``max_to_keep`` (None or ≤ 0: all). No saves when ``save_freq`` ≤ 0."""
    if save_freq <= 0 or total_steps <= 0:
        return 0
    saves = math.ceil(total_steps / save_freq)
    return min(saves, max_to_keep) if max_to_keep and max_to_keep > 0 else saves


def nearest_existing(path: Path) -> Path:
    path = path.expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk_space(directory: Path, checkpoints: int, bytes_per_checkpoint: float, note: str = "") -> CheckResult:
    """Free space at ``directory`` (or its nearest existing parent) holds ``checkpoints`` × ``bytes_per_checkpoint``."""
    where = nearest_existing(Path(directory))
    free = shutil.disk_usage(where).free
    needed = checkpoints * bytes_per_checkpoint
    text = (f"{_gb(free)} free at {where}; needs {checkpoints} checkpoint(s) × {_gb(bytes_per_checkpoint)} "
            f"= {_gb(needed)}" + (f" ({note})" if note else ""))
    if free < needed:
        return failed("disk", text, "free space, point trainer.default_local_dir at a larger disk, or lower "
                                    "trainer.max_actor_ckpt_to_keep / raise trainer.save_freq")
    return passed("disk", text)


def total_training_steps(config) -> int | None:
    """verl's step count: ``trainer.total_training_steps``, else (train rows // batch) × epochs (drop_last)."""
    import pyarrow.parquet as pq

    steps = config_value(config, "trainer.total_training_steps")
    if steps:
        return int(steps)
    try:
        rows = sum(pq.ParquetFile(Path(p).expanduser()).metadata.num_rows
                   for p in as_list(config_value(config, "data.train_files")))
    except Exception:
        return None
    return rows // int(config_value(config, "data.train_batch_size", 1)) * int(config_value(config, "trainer.total_epochs", 1))


def check_disk(config) -> CheckResult:
    directory = Path(str(config_value(config, "trainer.default_local_dir", "checkpoints")))
    save_freq = int(config_value(config, "trainer.save_freq", -1))
    keep = config_value(config, "trainer.max_actor_ckpt_to_keep")
    keep = int(keep) if keep is not None else None
    if save_freq <= 0:
        return passed("disk", f"no checkpoints saved (trainer.save_freq={save_freq})")
    steps = total_training_steps(config)
    if steps is None and not (keep and keep > 0):
        return failed("disk", "trainer.max_actor_ckpt_to_keep=null keeps every save, and the step count is unknown "
                              "(data.train_files unreadable)", "set trainer.max_actor_ckpt_to_keep (3 in the paper "
                                                               "config) or fix the data files")
    kept = checkpoints_kept(steps, save_freq, keep) if steps is not None else keep
    parameters, how = model_parameter_count(str(config_value(config, "actor_rollout_ref.model.path", "")))
    contents = as_list(config_value(config, "actor_rollout_ref.actor.checkpoint.save_contents")) or list(DEFAULT_SAVE_CONTENTS)
    per_param = checkpoint_bytes(1, contents)
    note = (f"{_parameters(parameters)}, {how}; {per_param:g} B/parameter for {'+'.join(contents)}; "
            f"{steps if steps is not None else '?'} steps, save_freq={save_freq}, max_actor_ckpt_to_keep={keep}")
    return check_disk_space(directory, kept, checkpoint_bytes(parameters, contents), note)


# --- judge -------------------------------------------------------------------------------------------

def external_judge_url(config, environ: Mapping[str, str] | None = None) -> str | None:
    """The external judge's URL, when the thinking-quality reward calls one. The reward's order
    (fadtq.verl_ext.reward): a verl-hosted judge wins; otherwise ``judge_url``, then ``FADTQ_JUDGE_URL``."""
    from fadtq.verl_ext.reward import resolve_judge

    environ = os.environ if environ is None else environ
    kwargs = config_value(config, "reward.custom_reward_function.reward_kwargs", {}) or {}
    if not kwargs.get("thinking_quality", True) or config_value(config, "reward.reward_model.enable", False):
        return None
    url, _model, _source = resolve_judge(kwargs.get("judge_url"), None, None, None, environ)
    return str(url) if url else None


def check_judge(config) -> CheckResult:
    """The external judge answers `fadtq judge-check`'s schema-constrained requests, as training sends them."""
    from fadtq.commands import judge_check

    kwargs = config_value(config, "reward.custom_reward_function.reward_kwargs", {}) or {}
    if not kwargs.get("thinking_quality", True):
        return passed("judge", "not used (reward_kwargs.thinking_quality=false)")
    try:
        check_judge_configured(config)
    except ConfigError as exc:
        return failed("judge", str(exc))
    url = external_judge_url(config)
    if url is None:  # configured, not external: verl hosts it
        ignored = f"; the exported {JUDGE_URL_ENV} is ignored" if os.environ.get(JUDGE_URL_ENV) else ""
        return passed("judge", f"served by verl on its own pool ({config_value(config, 'reward.reward_model.model_path')}); "
                               f"it starts with training{ignored}")
    out, err = io.StringIO(), io.StringIO()
    args = argparse.Namespace(url=url, model=kwargs.get("judge_model"),
                              timeout=float(kwargs.get("judge_timeout_s") or 60))
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = judge_check.run(args)
    if status != 0:
        message = next((line for line in err.getvalue().splitlines() if line.strip()), f"judge-check exited {status}")
        return failed("judge", message.removeprefix("fadtq judge-check: error: "))
    summary = next((line.strip() for line in out.getvalue().splitlines() if " judged," in line), "answered")
    return passed("judge", f"{url} (model {kwargs.get('judge_model') or 'server default'}): {summary}")


def is_loopback_host(url: str) -> bool:
    """True for 127.0.0.0/8, ::1, 0.0.0.0, ``localhost``: an address that means "this node" on every node."""
    import ipaddress
    from urllib.parse import urlsplit

    text = url if "://" in url else f"http://{url}"
    try:
        host = (urlsplit(text).hostname or "").lower()
    except ValueError:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def check_judge_address(config) -> CheckResult:
    url = external_judge_url(config)
    nnodes = int(config_value(config, "trainer.nnodes", 1))
    if url is None:
        return passed("judge address", "no external judge")
    if nnodes > 1 and is_loopback_host(url):
        return failed("judge address", f"{url} is a loopback address but trainer.nnodes={nnodes}: reward workers on "
                                       "the other nodes would call their own loopback",
                      f"set {JUDGE_URL_ENV} (or reward.custom_reward_function.reward_kwargs.judge_url) to "
                      "http://<judge host>:<port>, an address every node can reach")
    return passed("judge address", f"{url} on {nnodes} node(s)")


# --- command -----------------------------------------------------------------------------------------

def run_checks(config) -> list[CheckResult]:
    """Every check, in report order; a check that crashes is reported as failed, never hides the others."""
    checks: list[tuple[str, Callable[[], CheckResult]]] = [
        ("config", lambda: check_config_rules(config)),
        ("gpus", lambda: check_gpu_count(config)),
        ("gpu memory", lambda: check_gpu_memory(config)),
        ("cuda driver", lambda: check_cuda_driver(config)),
        ("flash_attn", lambda: check_flash_attn(config)),
        ("verl", check_verl_version),
        *[(p, lambda p=p: check_package_version(config, p)) for p in ("vllm", "transformers", "torch")],
        ("actor model", lambda: check_actor_model(config)),
        ("judge model", lambda: check_judge_model(config)),
        ("train data", lambda: check_data_files(config, "data.train_files")),
        ("val data", lambda: check_data_files(config, "data.val_files")),
        ("pair3c table 1", lambda: check_pair3c_table1(config)),
        ("disk", lambda: check_disk(config)),
        ("judge", lambda: check_judge(config)),
        ("judge address", lambda: check_judge_address(config)),
    ]
    results = []
    for name, check in checks:
        try:
            results.append(check())
        except Exception as exc:
            results.append(failed(name, f"the check itself failed ({_one_line(exc)})",
                                  "report this with the command line you ran"))
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("overrides", nargs="*", metavar="OVERRIDE",
                        help="Hydra overrides, exactly as for `fadtq train` "
                             "(+experiment=NAME, key=value, +key=value)")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.text import Text

    from fadtq.train import DEFAULT_CONFIG, TrainConfigError, compose_config

    try:
        config = compose_config(list(args.overrides), getattr(args, "config_name", DEFAULT_CONFIG))
    except (TrainConfigError, ValueError) as exc:
        print(f"fadtq doctor: error: {exc}", file=sys.stderr)
        return 2
    console = Console(highlight=False, soft_wrap=True)  # soft_wrap: each check stays one line when piped
    judge = external_judge_url(config) or ("verl-hosted" if config_value(config, "reward.reward_model.enable", False) else "none")
    console.print(f"fadtq doctor: experiment={config_value(config, 'trainer.experiment_name')} "
                  f"backend={config_value(config, 'fadtq.backend')} nodes={config_value(config, 'trainer.nnodes')} "
                  f"gpus_per_node={config_value(config, 'trainer.n_gpus_per_node')} judge={judge}", markup=False)
    results = run_checks(config)
    for result in results:
        mark = Text("✓", style="green") if result.ok else Text("✗", style="bold red")
        console.print(Text.assemble(mark, " ", result.line()[2:]))
    failures = sum(not r.ok for r in results)
    if failures:
        console.print(f"fadtq doctor: {failures} of {len(results)} checks failed", markup=False)
        return 1
    console.print(f"fadtq doctor: all {len(results)} checks passed", markup=False)
    return 0
