"""The supervised warm-ups that precede RL: the weak base's loss, its scored answer and its stopping rule."""

import math
import shutil

import pandas as pd
import pytest
import torch

from fadtq.offline.warmup import (
    COMPARE_REASON,
    _load,
    _supervised_batch,
    answer_letter_ids,
    answer_letter_scores,
    answer_weighted_loss,
    correct_letter,
    letter_metrics,
    response_text,
    warm_up_weak_base,
)


def test_answer_weighted_loss_by_hand():
    # Vocabulary of 5, letter token 3. Labels (unshifted) [-100, 1, 3, 2]: the logits at positions 0, 1, 2
    # predict 1 (format), 3 (letter), 2 (format).
    logits = torch.zeros(1, 4, 5)
    logits[0, 1, 3] = math.log(2.0)  # p(letter) = 2 / (4 + 2) = 1/3
    labels = torch.tensor([[-100, 1, 3, 2]])
    loss = answer_weighted_loss(logits, labels, torch.tensor([3]))
    # CE(letter) = log 3; format tokens: uniform over 5 -> log 5 each, mean log 5.
    assert loss.item() == pytest.approx(math.log(3) + math.log(5), rel=1e-6)


def test_answer_weighted_loss_ignores_padding_and_weighs_the_letter_apart():
    logits = torch.zeros(2, 5, 5)
    labels = torch.tensor([[-100, 1, 1, 3, 2], [-100, 1, 3, -100, -100]])
    # Uniform logits: every token costs log 5; the letter term and the format mean are each log 5.
    assert answer_weighted_loss(logits, labels, torch.tensor([3])).item() == pytest.approx(2 * math.log(5), rel=1e-6)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    processor, model = _load(tiny_model_dir)
    return processor, model


def test_answer_letters_are_single_tokens_after_answer(tiny):
    processor, _ = tiny
    ids = answer_letter_ids(processor.tokenizer, "ABC")
    assert len(set(ids.values())) == 3
    for letter, token in ids.items():
        assert processor.tokenizer.decode([token]).endswith(letter)


def test_correct_letter_reads_the_rows_options(small_pair3c):
    rows = [row for _, row in pd.read_parquet(small_pair3c.files["train"]).iterrows()]
    for row in rows:
        letter = correct_letter(row)
        assert row["extra_info"]["options"][letter] == row["reward_model"]["ground_truth"]
    assert {correct_letter(row) for row in rows} == {"A", "B", "C"}


def test_supervised_batch_labels_only_the_response(tiny, small_pair3c):
    processor, _ = tiny
    frame = pd.read_parquet(small_pair3c.files["train"])
    frame = frame[~frame["extra_info"].map(lambda info: info["category"]).duplicated()]
    rows = [row for _, row in frame.iterrows()]  # one per category: prompts of different lengths, padded
    responses = [response_text(COMPARE_REASON, correct_letter(row)) for row in rows]
    batch = _supervised_batch(processor, rows, responses)
    for i, response in enumerate(responses):
        learned = batch["labels"][i][batch["labels"][i] != -100]
        assert processor.tokenizer.decode(learned) == response + "<|im_end|>"


def test_scored_letters_do_not_depend_on_batching(tiny, small_pair3c):
    """Rows of different prompt lengths padded together score exactly as alone (the scored position is
    each row's own last token, not the padded end)."""
    processor, model = tiny
    rows = [row for _, row in pd.read_parquet(small_pair3c.files["test"]).iterrows()]
    assert len({len(row["extra_info"]["question"]) for row in rows}) > 1  # the batch really is padded
    together = answer_letter_scores(model, processor, rows, batch_size=len(rows))
    alone = torch.cat([answer_letter_scores(model, processor, [row]) for row in rows])
    assert torch.allclose(together, alone, atol=1e-4)


def test_weak_base_stops_at_its_target_and_saves(tiny_model_dir, small_pair3c, tmp_path):
    model_dir = shutil.copytree(tiny_model_dir, tmp_path / "model")
    train, heldout = small_pair3c.files["train"], small_pair3c.files["test"]
    reached = warm_up_weak_base(model_dir, train, heldout, stop_at=0.0, min_recall=0.0, batch_size=4)
    assert reached["steps"] == 0 and reached["reached"] and len(reached["history"]) == 1  # at the target: no step

    before = (model_dir / "model.safetensors").read_bytes()
    calls = []
    capped = warm_up_weak_base(model_dir, train, heldout, stop_at=1.01, max_steps=3, eval_every=2, batch_size=4,
                               on_eval=lambda step, acc, recalls: calls.append((step, acc, recalls)))
    assert capped["steps"] == 3 and not capped["reached"] and [c[0] for c in calls] == [0, 2, 3]
    assert [h["step"] for h in capped["history"]] == [0, 2, 3]
    assert (model_dir / "model.safetensors").read_bytes() != before  # trained and saved in place
    processor, model = _load(model_dir)
    rows = [row for _, row in pd.read_parquet(heldout).iterrows()]
    accuracy, recalls = letter_metrics(model, processor, rows)
    assert accuracy == pytest.approx(capped["accuracy"])
    assert recalls == pytest.approx(capped["recalls"])


def test_weak_base_needs_every_class_recalled(tiny_model_dir, small_pair3c, tmp_path):
    """A model that answers one letter for everything has accuracy 1/3 and recall 0 for two classes: an
    accuracy target it meets does not stop the warm-up while the recall floor is unmet."""
    model_dir = shutil.copytree(tiny_model_dir, tmp_path / "model")
    train, heldout = small_pair3c.files["train"], small_pair3c.files["test"]
    result = warm_up_weak_base(model_dir, train, heldout, stop_at=0.0, min_recall=1.01, max_steps=2, eval_every=1,
                               batch_size=4)
    assert result["steps"] == 2 and not result["reached"]


def test_letter_metrics_by_hand(tiny, small_pair3c):
    processor, model = tiny
    rows = [row for _, row in pd.read_parquet(small_pair3c.files["test"]).iterrows()]
    letters = "ABC"
    best = answer_letter_scores(model, processor, rows).argmax(1).tolist()
    expected = {}
    for letter in letters:
        mine = [letters[b] == letter for b, row in zip(best, rows, strict=True) if correct_letter(row) == letter]
        expected[letter] = sum(mine) / len(mine)
    accuracy, recalls = letter_metrics(model, processor, rows)
    assert recalls == pytest.approx(expected)
    assert accuracy == pytest.approx(
        sum(expected[letter] * sum(correct_letter(r) == letter for r in rows) for letter in letters) / len(rows))
