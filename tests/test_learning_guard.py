"""A guard on the gradient path through verl that does not need the visual task (which the tiny model
does not learn on CPU in CI time). It catches a flipped sign, a broken loss or update, rollouts that keep
sampling stale weights after the sync, a checkpoint saved, merged or loaded wrong, and images that never
reach the model:

(a) verl's real trainer (CPU backend, GPG), with a reward that pays 1 for a well-formed answer naming one
    letter and ignores the images, raises that letter's share of its own rollouts within two dozen
    steps; the same run with the reward negated lowers it.
(b) through verl's own batch builders and verl's patched Qwen2.5-VL forward, the answer logits change
    when only the test image changes, and are bit-identical when it is replaced by a copy.
(c) `fadtq eval` of run (a)'s checkpoint predicts the letter far more often than the base model.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from fadtq.backends.cpu.bounded_run import private_ray_cluster, run_in_own_session
from fadtq.data.prompt import PAIR3C_OPTIONS

pytestmark = pytest.mark.slow

REWARD_FILE = Path(__file__).with_name("learning_guard_reward.py")
LETTERS = tuple(PAIR3C_OPTIONS)
RUN_TIMEOUT_S = 900  # a run takes 2.5–4 min here; the cores may be shared with other work
#: Format warm-up steps: at 240, about half of the sampled answers are well formed (120: under a tenth,
#: too few rewarded rollouts — the policy drifts on Adam's momentum and collapses).
WARMUP_STEPS = 240
PROMPTS, ROLLOUTS, STEPS, LR = 4, 8, 24, 1e-3
#: Steps averaged at each end of a run (4 × 32 = 128 rollouts). Measured here: with the reward the two
#: ends moved apart by 0.31–0.48 (e.g. 0.38 → 0.86); with lr 0 they stayed level (0.29 → 0.28), single
#: steps scattering over 0.16–0.41.
WINDOW = 4
MARGIN = 0.15
#: The negated run may keep at most this fraction of the letter's initial share over its last window
#: (measured: 0.00 of 0.34; with lr 0: 0.28 of 0.41).
NEGATED_KEEPS_AT_MOST = 0.25
#: Below this initial share a decrease cannot be told from sampling noise.
MIN_INITIAL_SHARE = 0.15
#: How much larger the letter's share of the trained checkpoint's predictions must be than the base
#: model's in `fadtq eval` (sampled at temperature 1, 30 test pairs; measured here: 0.47 → 0.93–1.00).
EVAL_MARGIN = 0.25


def load_reward_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("learning_guard_reward", REWARD_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


names_letter = load_reward_module().names_letter


def train(tmp: Path, data, model_dir: str, letter: str, sign: int, *extra: str, lr: float = LR) -> dict:
    """``python -m fadtq.train +backend=cpu`` with the letter reward, in its own session, on a private Ray
    cluster with its own (short: socket paths are length-limited) temp dir."""
    env = {**os.environ, "FADTQ_RUN_DIR": str(tmp / "run"), "VERL_FILE_LOGGER_PATH": str(tmp / "metrics.jsonl"),
           "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "fadtq.train", "+backend=cpu", "+experiment=gpg",  # gpg: no judge term
           f"data.train_files={data.files['train']}", f"data.val_files={data.files['test']}",
           f"actor_rollout_ref.model.path={model_dir}",
           f"reward.custom_reward_function.path={REWARD_FILE}", "reward.custom_reward_function.name=letter_preference",
           f"+reward.custom_reward_function.reward_kwargs.letter={letter}",
           f"+reward.custom_reward_function.reward_kwargs.sign={sign}",
           f"data.train_batch_size={PROMPTS}", f"actor_rollout_ref.actor.ppo_mini_batch_size={PROMPTS}",
           f"actor_rollout_ref.rollout.n={ROLLOUTS}", f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={PROMPTS * ROLLOUTS}",
           f"actor_rollout_ref.actor.optim.lr={lr}", f"trainer.total_training_steps={STEPS}", "trainer.total_epochs=100",
           "trainer.val_before_train=false", "trainer.test_freq=-1", *extra]
    log = tmp / "train.log"
    with private_ray_cluster(env) as ray:
        run = run_in_own_session(cmd + ray.overrides, env=ray.env, log_path=log, timeout_s=RUN_TIMEOUT_S, cwd=tmp)
    text = log.read_text(errors="replace")
    assert not run.timed_out, f"no exit within {RUN_TIMEOUT_S} s: " + text[-3000:]
    assert run.returncode == 0, text[-4000:]
    assert run.leftovers == [], f"processes of the training session outlived it: {run.leftovers}"
    print(f"\nletter reward (letter {letter}, sign {sign:+d}, {STEPS} steps of {PROMPTS} × {ROLLOUTS}): "
          f"{run.wall_s:.0f} s wall")
    return {"run": run, "tmp": tmp, "letter": letter, "sign": sign}


def rollout_shares(result: dict) -> dict[int, float]:
    """Per training step, the share of verl's dumped rollouts (``trainer.rollout_data_dir``) that are
    well formed and name the letter — the rule the reward pays for."""
    shares = {}
    for dump in (result["tmp"] / "run" / "rollouts").glob("*.jsonl"):
        rows = [json.loads(line) for line in dump.read_text().splitlines()]
        assert len(rows) == PROMPTS * ROLLOUTS, f"{dump}: {len(rows)} rollouts"
        shares[int(dump.stem)] = sum(names_letter(row["output"], result["letter"]) for row in rows) / len(rows)
    assert sorted(shares) == list(range(1, STEPS + 1)), f"rollout dumps for steps {sorted(shares)}"
    return dict(sorted(shares.items()))


def window_shares(result: dict) -> tuple[float, float]:
    """The letter's mean share over the first and over the last ``WINDOW`` steps."""
    shares = list(rollout_shares(result).values())
    return sum(shares[:WINDOW]) / WINDOW, sum(shares[-WINDOW:]) / WINDOW


