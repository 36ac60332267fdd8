"""Batched inference over a pair parquet, with the prompt recorded in each row.

Backends: ``vllm`` (GPU: ``vllm.LLM.chat``, two images per prompt) and ``hf`` (transformers
``generate``, left padding; CPU and small runs). Both see the images exactly as the trainer does:
resized by qwen-vl-utils with each image's recorded ``max_pixels``. Greedy by default.

Resumable: rows whose index is already in the output file are skipped; every finished batch is
appended and flushed, so an interrupted run loses at most one batch.

``model`` may be a Hugging Face folder, a hub id, or a verl checkpoint (``…/global_step_N/actor``
or ``…/global_step_N``), which is merged into a Hugging Face folder once through verl's own model
merger (``python -m verl.model_merger merge``). A checkpoint root (verl's ``trainer.default_local_dir``)
or ``<root>/latest`` stands for the step its tracker file names.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from PIL import Image
from tqdm import tqdm

from fadtq.eval.predictions import make_record, scan_existing

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class EvalInputError(ValueError):
    """Bad input to ``fadtq eval``: the message names the file and what to do."""


@dataclass
class SamplingOptions:
    max_new_tokens: int = 1024
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int = 0


@dataclass
class EngineOptions:
    """Model loading: ``trust_remote_code`` for models with custom code (MiniCPM-V, Kimi-VL); the rest is vLLM's."""

    trust_remote_code: bool = False
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None


# --------------------------------------------------------------------------------------------- model


def is_verl_checkpoint(path: Path) -> bool:
    """An actor folder saved by verl: FSDP shards (``model_world_size_*_rank_*.pt``) or Megatron's
    ``dist_ckpt``, next to the ``huggingface/`` config/tokenizer/processor."""
    fsdp = any(path.glob("model_world_size_*_rank_*.pt")) and (path / "huggingface").is_dir()
    megatron = (path / "dist_ckpt").is_dir() or (path / "model" / "huggingface").is_dir()
    return fsdp or megatron


def merged_model_dir(checkpoint: Path, cache_dir: Path) -> Path:
    """Where a checkpoint's merged HF model is kept: one folder per checkpoint path *and* version
    (modification time of its shards), so two runs' ``global_step_N`` never share a merge."""
    shards = sorted(checkpoint.glob("model_world_size_*_rank_*.pt")) or sorted(checkpoint.rglob("*"))[:1]
    stamp = max((p.stat().st_mtime_ns for p in shards), default=0)
    key = hashlib.sha1(f"{checkpoint.resolve()}|{stamp}".encode()).hexdigest()[:10]
    return cache_dir / f"{checkpoint.parent.parent.name}_{checkpoint.parent.name}_{key}"


def merge_checkpoint(checkpoint: Path, target: Path, trust_remote_code: bool = False) -> Path:
    """Merge a verl checkpoint into ``target`` with verl's model merger (once; atomic: a failed
    merge leaves nothing behind)."""
    if (target / "config.json").is_file():
        return target
    backend = "fsdp" if any(checkpoint.glob("model_world_size_*_rank_*.pt")) else "megatron"
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    cmd = [sys.executable, "-m", "verl.model_merger", "merge", "--backend", backend,
           "--local_dir", str(checkpoint), "--target_dir", str(partial)]
    if trust_remote_code:
        cmd.append("--trust-remote-code")
    print(f"merging verl checkpoint {checkpoint} → {target} (verl.model_merger, {backend})", flush=True)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0 or not (partial / "config.json").is_file():
        shutil.rmtree(partial, ignore_errors=True)
        last = (result.stderr.strip().splitlines() or ["no output"])[-1][:300]
        raise EvalInputError(f"{checkpoint}: verl's model merger failed ({last}) — check the checkpoint is complete, or "
                             f"run `python -m verl.model_merger merge --backend {backend} --local_dir {checkpoint} "
                             "--target_dir MERGED` yourself and pass --model MERGED")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial.rename(target)
    return target


