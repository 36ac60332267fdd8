"""verl ``RLHFDataset`` rows (DESIGN §2): chat prompt with two ``<image>`` placeholders, the two
images (reference first) as PNG bytes with their ``max_pixels``, the label as ground truth."""

from __future__ import annotations

from fadtq.data.pairs import Pair
from fadtq.data.prompt import chat_messages, default_prompt_version, question_text


def pair_row(pair: Pair, index: int, reference_png: bytes, test_png: bytes, *, max_pixels: int,
             options: dict[str, str], data_source: str, extra: dict | None = None,
             prompt_version: str | None = None) -> dict:
    """One row; ``extra`` adds dataset-specific keys to ``extra_info`` (e.g. MVTec-AD's defect type).

    The question is worded in ``prompt_version``; without it, in ``extra["prompt_version"]`` (how a
    builder chooses the wording through ``write_pair_dataset``'s ``row_extra``), else in the
    default version for ``options``. The row records the version it was built with.
    """
    extra = dict(extra or {})
    version = prompt_version or extra.pop("prompt_version", None) or default_prompt_version(options)
    question = question_text(pair.category, options, version)
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
            "prompt_version": version,
            **extra,
        },
    }
