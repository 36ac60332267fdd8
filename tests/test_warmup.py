"""The supervised warm-ups that precede RL: the describing base's loss, its scored reasoning and its stopping rule."""

import collections
import math
import random
import re
import shutil

import pandas as pd
import pytest
import torch

from fadtq.offline.warmup import (
    CLASS_REASONS,
    _load,
    _supervised_batch,
    decision_weighted_loss,
    describing_target,
    next_token_scores,
    reason_class_ids,
    reasoning_metrics,
    response_text,
    warm_up_describing_base,
)


def test_decision_weighted_loss_by_hand():
    # Vocabulary of 5, decision token 3. Labels (unshifted) [-100, 1, 3, 2]: the logits at positions 0, 1, 2
    # predict 1 (other), 3 (decision), 2 (other).
    logits = torch.zeros(1, 4, 5)
    logits[0, 1, 3] = math.log(2.0)  # p(decision) = 2 / (4 + 2) = 1/3
    labels = torch.tensor([[-100, 1, 3, 2]])
    loss = decision_weighted_loss(logits, labels, torch.tensor([3]))
    # CE(decision) = log 3; other tokens: uniform over 5 -> log 5 each, mean log 5.
    assert loss.item() == pytest.approx(math.log(3) + math.log(5), rel=1e-6)


def test_decision_weighted_loss_ignores_padding_and_weighs_the_letter_apart():
    logits = torch.zeros(2, 5, 5)
    labels = torch.tensor([[-100, 1, 1, 3, 2], [-100, 1, 3, -100, -100]])
    # Uniform logits: every token costs log 5; the decision term and the others' mean are each log 5.
    assert decision_weighted_loss(logits, labels, torch.tensor([3])).item() == pytest.approx(2 * math.log(5), rel=1e-6)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    processor, model = _load(tiny_model_dir)
    return processor, model


def test_each_class_reasoning_opens_with_its_own_single_token(tiny):
    processor, _ = tiny
    ids = reason_class_ids(processor.tokenizer)
    assert set(ids) == set(CLASS_REASONS) and len(set(ids.values())) == 3
    for label, token in ids.items():
        assert processor.tokenizer.decode([token]) == CLASS_REASONS[label].split(":")[0]


def test_supervised_batch_labels_only_the_response(tiny, small_pair3c):
    processor, _ = tiny
    frame = pd.read_parquet(small_pair3c.files["train"])
    frame = frame[~frame["extra_info"].map(lambda info: info["category"]).duplicated()]
    rows = [row for _, row in frame.iterrows()]  # one per category: prompts of different lengths, padded
    responses = [response_text(CLASS_REASONS[row["reward_model"]["ground_truth"]], "A") for row in rows]
    batch = _supervised_batch(processor, rows, responses)
    for i, response in enumerate(responses):
        learned = batch["labels"][i][batch["labels"][i] != -100]
        assert processor.tokenizer.decode(learned) == response + "<|im_end|>"


def _heldout_rows(small_pair3c):
    return [row for _, row in pd.read_parquet(small_pair3c.files["test"]).iterrows()]


def test_scored_tokens_do_not_depend_on_batching(tiny, small_pair3c):
    """Rows of different prompt lengths padded together score exactly as alone (the scored position is
    each row's own last token, not the padded end)."""
    processor, model = tiny
    rows = _heldout_rows(small_pair3c)
    assert len({len(row["extra_info"]["question"]) for row in rows}) > 1  # the batch really is padded
    ids = list(reason_class_ids(processor.tokenizer).values())
    together = next_token_scores(model, processor, rows, "<think>", ids, batch_size=len(rows))
    alone = torch.cat([next_token_scores(model, processor, [row], "<think>", ids) for row in rows])
    assert torch.allclose(together, alone, atol=1e-4)