# verl's trainer rewrites this after every completed save, in trainer.default_local_dir, with the step
# number alone (trainer/ppo/v1/trainer_base.py `_save_checkpoint`; verl's resume reads it the same way).
VERL_CHECKPOINT_TRACKER = "latest_checkpointed_iteration.txt"


def resolve_latest_checkpoint(model: str | Path) -> Path | None:
    """``<root>/latest`` or ``<root>`` (a verl checkpoint root) → ``<root>/global_step_N/actor``, N read
    from verl's tracker file; None when ``model`` is neither, so it is resolved as given. Pure path logic."""
    path = Path(model)
    if path.name == "latest" and not path.exists():
        root = path.parent
        if not root.is_dir():
            if HUB_ID.match(str(model)):
                return None  # org/latest: a hub id
            raise EvalInputError(f"{model}: no folder {root} — point --model at <trainer.default_local_dir>/latest")
    elif path.is_dir() and (path / VERL_CHECKPOINT_TRACKER).is_file():
        root = path
    else:
        return None
    tracker = root / VERL_CHECKPOINT_TRACKER
    if not tracker.is_file():
        raise EvalInputError(f"{tracker}: not found — {root} is not a verl checkpoint root (trainer.default_local_dir, "
                             "where verl writes it after each save), or no save finished yet; pass "
                             "…/global_step_N/actor instead")
    text = tracker.read_text(encoding="utf-8", errors="replace").strip()
    if not (text.isascii() and text.isdigit()):
        raise EvalInputError(f"{tracker}: holds {text[:40]!r}, not a step number — pass …/global_step_N/actor instead")
    step = int(text)
    actor = root / f"global_step_{step}" / "actor"
    if not actor.is_dir():
        saved = sorted(int(n) for p in root.glob("global_step_*/actor")
                       if (n := p.parent.name.removeprefix("global_step_")).isascii() and n.isdigit())
        raise EvalInputError(f"{actor}: missing, though {tracker.name} names step {step} (an interrupted save or a "
                             f"removed folder) — steps saved in {root}: {', '.join(map(str, saved)) or 'none'}; "
                             "pass one as …/global_step_N/actor")
    return actor


def resolve_model(model: str | Path, cache_dir: Path, trust_remote_code: bool = False) -> tuple[str, str]:
    """``(what to load, display name)`` for a HF folder, a hub id, a verl checkpoint, or a checkpoint
    root / ``<root>/latest`` (the step verl's tracker names)."""
    path = resolve_latest_checkpoint(model) or Path(model)
    if path.is_dir() and not (path / "config.json").is_file() and (path / "actor").is_dir():
        path = path / "actor"  # …/global_step_N → its actor
    if path.is_dir() and (path / "config.json").is_file():
        return str(path), path.name
    if path.is_dir() and is_verl_checkpoint(path):
        target = merge_checkpoint(path, merged_model_dir(path, cache_dir), trust_remote_code)
        return str(target), f"{path.parent.parent.name}/{path.parent.name}"
    if not path.exists() and HUB_ID.match(str(model)) and not str(model).startswith("."):
        return str(model), str(model)  # a hub id: the backend downloads it
    raise EvalInputError(f"{model}: neither a Hugging Face model folder (config.json), a hub id (org/name), nor a verl "
                         "checkpoint (…/global_step_N/actor with model_world_size_*.pt and huggingface/) — point --model "
                         "at one")


# ---------------------------------------------------------------------------------------------- data


def load_rows(data: str | Path, limit: int | None = None) -> pd.DataFrame:
    """The test parquet's rows (the first ``limit``), checked against the row contract."""
    path = Path(data)
    if not path.is_file():
        raise EvalInputError(f"{path}: test parquet not found — build it with `fadtq build-data`")
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not parquet
        raise EvalInputError(f"{path}: not a readable parquet file ({type(exc).__name__}) — pass the test.parquet "
                             "written by `fadtq build-data`") from exc
    missing = {"prompt", "images", "reward_model", "extra_info", "data_source"} - set(frame.columns)
    if missing:
        raise EvalInputError(f"{path}: not a fadtq pair parquet (missing columns {sorted(missing)}) — build it with "
                             "`fadtq build-data`")
    indices = [int(info["index"]) for info in frame["extra_info"]]
    if len(set(indices)) != len(indices):
        raise EvalInputError(f"{path}: extra_info.index is not unique — rebuild it with `fadtq build-data`")
    if limit is not None and limit < 0:
        raise EvalInputError(f"--limit {limit}: must be zero or more")
    return frame.head(limit) if limit is not None else frame


