"""Supervised warm-ups of the tiny random model, the stage that precedes RL in practice.

Two kinds, both fine-tuning the model folder in place:

- :func:`warm_up_format` (the demo): responses in the right format whose option letter is drawn at
  random. A random model never writes ``<think>…</think><answer>…</answer>``, so every reward would be
  0 and no group would have variance; after this warm-up the model writes the format while its answers
  stay at chance — accuracy is left for RL.
- :func:`warm_up_describing_base` (``fadtq demo --learn``): the base RL starts from, trained on a second
  labelled tree (another drawing seed; none of RL's held-out pictures). Its thinking names the right class
  (one sentence per class, :data:`CLASS_REASONS`), its answer letter is drawn at random: a model that
  describes what it sees but has not learned to decide, like the paper's base (Qwen2.5-VL-3B at ~40 %,
  which can describe a defect but answers the three options poorly). It starts RL near chance, with mixed
  rewards in most groups, and what RL must learn is measurable: answer the option your own reasoning names.

  Why not a base stopped at a weak *answer* accuracy: measured (README), the tiny model's first weak
  answers separate structural damage but not normal from logical, and RL does not find that missing cue
  in 100 steps (3 seeds: −4.6, −3.3, +7.1 points; the non-structural answers collapse onto one class).
  RL sharpens what a base can tell apart; the describing base can tell all three apart.
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
#: The describing base's thinking. The first word names the class and is one token of this tokenizer
#: (:func:`reason_class_ids` checks it), so the class is decided at one token of the thinking.
CLASS_REASONS = {
    "normal": "Normal: the test image matches the reference image.",
    "structural": "Structural: the test image is damaged where the reference image is not.",
    "logical": "Logical: the test image has an extra part that the reference image does not have.",
}


def response_text(reason: str, letter: str) -> str:
    return f"<think>{reason}</think><answer>{letter}</answer>"


def random_letter(row, rng: random.Random) -> str:
    """One of the row's option letters, drawn at random: both warm-ups leave the answer at chance."""
    return rng.choice(sorted(row["extra_info"]["options"]))


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


def reason_class_ids(tokenizer) -> dict[str, int]:
    """The token that opens each class's reasoning after ``<think>`` (it names the class)."""
    prefix = tokenizer("<think>", add_special_tokens=False)["input_ids"]
    ids = {}
    for label, reason in CLASS_REASONS.items():
        full = tokenizer("<think>" + reason, add_special_tokens=False)["input_ids"]
        if full[:len(prefix)] != prefix:
            raise ValueError(f"'<think>{reason}' does not tokenize as '<think>' plus the reason: {full}")
        ids[label] = full[len(prefix)]
    if len(set(ids.values())) != len(ids):
        raise ValueError(f"two classes' reasons open with the same token: {ids}")
    return ids


@torch.no_grad()
def next_token_scores(model, processor, rows, suffix: str, token_ids: list[int], *,
                      batch_size: int = 32) -> torch.Tensor:
    """Logits (rows × ``token_ids``) of the token after each row's prompt + ``suffix``, teacher-forced: one
    forward pass per batch, no sampling."""
    was_training = model.training
    model.eval()
    scores = []
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        prompts, images = _prompts(processor, batch)
        inputs = processor(text=[p + suffix for p in prompts], images=images, padding=True, return_tensors="pt")
        last = inputs["attention_mask"].sum(1) - 1  # right padding: each row's own last token
        scores.append(model(**inputs).logits[torch.arange(len(batch)), last][:, token_ids])
    model.train(was_training)
    return torch.cat(scores)


def reasoning_metrics(model, processor, rows, *, batch_size: int = 32) -> tuple[float, dict[str, float]]:
    """Accuracy and per-class recall of the class the model's reasoning would name first (the top-scored
    opening token of :data:`CLASS_REASONS`), from one scoring pass."""
    ids = reason_class_ids(processor.tokenizer)
    labels = list(ids)
    best = next_token_scores(model, processor, rows, "<think>", list(ids.values()), batch_size=batch_size).argmax(1)
    truth, named = [row["reward_model"]["ground_truth"] for row in rows], [labels[i] for i in best.tolist()]
    return metrics.accuracy(truth, named), metrics.per_class_recall(truth, named, sorted(set(truth)))


