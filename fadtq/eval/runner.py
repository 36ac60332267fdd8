"""Batched inference over a pair parquet, with the prompt recorded in each row.

Backends: ``vllm`` (GPU clusters; ``vllm.LLM.chat`` with two images per prompt) and ``hf``
(transformers ``generate``; CPU and small runs). Greedy by default. Resumable: rows whose index is
already in the output file are skipped, and each finished batch is appended and flushed.
``model`` may be a Hugging Face folder or a verl checkpoint (``…/global_step_N/actor``), which is
merged into a Hugging Face folder through verl's own model merger first.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image
from tqdm import tqdm

from fadtq.rewards.parsing import answer_to_label, parse_response


@dataclass
class SamplingOptions:
    max_new_tokens: int = 512
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int = 0


class EvalInputError(ValueError):
    pass


def resolve_model(model: str | Path, cache_dir: Path) -> Path:
    """A HF folder as is; a verl FSDP checkpoint (``model_world_size_*.pt`` + ``huggingface/``) merged once."""
    path = Path(model)
    if not path.exists():
        raise EvalInputError(f"{path}: model folder not found — pass a Hugging Face model folder or a verl "
                             "checkpoint's actor folder (…/global_step_N/actor)")
    if (path / "config.json").is_file():
        return path
    if list(path.glob("model_world_size_*_rank_*.pt")) and (path / "huggingface").is_dir():
        target = cache_dir / f"merged-{path.parent.name}"
        if not (target / "config.json").is_file():
            subprocess.run([sys.executable, "-m", "verl.model_merger", "merge", "--backend", "fsdp",
                            "--local_dir", str(path), "--target_dir", str(target)], check=True,
                           stdout=subprocess.DEVNULL)
        return target
    raise EvalInputError(f"{path}: neither a Hugging Face model folder (config.json) nor a verl checkpoint "
                         "(model_world_size_*.pt + huggingface/) — point --model at one")


def load_rows(data: str | Path, limit: int | None = None) -> pd.DataFrame:
    path = Path(data)
    if not path.is_file():
        raise EvalInputError(f"{path}: test parquet not found — build it with `fadtq build-data`")
    frame = pd.read_parquet(path)
    missing = {"prompt", "images", "reward_model", "extra_info"} - set(frame.columns)
    if missing:
        raise EvalInputError(f"{path}: not a fadtq pair parquet (missing columns {sorted(missing)})")
    return frame.head(limit) if limit else frame


def done_indices(out: Path) -> set[int]:
    if not out.exists():
        return set()
    done = set()
    for line in out.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            done.add(int(json.loads(line)["index"]))
        except (ValueError, KeyError, TypeError):
            continue
    return done


def chat_with_images(row) -> tuple[list[dict], list[Image.Image]]:
    """The row's messages with each ``<image>`` turned into an image content item, and the images
    resized exactly as in training (qwen-vl-utils with the row's ``max_pixels``)."""
    from qwen_vl_utils import fetch_image

    images = [fetch_image({"image": Image.open(io.BytesIO(img["bytes"])), "max_pixels": int(img["max_pixels"])})
              for img in row["images"]]
    messages = []
    for message in row["prompt"]:
        parts = str(message["content"]).split("<image>")
        content = []
        for i, text in enumerate(parts):
            if i:
                content.append({"type": "image"})
            if text:
                content.append({"type": "text", "text": text})
        messages.append({"role": message["role"], "content": content})
    return messages, images


def prediction_record(row, response: str, model_name: str) -> dict:
    info = row["extra_info"]
    parsed = parse_response(response)
    return {
        "index": int(info["index"]),
        "category": info["category"],
        "label": row["reward_model"]["ground_truth"],
        "pred": answer_to_label(parsed.answer, info["options"]),
        "well_formed": parsed.well_formed,
        "think_words": len(parsed.think.split()) if parsed.think else 0,
        "response": response,
        "model": model_name,
        "prompt_version": info.get("prompt_version", ""),
        "data_source": row["data_source"],
        "test_path": info.get("test_path", ""),
        "reference_path": info.get("reference_path", ""),
    }


def generate_hf(model_dir: Path, rows: list, options: SamplingOptions) -> list[str]:
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    cache = generate_hf.__dict__.setdefault("cache", {})
    if str(model_dir) not in cache:
        processor = AutoProcessor.from_pretrained(model_dir)
        processor.tokenizer.padding_side = "left"
        model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype="auto").eval()
        cache.clear()
        cache[str(model_dir)] = (processor, model)
    processor, model = cache[str(model_dir)]
    texts, images = [], []
    for row in rows:
        messages, row_images = chat_with_images(row)
        texts.append(processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
        images.extend(row_images)
    inputs = processor(text=texts, images=images, return_tensors="pt", padding=True)
    torch.manual_seed(options.seed)
    sampling = {"do_sample": False} if options.temperature <= 0 else {
        "do_sample": True, "temperature": options.temperature, "top_p": options.top_p}
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=options.max_new_tokens, **sampling)
    return processor.batch_decode(output[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


def generate_vllm(model_dir: Path, rows: list, options: SamplingOptions) -> list[str]:  # pragma: no cover - GPU only
    try:
        from vllm import LLM, SamplingParams
    except ImportError as exc:
        raise EvalInputError("the vllm backend needs vLLM (GPU): pip install 'fadtq[gpu]', or use --backend hf") from exc
    import base64

    cache = generate_vllm.__dict__.setdefault("cache", {})
    if str(model_dir) not in cache:
        cache.clear()
        cache[str(model_dir)] = LLM(model=str(model_dir), limit_mm_per_prompt={"image": 2}, seed=options.seed)
    llm = cache[str(model_dir)]
    conversations = []
    for row in rows:
        messages, images = chat_with_images(row)  # already resized: vLLM sees the training grid
        encoded = iter(images)
        conversation = []
        for message in messages:
            content = []
            for part in message["content"]:
                if part["type"] == "image":
                    buffer = io.BytesIO()
                    next(encoded).save(buffer, format="PNG")
                    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
                    content.append({"type": "image_url", "image_url": {"url": url}})
                else:
                    content.append(part)
            conversation.append({"role": message["role"], "content": content})
        conversations.append(conversation)
    params = SamplingParams(max_tokens=options.max_new_tokens, temperature=options.temperature, top_p=options.top_p,
                            seed=options.seed)
    return [out.outputs[0].text for out in llm.chat(conversations, params, use_tqdm=False)]


BACKENDS = {"hf": generate_hf, "vllm": generate_vllm}


def run_eval(model, data, out, *, backend: str = "hf", batch_size: int = 8, limit: int | None = None,
             options: SamplingOptions | None = None, progress: bool = True) -> dict:
    """Run inference and append prediction records to ``out``; returns counts."""
    options = options or SamplingOptions()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model_dir = resolve_model(model, out.parent)
    frame = load_rows(data, limit)
    done = done_indices(out)
    todo = [row for _, row in frame.iterrows() if int(row["extra_info"]["index"]) not in done]
    generate = BACKENDS[backend]
    model_name = Path(model).name if Path(model).name != "actor" else Path(model).parent.name
    with open(out, "a", encoding="utf-8") as fh, tqdm(total=len(todo), desc=f"eval ({backend})", unit="pair",
                                                      disable=not progress) as bar:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            for row, response in zip(batch, generate(model_dir, batch, options)):
                fh.write(json.dumps(prediction_record(row, response, model_name), ensure_ascii=False) + "\n")
            fh.flush()
            bar.update(len(batch))
    return {"rows": len(frame), "skipped_done": len(frame) - len(todo), "generated": len(todo), "out": str(out)}
