"""verl's own RLHFDataset reads our Pair3C parquet with the offline tiny Qwen2.5-VL processor."""

import asyncio
import io
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

MAX_PIXELS = 16 * 28 * 28  # the tiny processor's own budget, so its grid is ours


@pytest.fixture(scope="module")
def small_build(small_pair3c):
    return small_pair3c


@pytest.fixture(scope="module")
def verl_setup(tiny_model_dir):
    import verl.trainer.config as verl_config
    from omegaconf import OmegaConf
    from verl.utils import hf_processor, hf_tokenizer

    def config(max_prompt_length):
        cfg = OmegaConf.load(Path(verl_config.__file__).parent / "data" / "legacy_data.yaml")
        cfg.filter_overlong_prompts = True
        cfg.filter_overlong_prompts_workers = None  # in-process: a forked filter worker deadlocks on CPU
        cfg.max_prompt_length = max_prompt_length
        return cfg

    return hf_tokenizer(tiny_model_dir), hf_processor(tiny_model_dir), config


def rollout_images(item, config):
    """The images exactly as verl's agent loop extracts them (qwen-vl-utils with our per-image keys)."""
    from verl.utils.dataset.rl_dataset import RLHFDataset

    images, _, _ = asyncio.run(RLHFDataset.process_multi_modal_info(item["raw_prompt"], image_patch_size=14,
                                                                     config=config))
    return images


def prompt_length(processor, item, images) -> int:
    text = processor.apply_chat_template(item["raw_prompt"], add_generation_prompt=True, tokenize=False)
    return len(processor(text=[text], images=images)["input_ids"][0])


def test_rlhf_dataset_reads_two_images_per_row_at_our_grid(small_build, verl_setup):
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

    tokenizer, processor, config = verl_setup
    cfg = config(4096)
    dataset = RLHFDataset(str(small_build.files["train"]), tokenizer, cfg, processor)
    frame = pd.read_parquet(small_build.files["train"])
    assert len(dataset) == len(frame) == 30
    for i in range(len(dataset)):
        item = dataset[i]
        assert item["extra_info"]["test_path"] == frame.extra_info[i]["test_path"]
        images = rollout_images(item, cfg)
        assert len(images) == 2
        for image, stored in zip(images, frame.images[i], strict=True):  # reference first, then test
            with Image.open(io.BytesIO(stored["bytes"])) as original:
                assert image.size == original.size  # no second resize: trainer and vLLM see our grid
                assert image.tobytes() == original.convert("RGB").tobytes()
            assert image.size[0] * image.size[1] <= MAX_PIXELS
            assert image.size[0] % 28 == 0 and image.size[1] % 28 == 0
        grid = processor.image_processor(images=images, return_tensors="pt")["image_grid_thw"].tolist()
        assert grid == [[1, im.size[1] // 14, im.size[0] // 14] for im in images]
    batch = collate_fn([dataset[i] for i in range(4)])
    assert len(batch["raw_prompt"]) == 4


def test_filter_overlong_prompts_keeps_exactly_the_short_rows(small_build, verl_setup):
    from verl.utils.dataset.rl_dataset import RLHFDataset

    tokenizer, processor, config = verl_setup
    unfiltered = RLHFDataset(str(small_build.files["test"]), tokenizer, config(4096), processor)
    lengths = {}
    for i in range(len(unfiltered)):
        item = unfiltered[i]
        lengths[item["extra_info"]["test_path"]] = prompt_length(processor, item, rollout_images(item, config(4096)))
    # prompts differ in length across categories (product name, image aspect ratio)
    assert len(set(lengths.values())) > 1
    limit = sorted(lengths.values())[len(lengths) // 2]
    expected = {path for path, n in lengths.items() if n <= limit}
    assert 0 < len(expected) < len(lengths)

    filtered = RLHFDataset(str(small_build.files["test"]), tokenizer, config(limit), processor)
    assert {filtered[i]["extra_info"]["test_path"] for i in range(len(filtered))} == expected
    assert len(RLHFDataset(str(small_build.files["test"]), tokenizer, config(min(lengths.values()) - 1),
                           processor)) == 0
