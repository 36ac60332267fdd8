"""The ``fadtq_sync`` trainer mode through a real TransferQueue: its per-step sub-reward metrics, and
LR-IAD's focal reward applied per prompt group before verl's own advantage computation."""


import numpy as np
import pytest

# --- a real TransferQueue: the fields verl's agent loop writes, then the mode's two hooks ---------

GROUPS = {"u0": ("structural", [1, 0, 0, 0]), "u1": ("normal", [1, 1, 1, 1]), "u2": ("logical", [1, 1, 0, 0])}


@pytest.fixture(scope="module")
def transfer_queue():
    import ray
    import transfer_queue as tq
    from omegaconf import OmegaConf

    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    try:
        tq.init(OmegaConf.create({"backend": {"SimpleStorage": {"num_data_storage_units": 1}}}))
        yield tq
        tq.close()
    finally:
        ray.shutdown()


def put_rollouts(tq, partition: str):
    """12 rollouts (3 prompts × 4) shaped like verl's agent loop output, plus one padding sample."""
    import torch
    from transfer_queue import KVBatchMeta
    from verl.utils.tensordict_utils import list_of_dict_to_tensordict

    keys, tags, fields = [], [], []
    for uid, (label, accs) in GROUPS.items():
        for session, r_acc in enumerate(accs):
            length = 3 + len(keys)  # ragged responses
            rm_scores = torch.zeros(length)
            rm_scores[-1] = 1.0 + r_acc  # agent loop: the score on the last response token
            judged = bool(r_acc)
            info = {"score": 1.0 + r_acc, "acc": float(r_acc), "r_format": 1.0, "r_acc": float(r_acc),
                    "r_tq": 0.0, "r_conc": 0.0, "r_rel": 0.0, "judge_called": float(judged),
                    "judge_ok": float(judged and session != 0), "judge_latency_s": 0.5 if judged else 0.0,
                    "pred": label if r_acc else "normal"}
            keys.append(f"{uid}_{session}_0")
            tags.append({"status": "success"})
            fields.append({"uid": uid, "responses": torch.ones(length, dtype=torch.int64),
                           "response_mask": torch.ones(length, dtype=torch.int64), "rm_scores": rm_scores,
                           "reward_model": {"style": "rule", "ground_truth": label},
                           "extra_fields": {"reward_extra_info": info}})
    # verl's padding sample (padding_utils): own uid, zero mask and score, extra fields copied from a real one.
    keys.append("pad0_0_0")
    tags.append({"status": "success", "is_padding": True})
    fields.append({**fields[0], "uid": "pad0", "response_mask": torch.zeros(3, dtype=torch.int64),
                   "responses": torch.ones(3, dtype=torch.int64), "rm_scores": torch.zeros(3)})
    tq.kv_batch_put(keys=keys, partition_id=partition, fields=list_of_dict_to_tensordict(fields), tags=tags)
    return KVBatchMeta(keys=keys, tags=tags, partition_id=partition)


def trainer(focal: dict, train_files=None):
    from omegaconf import OmegaConf

    from fadtq.verl_ext.fadtq_trainer import FadtqTrainerSync

    instance = object.__new__(FadtqTrainerSync)  # only the config is needed by the two hooks under test
    instance.config = OmegaConf.create({
        "fadtq": {"focal": focal},
        "data": {"train_files": train_files},
        "algorithm": {"adv_estimator": "grpo", "use_kl_in_reward": False, "gamma": 1.0, "lam": 1.0,
                      "norm_adv_by_std_in_grpo": True},
        "actor_rollout_ref": {"rollout": {"n": 4}},
    })
    return instance


def expected_grpo(scores: list[float]) -> list[float]:
    values = np.asarray(scores)
    return list((values - values.mean()) / (values.std(ddof=1) + 1e-6))


def fetch(tq, batch, field):
    out = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=[field])
    return [t.tolist() for t in out[field].unbind()]


@pytest.mark.slow
def test_sub_reward_metrics_from_transfer_queue(transfer_queue):
    from fadtq.verl_ext.fadtq_trainer import reward_infos, sub_reward_metrics

    batch = put_rollouts(transfer_queue, "metrics")
    infos = reward_infos(batch)
    assert len(infos) == 12  # the padding sample is left out
    metrics = sub_reward_metrics(infos)
    # 7 of 12 correct → judged; the judged session-0 rollout of each group failed: 3 of 7
    assert metrics["reward/r_acc/mean"] == pytest.approx(7 / 12)
    assert metrics["reward/r_format/mean"] == 1.0 and metrics["reward/r_tq/mean"] == 0.0
    assert metrics["reward/score/mean"] == pytest.approx(1 + 7 / 12)
    assert metrics["reward/judge_calls"] == pytest.approx(7 / 12)
    assert metrics["reward/judge_fail_rate"] == pytest.approx(3 / 7)
    assert metrics["reward/judge_latency_s/mean"] == pytest.approx(0.5)


@pytest.mark.slow
def test_focal_reward_is_added_per_group_before_verls_advantage(transfer_queue, tmp_path):
    import pandas as pd

    # class weights from the training parquet: 3 structural, 1 normal → f = N/(K·N_c) = 2/3 and 2
    train = tmp_path / "train.parquet"
    pd.DataFrame({"reward_model": [{"style": "rule", "ground_truth": g}
                                   for g in ("structural", "structural", "structural", "normal")]}).to_parquet(train)
    batch = put_rollouts(transfer_queue, "focal")
    metrics = {}
    trainer({"enable": True, "alpha": 1.0, "gamma": 2.0, "class_weights": None}, [str(train)])._compute_advantage(
        batch, metrics)

    finals = [row[-1] for row in fetch(transfer_queue, batch, "rm_scores")]
    # u0 (structural, p = 1/4): the one correct rollout gets (3/4)^2 · 2/3 = 0.375; wrong ones nothing
    # u1 (normal, p = 1): solved, no bonus; u2 (logical, unseen in train → f = 1, p = 1/2): 1/4 to correct ones
    expected = [2.375, 1, 1, 1, 2, 2, 2, 2, 2.25, 2.25, 1, 1]
    assert finals[:12] == pytest.approx(expected)
    assert finals[12] == 0.0  # padding untouched
    assert metrics["reward/focal_bonus/mean"] == pytest.approx((0.375 + 0.5) / 13)

    advantages = [row[0] for row in fetch(transfer_queue, batch, "advantages")]
    for group in range(3):  # verl's GRPO advantage saw the focal-adjusted scores
        assert advantages[4 * group:4 * group + 4] == pytest.approx(expected_grpo(expected[4 * group:4 * group + 4]),
                                                                    abs=1e-5)


@pytest.mark.slow
def test_focal_disabled_leaves_scores_alone(transfer_queue):
    batch = put_rollouts(transfer_queue, "plain")
    metrics = {}
    trainer({"enable": False})._compute_advantage(batch, metrics)
    finals = [row[-1] for row in fetch(transfer_queue, batch, "rm_scores")]
    assert finals[:12] == [2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 1, 1]
    assert "reward/focal_bonus/mean" not in metrics