def chat_with_images(row) -> tuple[list[dict], list[Image.Image]]:
    """The row's messages with each ``<image>`` turned into an image content item, and the images
    resized exactly as in training (qwen-vl-utils ``fetch_image`` with the row's ``max_pixels``,
    as verl's ``process_image`` does)."""
    from qwen_vl_utils import fetch_image

    images = []
    for image in row["images"]:
        settings = {k: v for k, v in dict(image).items() if k != "bytes" and v is not None}
        images.append(fetch_image({**settings, "image": Image.open(io.BytesIO(image["bytes"]))}))
    messages = []
    for message in row["prompt"]:
        content = []
        for i, text in enumerate(str(message["content"]).split("<image>")):
            if i:
                content.append({"type": "image"})
            if text:
                content.append({"type": "text", "text": text})
        messages.append({"role": message["role"], "content": content})
    return messages, images


# ------------------------------------------------------------------------------------------ backends


class HFBackend:
    """transformers ``generate``: batched, left padding, greedy unless a temperature is given."""

    def __init__(self, model: str, engine: EngineOptions):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.processor = AutoProcessor.from_pretrained(model, trust_remote_code=engine.trust_remote_code)
        self.processor.tokenizer.padding_side = "left"
        self.model = AutoModelForImageTextToText.from_pretrained(
            model, dtype="auto", trust_remote_code=engine.trust_remote_code).to(self.device).eval()

    def generate(self, rows: list, options: SamplingOptions) -> list[tuple[str, bool | None]]:
        texts, images = [], []
        for row in rows:
            messages, row_images = chat_with_images(row)
            texts.append(self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
            images.append(row_images)
        inputs = self.processor(text=texts, images=images, return_tensors="pt", padding=True).to(self.device)
        self.torch.manual_seed(options.seed)
        sampling = ({"do_sample": False, "temperature": None, "top_p": None, "top_k": None} if options.temperature <= 0
                    else {"do_sample": True, "temperature": options.temperature, "top_p": options.top_p})
        with self.torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=options.max_new_tokens, **sampling)
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        stop_ids = self.model.generation_config.eos_token_id
        stop_ids = set(stop_ids if isinstance(stop_ids, list) else [stop_ids] if stop_ids is not None else [])
        truncated = [len(stop_ids.intersection(seq.tolist())) == 0 and len(seq) >= options.max_new_tokens
                     for seq in new_tokens]
        responses = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        return list(zip(responses, truncated, strict=True))


def _data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)  # lossless (the model sees the resized pixels), fast
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def vllm_conversation(row) -> list[dict]:
    """The row as an OpenAI-style conversation for ``vllm.LLM.chat``: each image a PNG data URL of the
    image already resized with the row's ``max_pixels`` (a Qwen grid is a multiple of 28, which
    vLLM's own resize leaves unchanged), so vLLM sees the training grid."""
    messages, images = chat_with_images(row)
    remaining = iter(images)
    conversation = []
    for message in messages:
        parts = message["content"]
        if all(part["type"] == "text" for part in parts):  # e.g. the system prompt: plain text for every template
            conversation.append({"role": message["role"], "content": "".join(part["text"] for part in parts)})
            continue
        conversation.append({"role": message["role"], "content": [
            {"type": "image_url", "image_url": {"url": _data_url(next(remaining))}} if part["type"] == "image" else part
            for part in parts]})
    return conversation


