"""Supervised warm-ups of the tiny random model, the stage that precedes RL in practice.

Two kinds, both fine-tuning the model folder in place:

- :func:`warm_up_format` (the demo): responses in the right format whose option letter is drawn at
  random. A random model never writes ``<think>…</think><answer>…</answer>``, so every reward would be
  0 and no group would have variance; after this warm-up the model writes the format while its answers
  stay at chance — accuracy is left for RL.
- :func:`warm_up_weak_base` (``fadtq demo --learn``): responses with the *correct* letter, on a labelled
  split disjoint from RL's, stopped as soon as held-out accuracy reaches a weak level. Like the paper's
  base model (Qwen2.5-VL-3B at ~40 %), it starts RL better than chance but far from solved, so groups
  have mixed rewards from the first step. Batches of 16 at lr 1e-3: at 1e-4 the tiny model had not even
  learned the format after 400 steps; at 1e-3 it has by ~100 and the answer letter follows the images
  from ~200 (3 of 3 seeds).
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import torch

from fadtq.eval import metrics

REASONS = (
    "The test image matches the reference image.",
    "Compared with the reference image, the test image shows a scratch.",
    "Compared with the reference image, one part is missing in the test image.",
    "The test image has an extra part that the reference image does not have.",
)
#: The weak base's thinking: one neutral sentence, so that the class is decided at the answer letter.
COMPARE_REASON = "I compare the test image with the reference image."


def response_text(reason: str, letter: str) -> str:
    return f"<think>{reason}</think><answer>{letter}</answer>"


def _load(model_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    processor.tokenizer.padding_side = "right"  # labels and the scored position are found from the left
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    return processor, model


def _prompts(processor, rows) -> tuple[list[str], list]:
    from fadtq.eval.runner import chat_with_images

    texts, images = [], []
    for row in rows:
        messages, row_images = chat_with_images(row)
        texts.append(processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
        images.extend(row_images)
    return texts, images


def _supervised_batch(processor, rows, responses: list[str]) -> dict:
    """Inputs and labels for ``prompt + response + <|im_end|>``, the loss on the response only."""
    prompts, images = _prompts(processor, rows)
    full = processor(text=[p + r + "<|im_end|>" for p, r in zip(prompts, responses, strict=True)], images=images,
                     padding=True, return_tensors="pt")
    prompt_lengths = processor(text=prompts, images=images, padding=True, return_tensors="pt")["attention_mask"].sum(1)
    labels = full["input_ids"].clone()
    positions = torch.arange(labels.shape[1]).unsqueeze(0)
    labels[(positions < prompt_lengths.unsqueeze(1)) | (full["attention_mask"] == 0)] = -100
    return {**full, "labels": labels}


def answer_letter_ids(tokenizer, letters) -> dict[str, int]:
    """The token each letter adds after ``<answer`` (this tokenizer merges ``>A`` into one token)."""
    prefix = tokenizer("<answer", add_special_tokens=False)["input_ids"]
    ids = {}
    for letter in letters:
        full = tokenizer(f"<answer>{letter}", add_special_tokens=False)["input_ids"]
        if full[:-1] != prefix:
            raise ValueError(f"'<answer>{letter}' does not tokenize as '<answer' plus one token: {full}")
        ids[letter] = full[-1]
    return ids


@torch.no_grad()
def answer_letter_scores(model, processor, rows, *, batch_size: int = 32) -> torch.Tensor:
    """Logits (rows × letters, in letter order) of the token after ``<think>COMPARE_REASON</think><answer``:
    the answer the model would give to each row, teacher-forced (one forward pass per batch, no sampling)."""
    letters = sorted(rows[0]["extra_info"]["options"])
    ids = answer_letter_ids(processor.tokenizer, letters)
    prefix = response_text(COMPARE_REASON, "")[: -len("></answer>")]
    was_training = model.training
    model.eval()
    scores = []
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        prompts, images = _prompts(processor, batch)
        inputs = processor(text=[p + prefix for p in prompts], images=images, padding=True, return_tensors="pt")
        last = inputs["attention_mask"].sum(1) - 1  # right padding: each row's own last token
        logits = model(**inputs).logits[torch.arange(len(batch)), last]
        scores.append(logits[:, [ids[letter] for letter in letters]])
    model.train(was_training)
    return torch.cat(scores)


def letter_metrics(model, processor, rows, *, batch_size: int = 32) -> tuple[float, dict[str, float]]:
    """Accuracy and per-letter recall (letters of ``rows``' correct answers) of the top-scored answer letter
    (:func:`answer_letter_scores`): one scoring pass for both."""
    letters = sorted(rows[0]["extra_info"]["options"])
    best = answer_letter_scores(model, processor, rows, batch_size=batch_size).argmax(1).tolist()
    truth, predicted = [correct_letter(row) for row in rows], [letters[i] for i in best]
    return metrics.accuracy(truth, predicted), metrics.per_class_recall(truth, predicted, sorted(set(truth)))


def correct_letter(row) -> str:
    """The option letter of the row's ground-truth class."""
    truth = row["reward_model"]["ground_truth"]
    return next(letter for letter, label in row["extra_info"]["options"].items() if label == truth)


def _rows(parquet) -> list:
    return [row for _, row in pd.read_parquet(parquet).iterrows()]


def answer_weighted_loss(logits: torch.Tensor, labels: torch.Tensor, letter_ids: torch.Tensor) -> torch.Tensor:
    """L = CE(answer letter) + mean CE(other response tokens).

    With a plain token mean, the one token that depends on the images weighs 1/23 of a response, and the
    tiny model learns the format long before it looks at the images (measured: held-out accuracy stayed
    at the class prior for 400 steps)."""
    logits, labels = logits[:, :-1].float(), labels[:, 1:]
    per_token = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels.clamp(min=0), reduction="none")
    is_letter = torch.isin(labels, letter_ids)
    is_format = (labels != -100) & ~is_letter
    return per_token[is_letter].mean() + per_token[is_format].mean()