def _rows(parquet) -> list:
    return [row for _, row in pd.read_parquet(parquet).iterrows()]


def decision_weighted_loss(logits: torch.Tensor, labels: torch.Tensor, decision_ids: torch.Tensor) -> torch.Tensor:
    """L = CE(decision tokens) + mean CE(other response tokens).

    With a plain token mean, the one token that depends on the images weighs 1/25 of a response, and the
    tiny model learns the format long before it looks at the images (measured: held-out accuracy stayed
    at the class prior for 400 steps)."""
    logits, labels = logits[:, :-1].float(), labels[:, 1:]
    per_token = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels.clamp(min=0), reduction="none")
    is_decision = torch.isin(labels, decision_ids)
    is_other = (labels != -100) & ~is_decision
    return per_token[is_decision].mean() + per_token[is_other].mean()


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
        letter = random_letter(row, rng)
        loss = model(**_supervised_batch(processor, [row], [response_text(rng.choice(REASONS), letter)])).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    model.save_pretrained(model_dir)
    return {"steps": steps, "loss_first": losses[0], "loss_last": sum(losses[-10:]) / min(10, len(losses))}


def describing_target(row, rng: random.Random) -> str:
    """The describing base's target for ``row``: its class's sentence as the thinking, a letter drawn at random
    from the row's options as the answer."""
    return response_text(CLASS_REASONS[row["reward_model"]["ground_truth"]], random_letter(row, rng))


def warm_up_describing_base(model_dir: str | Path, train_parquet: str | Path, heldout_parquet: str | Path, *,
                            stop_at: float = 0.85, max_steps: int = 2000, eval_every: int = 25, batch_size: int = 16,
                            lr: float = 1e-3, settle_steps: int = 100, seed: int = 0, on_eval=None) -> dict:
    """Supervised steps on ``<think>CLASS_REASONS[truth]</think><answer>random letter</answer>`` until, on the
    held-out rows, the reasoning names the right class on at least ``stop_at`` of them (checked every
    ``eval_every`` steps), or ``max_steps`` pass; then ``settle_steps`` more at a tenth of ``lr`` (at ``lr``
    the class probabilities still swing from check to check: the reasoning would be right when greedy but
    often wrong when sampled); saves the model in place. The loss weighs the reasoning's class token apart
    (:func:`decision_weighted_loss`); the random letter keeps the answer at chance.

    ``on_eval(step, accuracy, recalls)`` is called after each check. Returns the history."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    processor, model = _load(model_dir)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    rows, heldout = _rows(train_parquet), _rows(heldout_parquet)
    class_ids = torch.tensor(sorted(reason_class_ids(processor.tokenizer).values()))

    def check(step: int) -> bool:
        accuracy, recalls = reasoning_metrics(model, processor, heldout)
        history.append({"step": step, "reasoning_accuracy": accuracy, "recalls": recalls})
        if on_eval:
            on_eval(step, accuracy, recalls)
        return accuracy >= stop_at

    order: list = []

    def train_step() -> float:
        nonlocal order
        if len(order) < batch_size:
            order += rng.sample(rows, len(rows))
        batch, order = order[:batch_size], order[batch_size:]
        inputs = _supervised_batch(processor, batch, [describing_target(row, rng) for row in batch])
        labels = inputs.pop("labels")
        loss = decision_weighted_loss(model(**inputs).logits, labels, class_ids)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    history: list[dict] = []
    reached = check(0)
    step, loss, settled = 0, None, 0
    while step < max_steps and not reached:
        loss = train_step()
        step += 1
        if step % eval_every == 0 or step == max_steps:
            reached = check(step)
    if reached:
        for group in optimizer.param_groups:
            group["lr"] = lr / 10
        for _ in range(settle_steps):
            loss = train_step()
        settled = settle_steps
        check(step + settled)
    model.eval()
    model.save_pretrained(model_dir)
    return {"steps": step + settled, "settle_steps": settled, "reached": reached,
            "reasoning_accuracy": history[-1]["reasoning_accuracy"], "recalls": history[-1]["recalls"],
            "history": history, "stop_at": stop_at, "lr": lr, "batch_size": batch_size, "last_loss": loss}