def test_describing_base_stops_at_its_target_and_saves(tiny_model_dir, small_pair3c, tmp_path):
    model_dir = shutil.copytree(tiny_model_dir, tmp_path / "model")
    train, heldout = small_pair3c.files["train"], small_pair3c.files["test"]
    before = (model_dir / "model.safetensors").read_bytes()
    reached = warm_up_describing_base(model_dir, train, heldout, stop_at=0.0, settle_steps=2, batch_size=4)
    # at the target from the start: no step at the full rate, two settling steps, checked after them
    assert reached["reached"] and reached["steps"] == reached["settle_steps"] == 2
    assert [h["step"] for h in reached["history"]] == [0, 2]
    assert (model_dir / "model.safetensors").read_bytes() != before  # trained and saved in place

    before = (model_dir / "model.safetensors").read_bytes()
    calls = []  # never at the target: max_steps at the full rate, no settling
    capped = warm_up_describing_base(model_dir, train, heldout, stop_at=1.01, max_steps=3, eval_every=2,
                                     batch_size=4, on_eval=lambda step, acc, recalls: calls.append(step))
    assert capped["steps"] == 3 and capped["settle_steps"] == 0 and not capped["reached"] and calls == [0, 2, 3]
    assert [h["step"] for h in capped["history"]] == [0, 2, 3]
    assert (model_dir / "model.safetensors").read_bytes() != before  # trained and saved in place
    processor, model = _load(model_dir)
    accuracy, recalls = reasoning_metrics(model, processor, _heldout_rows(small_pair3c))
    assert accuracy == pytest.approx(capped["reasoning_accuracy"])
    assert recalls == pytest.approx(capped["recalls"])


def test_describing_base_learns_the_reasons_not_the_letters(tiny_model_dir, small_pair3c, tmp_path):
    """After a short training its thinking opens with a class name and it answers with a letter."""
    from fadtq.offline.warmup import _prompts

    model_dir = shutil.copytree(tiny_model_dir, tmp_path / "model")
    train = small_pair3c.files["train"]
    warm_up_describing_base(model_dir, train, train, stop_at=1.01, max_steps=80, eval_every=80, batch_size=8, lr=3e-3)
    processor, model = _load(model_dir)
    rows = _heldout_rows(small_pair3c)[:4]
    prompts, images = _prompts(processor, rows)
    processor.tokenizer.padding_side = "left"  # generation continues every row from its own end
    inputs = processor(text=prompts, images=images, padding=True, return_tensors="pt")
    generated = model.generate(**inputs, max_new_tokens=48, do_sample=False)[:, inputs["input_ids"].shape[1]:]
    openings = {reason.split(":")[0] + ":" for reason in CLASS_REASONS.values()}
    for text in processor.batch_decode(generated, skip_special_tokens=True):
        assert re.fullmatch(r"<think>(\w+:)[^<]*</think><answer>[ABC]</answer>", text), text
        assert re.match(r"<think>(\w+:)", text).group(1) in openings


def test_describing_targets_name_the_class_and_draw_the_letter(small_pair3c):
    rows = [row for _, row in pd.read_parquet(small_pair3c.files["train"]).iterrows()]
    rng = random.Random(0)
    letters = collections.defaultdict(collections.Counter)  # per class
    for row in rows * (900 // len(rows) + 1):
        truth = row["reward_model"]["ground_truth"]
        think, _, answer = describing_target(row, rng).partition("</think>")
        assert think == "<think>" + CLASS_REASONS[truth]
        letters[truth][re.fullmatch(r"<answer>([ABC])</answer>", answer).group(1)] += 1
    for counts in letters.values():  # every letter about a third of the time for every class: not the truth's
        expected = sum(counts.values()) / 3
        assert set(counts) == {"A", "B", "C"} and max(counts.values()) - min(counts.values()) < 0.4 * expected


def test_reasoning_metrics_by_hand(tiny, small_pair3c):
    processor, model = tiny
    rows = _heldout_rows(small_pair3c)
    labels = list(reason_class_ids(processor.tokenizer))
    best = next_token_scores(model, processor, rows, "<think>",
                             list(reason_class_ids(processor.tokenizer).values())).argmax(1).tolist()
    truth = [row["reward_model"]["ground_truth"] for row in rows]
    expected = {}
    for label in sorted(set(truth)):
        mine = [labels[b] == label for b, t in zip(best, truth, strict=True) if t == label]
        expected[label] = sum(mine) / len(mine)
    accuracy, recalls = reasoning_metrics(model, processor, rows)
    assert recalls == pytest.approx(expected)
    assert accuracy == pytest.approx(sum(labels[b] == t for b, t in zip(best, truth, strict=True)) / len(rows))
