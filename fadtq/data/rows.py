"""verl ``RLHFDataset`` rows (DESIGN §2): chat prompt with two ``<image>`` placeholders, the two
images (reference first) as PNG bytes with their ``max_pixels``, the label as ground truth."""

from __future__ import annotations

from fadtq.data.pairs import Pair
from fadtq.data.prompt import chat_messages, prompt_version, question_text


def pair_row(pair: Pair, index: int, reference_png: bytes, test_png: bytes, *, max_pixels: int,
             options: dict[str, str], data_source: str, extra: dict | None = None) -> dict:
    """One row; ``extra`` adds dataset-specific keys to ``extra_info`` (e.g. MVTec-AD's defect type)."""
    question = question_text(pair.category, options)
    return {
        "data_source": data_source,
        "prompt": chat_messages(question),
        "images": [{"bytes": reference_png, "max_pixels": max_pixels}, {"bytes": test_png, "max_pixels": max_pixels}],
        "ability": "anomaly_detection",
        "reward_model": {"style": "rule", "ground_truth": pair.label},
        "extra_info": {
            "split": pair.split,
            "index": index,
            "category": pair.category,
            "label": pair.label,
            "test_path": pair.test_image,
            "reference_path": pair.reference_image,
            "question": question,
            "options": dict(options),
            "prompt_version": prompt_version(options),
            **(extra or {}),
        },
    }
