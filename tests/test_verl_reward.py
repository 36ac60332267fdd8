"""compute_score: its contract, judge gating, fallbacks, and verl's own `naive` reward manager calling it."""

import asyncio

import numpy as np
import pytest
import torch

from fadtq.data.prompt import PAIR3C_OPTIONS
from fadtq.verl_ext.reward import compute_score

OPTIONS = PAIR3C_OPTIONS
THINK = "<think>The test image shows a crack in the cap that the reference image does not have.</think>"
EXPECTED_KEYS = {"score", "acc", "r_format", "r_acc", "r_tq", "r_conc", "r_rel", "judge_called", "judge_ok",
                 "judge_latency_s", "judge_error", "pred"}


def score(response, truth="structural", split="train", **kwargs):
    extra = {"split": split, "options": OPTIONS, "question": "Is the test image normal?"}
    return asyncio.run(compute_score("mvtec_loco_pair3c", response, truth, extra, **kwargs))


def test_wrong_answer_never_calls_the_judge():
    # An unreachable judge would show up as judge_called=1 / latency; it is not called at all.
    out = score(THINK + "<answer>C</answer>", judge_url="http://127.0.0.1:9")
    assert set(out) == EXPECTED_KEYS
    assert out["judge_called"] == 0 and out["score"] == 1.0 and out["pred"] == "logical"
    assert all(isinstance(v, (int, float, str)) for v in out.values())


def test_validation_split_skips_judge_unless_configured():
    out = score(THINK + "<answer>B</answer>", split="test", judge_url="http://127.0.0.1:9")
    assert out["judge_called"] == 0 and out["score"] == 2.0 and out["acc"] == 1.0


def test_judge_down_gives_configured_fallback():
    out = score(THINK + "<answer>B</answer>", judge_url="http://127.0.0.1:9", judge_max_retries=0,
                judge_fallback_tq=0.25)
    assert out["judge_called"] == 1 and out["judge_ok"] == 0
    assert out["r_tq"] == 0.25 and out["score"] == 2.25


def test_no_tq_ablation_ignores_judge():
    out = score(THINK + "<answer>B</answer>", thinking_quality=False, judge_url="http://127.0.0.1:9")
    assert out["judge_called"] == 0 and out["score"] == 2.0


def test_missing_reasoning_is_not_sent_to_the_judge():
    out = score("<think> </think><answer>B</answer>", judge_url="http://127.0.0.1:9")
    assert out["judge_called"] == 0 and out["r_acc"] == 1.0 and out["r_format"] == 0.0 and out["score"] == 1.0


@pytest.mark.parametrize("setting", [{"eta": 1.5}, {"eta": -0.1}, {"judge_fallback_tq": 2.0}, {"eta": "half"}])
def test_invalid_settings_raise_at_once(setting):
    with pytest.raises(ValueError, match="reward_kwargs"):
        score(THINK + "<answer>C</answer>", **setting)  # even when the judge would not be called


def test_malformed_judge_url_raises_at_the_first_judge_call():
    with pytest.raises(ValueError, match="not a judge URL"):
        score(THINK + "<answer>B</answer>", judge_url="judge node:80")


def test_rows_without_split_or_options_are_training_pair3c_rows():
    out = asyncio.run(compute_score("mvtec_loco_pair3c", THINK + "<answer>B</answer>", "structural", None,
                                    judge_url="http://127.0.0.1:9", judge_max_retries=0))
    assert out["pred"] == "structural" and out["judge_called"] == 1.0 and out["judge_ok"] == 0.0


def test_garbage_inputs_never_raise():
    for junk in ["", "\x00" * 100, "<think>" * 1000, None]:
        out = score(junk)
        assert 0.0 <= out["score"] <= 3.0


@pytest.mark.judge
def test_real_judge_scores_correct_answers(judge_url):
    out = score(THINK + "<answer>B</answer>", judge_url=judge_url, judge_timeout_s=120)
    assert out["judge_called"] == 1 and out["judge_ok"] == 1
    assert 0.0 <= out["r_conc"] <= 1.0 and 0.0 <= out["r_rel"] <= 1.0
    assert out["r_tq"] == pytest.approx(0.5 * out["r_conc"] + 0.5 * out["r_rel"])
    assert out["score"] == pytest.approx(2.0 + out["r_tq"])


@pytest.fixture(scope="module")
def parquet_row_item(tmp_path_factory, tiny_model_dir):
    """One Pair3C row written by our data code to parquet and read back by verl's RLHFDataset."""
    import io
    from pathlib import Path

    import verl.trainer.config as verl_config
    from omegaconf import OmegaConf
    from PIL import Image
    from verl.utils import hf_processor, hf_tokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from fadtq.data.build import pair_row, write_parquet
    from fadtq.data.prompt import PAIR3C_OPTIONS
    from fadtq.data.split import Pair

    def png(colour):
        buffer = io.BytesIO()
        Image.new("RGB", (56, 56), colour).save(buffer, format="PNG")
        return buffer.getvalue()

    pair = Pair(split="train", category="breakfast_box", label="structural",
                test_image="breakfast_box/test/structural_anomalies/000.png",
                reference_image="breakfast_box/train/good/000.png", seed=42)
    row = pair_row(pair, 0, png("white"), png("grey"), max_pixels=16 * 28 * 28, options=PAIR3C_OPTIONS,
                   data_source="mvtec_loco_pair3c")
    path = tmp_path_factory.mktemp("reward_row") / "train.parquet"
    write_parquet([row], path, progress=False)
    cfg = OmegaConf.load(Path(verl_config.__file__).parent / "data" / "legacy_data.yaml")
    cfg.filter_overlong_prompts = False
    tokenizer = hf_tokenizer(tiny_model_dir)
    item = RLHFDataset(str(path), tokenizer, cfg, hf_processor(tiny_model_dir))[0]
    return item, tokenizer


