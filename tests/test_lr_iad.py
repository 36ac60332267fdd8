"""LR-IAD's setting: GRPO on MVTec-AD / VisA at their natural defect share, with the focal reward's
rare-class weight f > 1 — the experiments, their launch scripts, and the weights the trainer derives."""

import os
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from omegaconf import OmegaConf

from fadtq.data.binary import build_binary
from fadtq.labels import ANOMALOUS, NORMAL
from fadtq.offline.synth_binary import make_synthetic_mvtec_ad, make_synthetic_visa
from fadtq.train import compose_config

REPO = Path(__file__).resolve().parents[1]
#: experiment -> (dataset, default data folder)
LR_IAD = {"lr_iad_mvtec_ad": ("mvtec-ad", "data/mvtec_ad_natural"), "lr_iad_visa": ("visa", "data/visa_natural")}


@pytest.mark.parametrize("experiment", sorted(LR_IAD))
def test_experiment_is_lr_iad_grpo_with_focal_reward_and_no_judge(experiment, monkeypatch, tmp_path):
    from fadtq.config_checks import validate

    monkeypatch.delenv("FADTQ_TRAIN_FILES", raising=False)
    monkeypatch.delenv("FADTQ_VAL_FILES", raising=False)
    monkeypatch.chdir(tmp_path)  # relative data paths stay relative when they do not exist here
    config = compose_config([f"+experiment={experiment}"])
    folder = LR_IAD[experiment][1]
    assert (config.data.train_files, config.data.val_files) == (f"{folder}/train.parquet", f"{folder}/test.parquet")
    actor = config.actor_rollout_ref.actor
    assert config.algorithm.adv_estimator == "grpo" and actor.policy_loss.loss_mode == "vanilla"
    assert actor.clip_ratio == 0.2 and actor.use_kl_loss and actor.kl_loss_coef == 0.01
    assert actor.kl_loss_type == "low_var_kl" and config.actor_rollout_ref.ref.fsdp_config.param_offload
    assert config.data.train_batch_size == 32 and actor.ppo_mini_batch_size == 8  # 4 updates per batch
    assert config.fadtq.focal.enable and config.fadtq.focal.class_weights is None  # f from the training set
    assert config.reward.custom_reward_function.reward_kwargs.thinking_quality is False
    assert not config.reward.reward_model.enable and not config.reward.reward_model.enable_resource_pool
    assert config.trainer.experiment_name == f"{experiment}_qwen2_5_vl_3b"

    for name in ("train.parquet", "test.parquet"):
        (tmp_path / name).write_bytes(b"placeholder: only existence is checked before training")
    validate(compose_config([f"+experiment={experiment}", f"data.train_files={tmp_path / 'train.parquet'}",
                             f"data.val_files={tmp_path / 'test.parquet'}"]))  # ours + verl's validate_config


@pytest.mark.parametrize("experiment", sorted(LR_IAD))
def test_recipe_builds_and_trains_on_the_natural_split(experiment, tmp_path):
    """The header's build command writes the folder the script trains on by default."""
    dataset, folder = LR_IAD[experiment]
    script = REPO / "recipes" / f"{experiment}.sh"
    text = script.read_text()
    assert re.findall(r"^exec fadtq train \+experiment=(\w+) \"\$@\"$", text, flags=re.M) == [experiment]
    build = re.search(r"^# Data .*: (fadtq build-data .*)$", text, flags=re.M).group(1)
    assert build.startswith(f"fadtq build-data {dataset} ") and f"--out {folder} " in build
    assert build.endswith("--balance natural")
    assert os.access(script, os.X_OK)

    fake_fadtq = tmp_path / "fadtq"  # first on PATH: records the command line instead of training
    fake_fadtq.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    fake_fadtq.chmod(0o755)
    environment = {k: v for k, v in os.environ.items() if k not in ("FADTQ_TRAIN_FILES", "FADTQ_VAL_FILES")}
    result = subprocess.run(["bash", str(script), "--dry-run"], capture_output=True, text=True, timeout=60,
                            env={**environment, "PATH": f"{tmp_path}{os.pathsep}{environment['PATH']}"})
    assert result.returncode == 0, result.stderr
    arguments = result.stdout.splitlines()
    assert f"+experiment={experiment}" in arguments and arguments[-1] == "--dry-run"
    assert arguments == ["train", f"+experiment={experiment}", "--dry-run"]  # its data folder: the experiment's default


@pytest.mark.parametrize("dataset", ["mvtec-ad", "visa"])
def test_trainer_gives_the_rare_class_f_above_one_on_the_natural_split(dataset, tmp_path):
    """The focal weights the trainer derives from a natural build's train.parquet: f_anomalous =
    N/(2·N_anomalous) > 1 > f_normal; from a balanced build, 1 for both."""
    from fadtq.verl_ext.fadtq_trainer import FadtqTrainerSync

    root = (make_synthetic_mvtec_ad(tmp_path / "tree", n_train=40) if dataset == "mvtec-ad"
            else make_synthetic_visa(tmp_path / "tree", n_train=40))

    def trainer_weights(balance):
        built = build_binary(dataset, root, tmp_path / balance, per_class=2, balance=balance, progress=False,
                             categories=("bottle", "cable") if dataset == "mvtec-ad" else None)
        trainer = SimpleNamespace(config=OmegaConf.create({"data": {"train_files": [str(built.files["train"])]}}))
        labels = [r["ground_truth"] for r in pd.read_parquet(built.files["train"]).reward_model]
        return FadtqTrainerSync._class_weights(trainer, {"class_weights": None}), labels

    weights, labels = trainer_weights("natural")
    # by hand: 2 categories × (2 anomalous + ⌊2·(1−s)/s + ½⌋ normal) = 2 × (2 + 7) on MVTec-AD, 2 × (2 + 16) on
    # VisA; f_c = N/(2·N_c): 18/8 and 18/28, 36/8 and 36/64
    assert (len(labels), labels.count(ANOMALOUS)) == ((18, 4) if dataset == "mvtec-ad" else (36, 4))
    expected = {ANOMALOUS: 2.25, NORMAL: 18 / 28} if dataset == "mvtec-ad" else {ANOMALOUS: 4.5, NORMAL: 0.5625}
    assert weights == pytest.approx(expected)
    assert weights[ANOMALOUS] > 1 > weights[NORMAL]
    assert trainer_weights("balanced")[0] == {ANOMALOUS: 1.0, NORMAL: 1.0}