class VLLMBackend:  # pragma: no cover - needs a GPU and vLLM
    """vLLM offline inference (``LLM.chat``), two images per prompt."""

    def __init__(self, model: str, engine: EngineOptions, seed: int):
        try:
            from vllm import LLM
        except ImportError as exc:
            raise EvalInputError(f"{model}: the vllm backend needs vLLM on a GPU machine — install the GPU extra "
                                 "(pip install 'fadtq[gpu]') or use --backend hf") from exc
        kwargs = {"max_model_len": engine.max_model_len} if engine.max_model_len else {}
        self.llm = LLM(model=model, limit_mm_per_prompt={"image": 2}, trust_remote_code=engine.trust_remote_code,
                       tensor_parallel_size=engine.tensor_parallel_size,
                       gpu_memory_utilization=engine.gpu_memory_utilization, seed=seed, **kwargs)

    def generate(self, rows: list, options: SamplingOptions) -> list[tuple[str, bool | None]]:
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=options.max_new_tokens, temperature=max(options.temperature, 0.0),
                                top_p=options.top_p if options.temperature > 0 else 1.0, seed=options.seed)
        outputs = self.llm.chat([vllm_conversation(row) for row in rows], params, use_tqdm=False)
        return [(out.outputs[0].text, out.outputs[0].finish_reason == "length") for out in outputs]


def make_backend(name: str, model: str, engine: EngineOptions, seed: int):
    if name == "hf":
        return HFBackend(model, engine)
    if name == "vllm":
        return VLLMBackend(model, engine, seed)
    raise EvalInputError(f"--backend {name}: unknown backend — use vllm (GPU) or hf (transformers)")


# ------------------------------------------------------------------------------------------------ run


def run_eval(model, data, out, *, backend: str = "hf", batch_size: int = 8, limit: int | None = None,
             options: SamplingOptions | None = None, engine: EngineOptions | None = None, name: str | None = None,
             merged_dir=None, progress: bool = True) -> dict:
    """Generate a response for every row of ``data`` not yet in ``out`` and append its prediction
    record; returns counts."""
    options, engine = options or SamplingOptions(), engine or EngineOptions()
    if batch_size < 1:
        raise EvalInputError(f"--batch-size {batch_size}: must be at least 1")
    out = Path(out)
    frame = load_rows(data, limit)
    model_path, model_name = resolve_model(model, Path(merged_dir) if merged_dir else out.parent / "merged_models",
                                           engine.trust_remote_code)
    model_name = name or model_name
    existing = scan_existing(out)
    others = existing.models - {model_name}
    if others:
        raise EvalInputError(f"{out}: already holds predictions of {sorted(others)} — resume with the same model "
                             "(or --name), or write to another --out")
    todo = [row for _, row in frame.iterrows() if int(row["extra_info"]["index"]) not in existing.indices]
    result = {"rows": len(frame), "skipped_done": len(frame) - len(todo), "generated": 0, "out": str(out),
              "model": model_name}
    if not todo:
        return result
    try:
        generator = make_backend(backend, model_path, engine, options.seed)
    except (OSError, ValueError, ImportError) as exc:
        if isinstance(exc, EvalInputError):
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise EvalInputError(f"{model_path}: the {backend} backend could not load the model ({type(exc).__name__}: "
                             f"{first}) — check the folder or hub id (custom-code models need --trust-remote-code)") from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    sampling = asdict(options)
    with open(out, "a", encoding="utf-8") as fh, tqdm(total=len(todo), desc=f"fadtq eval ({backend})", unit="pair",
                                                      disable=not progress) as bar:
        if not existing.ends_with_newline:
            fh.write("\n")  # an interrupted write left a partial line: keep it on its own (it is counted as broken)
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            for row, (response, truncated) in zip(batch, generator.generate(batch, options), strict=True):
                info = row["extra_info"]
                record = make_record(
                    index=int(info["index"]), category=str(info["category"]), label=row["reward_model"]["ground_truth"],
                    response=response, options={k: v for k, v in dict(info["options"]).items() if v is not None},
                    model=model_name, prompt_version=str(info.get("prompt_version") or ""),
                    data_source=str(row["data_source"]), backend=backend, sampling=sampling, truncated=truncated)
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()
            result["generated"] += len(batch)
            bar.update(len(batch))
    return result
