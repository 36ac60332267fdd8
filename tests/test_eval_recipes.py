"""Baseline recipes (Table 2 rows) and the GPU-free parts of the vLLM path."""

import base64
import io
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from fadtq.eval.runner import chat_with_images, resolve_model, vllm_conversation

REPO = Path(__file__).resolve().parents[1]
TABLE2_MODELS = {
    "baseline_qwen2_5_vl_3b.sh": "Qwen/Qwen2.5-VL-3B-Instruct",
    "baseline_qwen2_5_vl_7b.sh": "Qwen/Qwen2.5-VL-7B-Instruct",
    "baseline_qwen2_5_vl_32b.sh": "Qwen/Qwen2.5-VL-32B-Instruct",
    "baseline_minicpm_v_4.sh": "openbmb/MiniCPM-V-4",
    "baseline_kimi_vl_a3b_instruct.sh": "moonshotai/Kimi-VL-A3B-Instruct",
    "baseline_kimi_vl_a3b_thinking.sh": "moonshotai/Kimi-VL-A3B-Thinking",
    "baseline_gemma_3n_e4b.sh": "google/gemma-3n-E4B-it",
}


@pytest.mark.parametrize("script", sorted(TABLE2_MODELS))
def test_baseline_recipe_is_valid_and_fails_clearly_without_data(script, tmp_path):
    path = REPO / "recipes" / script
    text = path.read_text()
    assert TABLE2_MODELS[script] in text and "run_baseline" in text and os.access(path, os.X_OK)
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    env = {**os.environ, "FADTQ_VAL_FILES": str(tmp_path / "absent.parquet"), "FADTQ_BASELINE_OUT": str(tmp_path / "out")}
    result = subprocess.run(["bash", str(path)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "absent.parquet" in result.stderr and not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def pair_rows(small_pair3c):
    return pd.read_parquet(small_pair3c.files["test"])


def test_vllm_conversation_carries_both_images_on_the_training_grid(pair_rows):
    row = pair_rows.iloc[0]
    conversation = vllm_conversation(row)
    messages, images = chat_with_images(row)
    assert [m["role"] for m in conversation] == [m["role"] for m in messages] == ["system", "user"]
    parts = conversation[1]["content"]
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert len(urls) == 2 and all(u.startswith("data:image/png;base64,") for u in urls)
    # reference first, then test: the placeholders' order in the recorded prompt
    texts = [p["type"] for p in parts]
    assert texts.index("image_url") < len(texts) - 1 and parts[0]["text"].startswith("Reference image")
    for url, image, recorded in zip(urls, images, row["images"], strict=True):
        decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        assert decoded.size == image.size  # lossless: vLLM gets exactly the resized pixels
        width, height = decoded.size
        assert width % 28 == 0 and height % 28 == 0 and width * height <= recorded["max_pixels"]
    joined = "".join(p.get("text", "") for p in parts)
    assert row["extra_info"]["question"] in joined and "<image>" not in joined


def test_hub_ids_pass_through_and_unknown_paths_are_refused(tmp_path):
    assert resolve_model("Qwen/Qwen2.5-VL-7B-Instruct", tmp_path) == ("Qwen/Qwen2.5-VL-7B-Instruct",
                                                                      "Qwen/Qwen2.5-VL-7B-Instruct")
    empty = tmp_path / "empty"
    empty.mkdir()
    for bad in (empty, tmp_path / "absent", "./relative/absent"):
        with pytest.raises(ValueError, match="neither a Hugging Face model folder"):
            resolve_model(bad, tmp_path)