def naive_manager(judge_url, **reward_kwargs):
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        config = compose(config_name="ppo_trainer", overrides=[
            "reward.custom_reward_function.path=pkg://fadtq.verl_ext.reward",
            "reward.custom_reward_function.name=compute_score",
            f"+reward.custom_reward_function.reward_kwargs.judge_url={judge_url}",
            *(f"+reward.custom_reward_function.reward_kwargs.{k}={v}" for k, v in reward_kwargs.items()),
        ])
    return config


def agent_loop_data(item, tokenizer, response_text: str):
    """What verl's agent loop hands the reward worker for one finished rollout (agent_loop.py
    ``_compute_score``): prompt/response ids and every dataset field of the row as non-tensors."""
    from verl import DataProto

    prompt = tokenizer.encode("<|im_start|>user\nquestion<|im_end|>\n<|im_start|>assistant\n", return_tensors="pt")[0]
    response = tokenizer.encode(response_text + "<|im_end|>", return_tensors="pt")[0]
    def one(value):
        cell = np.empty(1, dtype=object)
        cell[0] = value
        return cell

    non_tensors = {k: one(v) for k, v in item.items() if not isinstance(v, torch.Tensor)}
    non_tensors.update({"__num_turns__": np.array([2]), "tool_extra_fields": one({})})
    return DataProto.from_dict(
        tensors={"prompts": prompt[None], "responses": response[None],
                 "attention_mask": torch.ones(1, len(prompt) + len(response), dtype=torch.long)},
        non_tensors=non_tensors,
    )


@pytest.mark.judge
def test_verl_naive_reward_manager_calls_our_compute_score(parquet_row_item, judge_url):
    from verl.trainer.ppo.reward import load_reward_manager

    item, tokenizer = parquet_row_item
    assert item["extra_info"]["options"] == {"A": "normal", "B": "structural", "C": "logical"}  # parquet round trip
    manager = load_reward_manager(naive_manager(judge_url, eta=0.25, judge_timeout_s=120), tokenizer)
    assert type(manager).__name__ == "NaiveRewardManager"

    correct = manager.loop.run_until_complete(manager.run_single(agent_loop_data(item, tokenizer, THINK + "<answer>B</answer>")))
    info = correct["reward_extra_info"]
    assert set(info) == EXPECTED_KEYS
    assert info["r_format"] == 1.0 and info["r_acc"] == 1.0 and info["pred"] == "structural"
    assert info["judge_called"] == 1.0 and info["judge_ok"] == 1.0, "the real judge should have answered"
    assert info["r_tq"] == pytest.approx(0.25 * info["r_conc"] + 0.75 * info["r_rel"])  # eta came from reward_kwargs
    assert correct["reward_score"] == pytest.approx(2.0 + info["r_tq"])

    wrong = manager.loop.run_until_complete(manager.run_single(agent_loop_data(item, tokenizer, THINK + "<answer>C</answer>")))
    assert wrong["reward_score"] == 1.0 and wrong["reward_extra_info"]["judge_called"] == 0.0


def test_verl_hosted_judge_wins_over_an_exported_url(monkeypatch, caplog):
    import logging
    from types import SimpleNamespace

    from fadtq.verl_ext import reward

    tokenizer = SimpleNamespace(name_or_path="/models/Qwen3-8B")
    env = {"FADTQ_JUDGE_URL": "http://leftover:8901"}
    assert reward.resolve_judge(None, None, "10.0.0.5:4000", tokenizer, env) == \
        ("10.0.0.5:4000", "/models/Qwen3-8B", "verl-hosted judge (reward.reward_model)")
    assert reward.resolve_judge("http://ext:8901", "judge", None, None, env)[:2] == ("http://ext:8901", "judge")
    assert reward.resolve_judge(None, None, None, None, env)[0] == "http://leftover:8901"
    assert reward.resolve_judge(None, None, None, None, {}) == (None, None, "none")
    monkeypatch.setenv("FADTQ_JUDGE_URL", "http://leftover:8901")
    monkeypatch.setattr(reward, "_endpoints_logged", set())
    with caplog.at_level(logging.WARNING, logger=reward.logger.name):
        for _ in range(3):
            reward._log_endpoint_once("10.0.0.5:4000", "/models/Qwen3-8B", "verl-hosted judge (reward.reward_model)")
    messages = [r.getMessage() for r in caplog.records]
    assert sum("fadtq judge (pid" in m for m in messages) == 1
    assert sum("FADTQ_JUDGE_URL=http://leftover:8901 is ignored" in m for m in messages) == 1
