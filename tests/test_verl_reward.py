"""compute_score: its contract, judge gating, fallbacks, and verl's own `naive` reward manager calling it."""

import asyncio

import numpy as np
import pytest
import torch

from fadtq.verl_ext.reward import compute_score

OPTIONS = {"A": "normal", "B": "structural", "C": "logical"}
THINK = "<think>The test image shows a crack in the cap that the reference image does not have.</think>"
EXPECTED_KEYS = {"score", "acc", "r_format", "r_acc", "r_tq", "r_conc", "r_rel", "judge_called", "judge_ok",
                 "judge_latency_s", "pred"}


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


@pytest.mark.judge
def test_verl_naive_reward_manager_calls_our_compute_score(tiny_model_dir, judge_url):
    from hydra import compose, initialize_config_module
    from verl import DataProto
    from verl.trainer.ppo.reward import load_reward_manager
    from verl.utils import hf_tokenizer

    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        config = compose(config_name="ppo_trainer", overrides=[
            "reward.custom_reward_function.path=pkg://fadtq.verl_ext.reward",
            "reward.custom_reward_function.name=compute_score",
            f"+reward.custom_reward_function.reward_kwargs.judge_url={judge_url}",
            "+reward.custom_reward_function.reward_kwargs.eta=0.5",
        ])
    tokenizer = hf_tokenizer(tiny_model_dir)
    manager = load_reward_manager(config, tokenizer)
    assert type(manager).__name__ == "NaiveRewardManager"

    response = tokenizer.encode(THINK + "<answer>B</answer><|im_end|>", return_tensors="pt")[0]
    prompt = tokenizer.encode("<|im_start|>user\nquestion<|im_end|>\n<|im_start|>assistant\n", return_tensors="pt")[0]
    pad = 4
    responses = torch.cat([response, torch.zeros(pad, dtype=torch.long)])
    attention = torch.cat([torch.ones(len(prompt) + len(response)), torch.zeros(pad)]).long()
    data = DataProto.from_dict(
        tensors={"responses": responses[None], "prompts": prompt[None], "attention_mask": attention[None]},
        non_tensors={
            "data_source": np.array(["mvtec_loco_pair3c"], dtype=object),
            "reward_model": np.array([{"style": "rule", "ground_truth": "structural"}], dtype=object),
            "extra_info": np.array([{"split": "train", "index": 0, "options": OPTIONS,
                                     "question": "Is the test image normal?"}], dtype=object),
        },
    )
    out = manager.loop.run_until_complete(manager.run_single(data))
    info = out["reward_extra_info"]
    assert info["r_format"] == 1.0 and info["r_acc"] == 1.0 and info["judge_called"] == 1.0
    assert info["judge_ok"] == 1.0, "the real judge should have answered"
    assert out["reward_score"] == pytest.approx(2.0 + info["r_tq"])