def warm_up_format(model_dir: str | Path, train_parquet: str | Path, *, steps: int = 120, lr: float = 3e-3,
                   seed: int = 0) -> dict:
    """Fine-tune ``model_dir`` in place on format-only targets (random letters); returns first/last loss."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    processor, model = _load(model_dir)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    rows = _rows(train_parquet)
    losses = []
    for _ in range(steps):
        row = rng.choice(rows)
        letter = rng.choice(sorted(row["extra_info"]["options"]))
        loss = model(**_supervised_batch(processor, [row], [response_text(rng.choice(REASONS), letter)])).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    model.save_pretrained(model_dir)
    return {"steps": steps, "loss_first": losses[0], "loss_last": sum(losses[-10:]) / min(10, len(losses))}


def warm_up_weak_base(model_dir: str | Path, train_parquet: str | Path, heldout_parquet: str | Path, *,
                      stop_at: float = 0.45, min_recall: float = 0.25, max_steps: int = 600, eval_every: int = 10,
                      batch_size: int = 16, lr: float = 1e-3, seed: int = 0, on_eval=None) -> dict:
    """Supervised steps on correct answers (``COMPARE_REASON`` as the thinking) until, on the held-out rows,
    the letter accuracy reaches ``stop_at`` *and* every class is recalled on at least ``min_recall`` of its
    rows (checked every ``eval_every`` steps), or ``max_steps`` pass; saves the model in place.

    Why the recall floor: the tiny model first tells structural damage apart and swings between calling
    every other pair normal and calling it logical; a base stopped there never answers one class, RL never
    samples it as the greedy answer, and held-out accuracy stays flat (measured: 54.6 % → 58.3 % in 150
    GPG steps). ``on_eval(step, accuracy, recalls)`` is called after each check. Returns the history."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    processor, model = _load(model_dir)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    rows, heldout = _rows(train_parquet), _rows(heldout_parquet)
    letter_ids = torch.tensor(sorted(answer_letter_ids(processor.tokenizer, rows[0]["extra_info"]["options"]).values()))

    def check(step: int) -> bool:
        accuracy, recalls = letter_metrics(model, processor, heldout)
        history.append({"step": step, "accuracy": accuracy, "recalls": recalls})
        if on_eval:
            on_eval(step, accuracy, recalls)
        return accuracy >= stop_at and min(recalls.values()) >= min_recall

    history: list[dict] = []
    reached = check(0)
    order: list = []
    step, loss = 0, None
    while step < max_steps and not reached:
        if len(order) < batch_size:
            order += rng.sample(rows, len(rows))
        batch, order = order[:batch_size], order[batch_size:]
        responses = [response_text(COMPARE_REASON, correct_letter(row)) for row in batch]
        inputs = _supervised_batch(processor, batch, responses)
        labels = inputs.pop("labels")
        loss = answer_weighted_loss(model(**inputs).logits, labels, letter_ids)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        if step % eval_every == 0 or step == max_steps:
            reached = check(step)
    model.eval()
    model.save_pretrained(model_dir)
    return {"steps": step, "reached": reached, "accuracy": history[-1]["accuracy"], "recalls": history[-1]["recalls"],
            "history": history, "stop_at": stop_at, "min_recall": min_recall, "lr": lr, "batch_size": batch_size,
            "last_loss": loss.item() if loss is not None else None}
