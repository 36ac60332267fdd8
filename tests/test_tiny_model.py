"""The offline tiny Qwen2.5-VL: loads through transformers and verl, runs two-image forward and generate."""

import subprocess
import sys

import numpy as np
import torch
from PIL import Image


def _two_image_inputs(processor):
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "Reference image:"}, {"type": "image"},
        {"type": "text", "text": "Test image:"}, {"type": "image"},
        {"type": "text", "text": "Is the test image normal? Answer as <think>...</think><answer>A</answer>."},
    ]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    images = [Image.new("RGB", (56, 56), (200, 30, 30)), Image.new("RGB", (84, 56), (30, 200, 30))]
    return text, processor(text=[text], images=images, return_tensors="pt")


def test_loads_with_auto_classes_and_verl(tiny_model_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor, Qwen2_5_VLForConditionalGeneration
    from verl.utils import hf_processor, hf_tokenizer

    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    assert isinstance(AutoModelForImageTextToText.from_pretrained(tiny_model_dir), Qwen2_5_VLForConditionalGeneration)
    assert type(hf_processor(tiny_model_dir)).__name__ == "Qwen2_5_VLProcessor"
    tokenizer = hf_tokenizer(tiny_model_dir)
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"


def test_chat_template_emits_one_vision_block_per_image(tiny_model_dir):
    from transformers import AutoProcessor

    text, inputs = _two_image_inputs(AutoProcessor.from_pretrained(tiny_model_dir))
    assert text.count("<|vision_start|><|image_pad|><|vision_end|>") == 2
    assert text.endswith("<|im_start|>assistant\n")
    assert inputs["image_grid_thw"].tolist() == [[1, 4, 4], [1, 4, 6]]


def test_think_and_answer_tags_survive_skip_special_tokens(tiny_model_dir):
    from verl.utils import hf_tokenizer

    tokenizer = hf_tokenizer(tiny_model_dir)
    response = "<think>the test image has a scratch</think><answer>B</answer>"
    ids = tokenizer.encode(response + "<|im_end|>")
    assert tokenizer.decode(ids, skip_special_tokens=True) == response


def test_two_image_forward_generate_and_backward(tiny_model_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    _, inputs = _two_image_inputs(processor)
    out = model(**inputs, labels=inputs["input_ids"])
    assert out.logits.shape[:2] == inputs["input_ids"].shape
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert any(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    generated = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert generated.shape[1] == inputs["input_ids"].shape[1] + 8 or generated[0, -1] == model.config.text_config.eos_token_id


def test_cli_refuses_non_empty_dir_without_force(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    result = subprocess.run([sys.executable, "-m", "fadtq", "make-tiny-model", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--force" in lines[0] and str(tmp_path) in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]  # nothing written


def answer_letter_logits(model, processor, rows) -> np.ndarray:
    """Per row, the logits of the three answer tokens right after ``<think>…</think><answer``: the BPE
    writes ``>A`` / ``>B`` / ``>C`` as single tokens, so that is where the policy picks its letter."""
    from fadtq.eval.runner import chat_with_images

    letters = processor.tokenizer.convert_tokens_to_ids([">A", ">B", ">C"])
    assert len(set(letters)) == 3 and processor.tokenizer.unk_token_id not in letters
    out = []
    for _, row in rows.iterrows():
        messages, images = chat_with_images(row)
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = processor(text=[text + "<think>the images</think><answer"], images=images, return_tensors="pt")
        with torch.no_grad():
            out.append(model(**inputs).logits[0, -1, letters].numpy())
    return np.array(out)


def image_sensitivity(init_std: float, seed: int, processor, rows) -> float:
    """How much the answer depends on the images at initialisation: the std across image pairs of
    the letter logits (centred per pair), averaged over the three letters."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from fadtq.offline.tiny_qwen2_5_vl import build_config

    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(build_config(processor.tokenizer, init_std)).eval()
    logits = answer_letter_logits(model, processor, rows)
    return float((logits - logits.mean(axis=1, keepdims=True)).std(axis=0).mean())


def test_init_std_makes_the_answer_depend_on_the_images(tiny_model_dir, small_pair3c):
    """At transformers' default std the letter barely moves with the images (RL then sees no reward
    difference the images explain); a larger std raises that sensitivity several-fold, every seed."""
    import pandas as pd
    from transformers import AutoProcessor

    from fadtq.offline.tiny_qwen2_5_vl import DEFAULT_INIT_STD

    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    rows = pd.read_parquet(small_pair3c.files["test"]).head(16)
    for seed in (0, 1):
        default, wider = (image_sensitivity(std, seed, processor, rows) for std in (DEFAULT_INIT_STD, 0.05))
        assert wider > 4 * default, (seed, default, wider)


def test_make_tiny_model_writes_the_init_std_and_refuses_a_bad_one(tmp_path):
    import json

    from fadtq.cli import main as fadtq_main

    assert fadtq_main(["make-tiny-model", str(tmp_path / "m"), "--init-std", "0.05"]) == 0
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["initializer_range"] == config["text_config"]["initializer_range"] == 0.05
    assert config["vision_config"]["initializer_range"] == 0.05
    assert fadtq_main(["make-tiny-model", str(tmp_path / "bad"), "--init-std", "0"]) == 2
    assert not (tmp_path / "bad").exists()
