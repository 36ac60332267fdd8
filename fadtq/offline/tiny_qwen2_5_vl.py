"""Build a tiny, randomly initialised Qwen2.5-VL model folder with no network access.

The folder loads with ``AutoProcessor`` / ``AutoModelForImageTextToText`` and with verl's
``hf_tokenizer`` / ``hf_processor``, so tests, CI and the CPU demo exercise the real transformers
and verl code paths of Qwen2.5-VL; only the weights are random and the vocabulary is small.

- Tokenizer: a byte-level BPE (Qwen2's split regex) trained on text generated here, wrapped as
  ``Qwen2Tokenizer``, plus Qwen2.5-VL's special tokens. ``<think>``/``<answer>`` stay *plain text*:
  verl decodes responses with ``skip_special_tokens=True`` and must see them.
- Chat template: Qwen2-VL's, which emits ``<|vision_start|><|image_pad|><|vision_end|>`` per image.
- Processor: ``Qwen2VLImageProcessor`` (patch 14, merge 2) + ``Qwen2VLVideoProcessor`` in a
  ``Qwen2_5_VLProcessor``; small ``max_pixels`` so CPU runs stay fast.
- Model: ``Qwen2_5_VLConfig`` with 2 text layers (hidden 64) and 2 vision blocks, fp32, ~0.5 M parameters.
  Weights are drawn with std ``init_std`` (transformers' ``initializer_range``, 0.02 by default).
  At 0.02 the answer-letter logits barely depend on the images (their std across image pairs is
  ~0.004), so RL sees no reward difference the images explain; 0.05 makes them ~10× more sensitive.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from pathlib import Path

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Qwen2-VL's chat template (default system prompt, one vision block per image or video item).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: Qwen2's pre-tokenisation regex (digits split singly, contractions, words, punctuation, spaces).
PRETOKENIZE_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

VOCAB_SIZE = 1024
MIN_PIXELS = 4 * 28 * 28
MAX_PIXELS = 16 * 28 * 28
#: transformers' own default weight std (``initializer_range``).
DEFAULT_INIT_STD = 0.02

_WORDS = (
    "the reference image shows a normal product and the test image shows the same product "
    "compare both images carefully look for structural damage such as a scratch crack dent stain "
    "contamination or a missing piece and for logical anomalies such as a missing part an extra part "
    "a wrong count wrong position wrong colour or wrong combination of parts "
    "breakfast box juice bottle pushpins screw bag splicing connectors bottle cable capsule carpet grid "
    "hazelnut leather metal nut pill screw tile toothbrush transistor wood zipper candle cashew chewinggum "
    "fryum macaroni pcb pipe answer question option think first then give the final answer in tags "
    "normal structural logical anomaly anomalous defect good which of the following best describes"
).split()


def _training_corpus(seed: int = 0) -> list[str]:
    """Text the BPE is trained on: prompt words, answer tags and numbers, generated locally."""
    rng = random.Random(seed)
    lines = []
    for _ in range(3000):
        words = rng.choices(_WORDS, k=rng.randint(4, 16))
        lines.append(" ".join(words).capitalize() + rng.choice([".", "?", ":", ","]))
    for _ in range(500):
        letter = rng.choice("ABC")
        lines.append(f"<think>{' '.join(rng.choices(_WORDS, k=8))}</think><answer>{letter}</answer>")
        lines.append(f"{rng.randint(0, 9999)} + {rng.randint(0, 999)} = {rng.randint(0, 99999)}")
    lines.append("ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789 ()[]{}<>/\\|-_=+*&^%$#@!~`'\";:")
    return lines


def build_tokenizer(seed: int = 0):
    """Train a byte-level BPE on local text and wrap it as a ``Qwen2Tokenizer`` with Qwen2.5-VL's specials."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_training_corpus(seed), trainer=trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tokenizer = Qwen2Tokenizer(vocab=model["vocab"], merges=merges, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:]})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_processor(tokenizer):
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    size = {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}
    image_processor = Qwen2VLImageProcessor(size=size, patch_size=14, merge_size=2, temporal_patch_size=2)
    video_processor = Qwen2VLVideoProcessor(size=size, patch_size=14, merge_size=2, temporal_patch_size=2)
    return Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )


def build_config(tokenizer, init_std: float = DEFAULT_INIT_STD):
    from transformers import Qwen2_5_VLConfig

    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in SPECIAL_TOKENS}
    vocab_size = ((len(tokenizer) + 63) // 64) * 64  # padded, as real checkpoints are
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            "tie_word_embeddings": False,
        },
        vision_config={
            "depth": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_heads": 4,
            "out_hidden_size": 64,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    # Each sub-model initialises its weights from its own config's std.
    for part in (config, config.text_config, config.vision_config):
        part.initializer_range = init_std
    return config


class OutputDirNotEmpty(FileExistsError):
    """Raised when the output folder already holds files and ``force`` was not given."""


def build_tiny_qwen2_5_vl(out_dir: str | Path, *, force: bool = False, seed: int = 0,
                          init_std: float = DEFAULT_INIT_STD) -> Path:
    """Write the tiny model folder (config, safetensors, tokenizer, processor, generation config).

    Builds into a temporary sibling folder and renames it at the end, so an interrupted build
    leaves nothing half-written. Refuses a non-empty ``out_dir`` unless ``force``.
    """
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not force:
            raise OutputDirNotEmpty(f"{out}: folder is not empty — choose another folder or pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    staging.chmod(0o755)
    try:
        torch.manual_seed(seed)
        tokenizer = build_tokenizer(seed)
        processor = build_processor(tokenizer)
        config = build_config(tokenizer, init_std)
        model = Qwen2_5_VLForConditionalGeneration(config).to(torch.float32)
        model.generation_config = GenerationConfig(
            bos_token_id=config.text_config.bos_token_id,
            eos_token_id=config.text_config.eos_token_id,
            pad_token_id=config.text_config.pad_token_id,
            do_sample=True,
            temperature=1.0,
        )
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