def evaluate(model: str, data, out: Path) -> dict:
    """`fadtq eval` (the CLI, sampled at the rollouts' temperature 1 with a fixed seed) over the test split:
    ``predicted``, the number of pairs with a parsable prediction, and ``share``, each letter's share of
    those predictions (unparsable answers are no prediction: the reward's format term is not at stake here)."""
    result = subprocess.run([sys.executable, "-m", "fadtq", "eval", "--model", model, "--data", str(data.files["test"]),
                             "--backend", "hf", "--max-new-tokens", "64", "--temperature", "1", "--seed", "0",
                             "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    preds = [pred for pred in (json.loads(line)["pred"] for line in out.read_text().splitlines()) if pred]
    return {"predicted": len(preds),
            "share": {letter: sum(pred == label for pred in preds) / max(len(preds), 1)
                      for letter, label in PAIR3C_OPTIONS.items()}}


# --- fixtures: the data, the warmed model, one training run per direction -----------------------------

@pytest.fixture(scope="module")
def format_warmed_model(tmp_path_factory, small_pair3c, tiny_model_dir):
    """The tiny model after the format warm-up: about half its sampled answers are well formed, the
    letter near chance, so the letter reward varies within most groups from the first step."""
    from fadtq.offline.warmup import warm_up_format

    model = tmp_path_factory.mktemp("warmed") / "model"
    shutil.copytree(tiny_model_dir, model)
    warm_up_format(model, small_pair3c.files["train"], steps=WARMUP_STEPS)
    return str(model)


@pytest.fixture(scope="module")
def base_eval(tmp_path_factory, small_pair3c, format_warmed_model):
    return evaluate(format_warmed_model, small_pair3c, tmp_path_factory.mktemp("eval_base") / "base.jsonl")


@pytest.fixture(scope="module")
def letter(base_eval):
    """The letter the base model already answers most often: the negated run needs a share to lower."""
    return max(LETTERS, key=lambda option: (base_eval["share"][option], option))


@pytest.fixture(scope="module")
def rewarded_run(tmp_path_factory, small_pair3c, format_warmed_model, letter):
    return train(tmp_path_factory.mktemp("letter_reward"), small_pair3c, format_warmed_model, letter, +1,
                 f"trainer.save_freq={STEPS}")


@pytest.fixture(scope="module")
def negated_run(tmp_path_factory, small_pair3c, format_warmed_model, letter):
    return train(tmp_path_factory.mktemp("letter_reward_negated"), small_pair3c, format_warmed_model, letter, -1,
                 "trainer.save_freq=-1")


@pytest.fixture(scope="module")
def initial_share(rewarded_run, negated_run):
    """The letter's share under the warmed model: step 1 of both runs, sampled before any update."""
    return (rollout_shares(rewarded_run)[1] + rollout_shares(negated_run)[1]) / 2


# --- (a) the letter's share in verl's rollouts moves with the reward's sign ----------------------------

def test_rewarded_letter_gains_share_in_verls_rollouts(rewarded_run):
    first, last = window_shares(rewarded_run)
    print(f"\nletter {rewarded_run['letter']}, rewarded: share {first:.2f} over the first {WINDOW} steps → {last:.2f} "
          f"over the last {WINDOW}; per step {[round(v, 2) for v in rollout_shares(rewarded_run).values()]}")
    assert last >= first + MARGIN, f"share {first:.2f} → {last:.2f}: the reward did not raise it by {MARGIN}"


def test_negated_reward_lowers_the_letters_share(negated_run, initial_share):
    """The negated reward drives the letter out within a few steps (measured: 0.3 → 0.0 by step 5), so
    the first window is already falling; the test compares the last window with the initial policy's share
    instead, and asks for the letter to all but disappear (without learning it stays near that share)."""
    first, last = window_shares(negated_run)
    print(f"\nletter {negated_run['letter']}, negated: share {initial_share:.2f} at step 1 → {first:.2f} over the first "
          f"{WINDOW} steps → {last:.2f} over the last {WINDOW}; per step "
          f"{[round(v, 2) for v in rollout_shares(negated_run).values()]}")
    assert initial_share >= MIN_INITIAL_SHARE, f"the letter's initial share {initial_share:.2f} is too small to show a decrease"
    assert last <= NEGATED_KEEPS_AT_MOST * initial_share, (
        f"share {initial_share:.2f} → {last:.2f}: the negated reward did not lower it")


def test_the_trainer_optimised_the_reward_the_dumps_show(rewarded_run, negated_run):
    """verl's own score metric is sign × the share read from the dumps: this reward file is the one used."""
    for result in (rewarded_run, negated_run):
        metrics = {row["step"]: row["data"] for row in map(json.loads, (result["tmp"] / "metrics.jsonl").read_text().splitlines())
                   if "critic/score/mean" in row["data"]}
        for step, share in rollout_shares(result).items():
            assert metrics[step]["critic/score/mean"] == pytest.approx(result["sign"] * share, abs=1e-6), step


# --- (c) the evaluated checkpoint carries the preference -----------------------------------------------

def test_evaluated_checkpoint_prefers_the_rewarded_letter(rewarded_run, base_eval, small_pair3c, tmp_path):
    checkpoint = rewarded_run["tmp"] / "run" / "checkpoints" / f"global_step_{STEPS}" / "actor"
    trained = evaluate(str(checkpoint), small_pair3c, tmp_path / "trained.jsonl")
    letter = rewarded_run["letter"]
    before, after = base_eval["share"][letter], trained["share"][letter]
    print(f"\nfadtq eval, share of the predictions per letter: base {base_eval}, checkpoint {trained}")
    assert trained["predicted"] >= 5, f"only {trained['predicted']} of the checkpoint's answers name a class"
    assert after >= before + EVAL_MARGIN, (
        f"letter {letter}: {before:.2f} of the base model's predictions, {after:.2f} of the checkpoint's")


# --- (b) images reach the actor through verl's own forward path ---------------------------------------

#: The response up to the answer letter: the logits compared are the ones that choose the letter.
RESPONSE_TO_THE_LETTER = "<think>The test image matches the reference image.</think><answer>"


@pytest.fixture
def verl_actor_model(format_warmed_model, monkeypatch):
    """The actor's model as verl's FSDP engine prepares it on the CPU backend (no remove-padding, no
    sequence parallelism): loaded in fp32, then verl's Qwen2-VL monkey patch. The patch replaces class
    methods process-wide, so each is registered with ``monkeypatch`` first and restored after the test."""
    from transformers import AutoModelForImageTextToText
    from transformers.models.qwen2_5_vl import modeling_qwen2_5_vl
    from transformers.models.qwen2_vl import modeling_qwen2_vl
    from verl.models.transformers.monkey_patch import apply_monkey_patch
    from verl.utils import hf_processor, hf_tokenizer

    for module, names in ((modeling_qwen2_5_vl, ("Qwen2_5_VLForConditionalGeneration", "Qwen2_5_VLModel",
                                                 "Qwen2_5_VLAttention")),
                          (modeling_qwen2_vl, ("Qwen2VLForConditionalGeneration", "Qwen2VLModel", "Qwen2VLAttention"))):
        for name in names:
            cls = getattr(module, name)
            monkeypatch.setattr(cls, "forward", cls.forward)
    model = AutoModelForImageTextToText.from_pretrained(format_warmed_model, dtype=torch.float32).eval()
    apply_monkey_patch(model=model, use_remove_padding=False, ulysses_sp_size=1)
    patched = type(model).forward
    assert patched.__module__ == "verl.models.transformers.qwen2_vl", f"forward not patched by verl: {patched}"
    return {"model": model, "processor": hf_processor(format_warmed_model),
            "tokenizer": hf_tokenizer(format_warmed_model)}


def answer_logits(actor: dict, row, images) -> torch.Tensor:
    """Next-token logits at the answer letter for the prompt of ``row`` with ``images``: input ids,
    multi-modal inputs and 4-row M-RoPE position ids built by verl's agent loop (the code that fills the
    actor's batch), then the forward verl's engine runs without remove-padding."""
    from types import SimpleNamespace

    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker
    from verl.utils.model import extract_multi_modal_inputs

    from fadtq.eval.runner import chat_with_images

    processor, tokenizer = actor["processor"], actor["tokenizer"]
    messages, _ = chat_with_images(row)
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    prompt_ids = processor(text=[prompt], images=images, return_tensors="pt")["input_ids"]
    response_ids = torch.tensor([tokenizer(RESPONSE_TO_THE_LETTER, add_special_tokens=False)["input_ids"]])
    input_ids = torch.cat([prompt_ids, response_ids], dim=1)
    attention_mask = torch.ones_like(input_ids)
    worker = SimpleNamespace(processor=processor, tokenizer=tokenizer)  # the two fields these methods read
    rollout = SimpleNamespace(multi_modal_data={"images": images}, mm_processor_kwargs={})
    multi_modal_inputs = AgentLoopWorker._compute_multi_modal_inputs(worker, rollout, input_ids)
    position_ids = AgentLoopWorker._compute_position_ids(worker, input_ids, attention_mask, multi_modal_inputs, {})
    with torch.no_grad():
        output = actor["model"](input_ids=input_ids, attention_mask=attention_mask,
                                position_ids=position_ids.transpose(0, 1),  # (1, 4, L) → (4, 1, L), as the engine
                                **extract_multi_modal_inputs([multi_modal_inputs]))
    return output.logits[0, -1]


def test_answer_logits_change_when_only_the_test_image_changes(verl_actor_model, small_pair3c):
    """Two rows that differ only in the test image (the same scene with its colours inverted) get different
    answer logits; a control row whose test image is a copy gets bit-identical ones. (Between two real scenes
    of one category the tiny model's letter logits differ by only ~1e-5: it starts almost input-blind.)"""
    from PIL import ImageOps

    from fadtq.eval.runner import chat_with_images

    row = pd.read_parquet(small_pair3c.files["test"]).iloc[0]
    reference, test_image = chat_with_images(row)[1]
    letter_ids = [verl_actor_model["tokenizer"].convert_tokens_to_ids(letter) for letter in LETTERS]
    assert len(set(letter_ids)) == 3 and verl_actor_model["tokenizer"].unk_token_id not in letter_ids
    base = answer_logits(verl_actor_model, row, [reference, test_image])
    copied = answer_logits(verl_actor_model, row, [reference, test_image.copy()])
    changed = answer_logits(verl_actor_model, row, [reference, ImageOps.invert(test_image)])
    letter_change = (changed[letter_ids] - base[letter_ids]).abs().max().item()
    print(f"\nanswer logits when only the test image changes: max |Δ| {(changed - base).abs().max().item():.3g} over the "
          f"vocabulary, {letter_change:.3g} on A/B/C; for a copy of it: {(copied - base).abs().max().item():.3g}")
    assert torch.equal(copied, base), "a copy of the same image gave different logits: the forward is not deterministic"
    assert letter_change > 1e-3, f"the A/B/C logits moved by {letter_change:.3g} only: the test image does not reach them"
