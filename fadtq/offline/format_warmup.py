"""A few supervised steps that teach the tiny random model the answer *format* (not the answer).

A random model never writes ``<think>…</think><answer>…</answer>``, so every reward would be 0,
no group would have variance, and a demo would show nothing of the reward, the judge or the
advantage. Like the SFT stage that precedes RL in practice, this warm-up trains on responses in
the right format whose option letter is drawn at random: the model learns the format, while its
answers stay at chance — accuracy is left for RL.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import torch

REASONS = (
    "The test image matches the reference image.",
    "Compared with the reference image, the test image shows a scratch.",
    "Compared with the reference image, one part is missing in the test image.",
    "The test image has an extra part that the reference image does not have.",
)


def warm_up_format(model_dir: str | Path, train_parquet: str | Path, *, steps: int = 120, lr: float = 3e-3,
                   seed: int = 0) -> dict:
    """Fine-tune ``model_dir`` in place on format-only targets; returns first/last loss."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from fadtq.eval.runner import chat_with_images

    rng = random.Random(seed)
    torch.manual_seed(seed)
    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    rows = [row for _, row in pd.read_parquet(train_parquet).iterrows()]
    losses = []
    for _ in range(steps):
        row = rng.choice(rows)
        messages, images = chat_with_images(row)
        prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        letter = rng.choice(sorted(row["extra_info"]["options"]))
        target = f"<think>{rng.choice(REASONS)}</think><answer>{letter}</answer><|im_end|>"
        full = processor(text=[prompt + target], images=images, return_tensors="pt")
        prompt_len = processor(text=[prompt], images=images, return_tensors="pt")["input_ids"].shape[1]
        labels = full["input_ids"].clone()
        labels[:, :prompt_len] = -100  # learn the response only
        loss = model(**full, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    model.save_pretrained(model_dir)
    return {"steps": steps, "loss_first": losses[0], "loss_last": sum(losses[-10:]) / min(10, len(losses))}
