"""fadtq_gpg: equal to an independent float64 NumPy reference, to verl's grpo, and the paper's α."""

import os
from collections import defaultdict

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from fadtq.advantage import compute_gpg_advantage, gpg_alpha
from fadtq.verl_ext import estimators


def reference_advantage(scores, uids, norm_by_std=True, alpha_correction=False, eps=1e-6):
    """Plain float64 loops, written independently of the implementation under test."""
    groups = defaultdict(list)
    for i, uid in enumerate(uids):
        groups[uid].append(i)
    adv = np.zeros(len(scores))
    m = 0
    for members in groups.values():
        values = np.array([scores[i] for i in members], dtype=np.float64)
        if len(values) == 1 or np.all(values == values[0]):
            m += len(values)
            continue
        centred = values - values.mean()
        adv[members] = centred / (values.std(ddof=1) + eps) if norm_by_std else centred
    alpha = len(scores) / (len(scores) - m) if m < len(scores) else 1.0
    return (adv * alpha if alpha_correction else adv), alpha


def random_batch(rng, n_groups, max_group=16, max_len=12, ties=True):
    sizes = rng.integers(1, max_group + 1, size=n_groups)
    uids = np.array([f"uid-{g}" for g, s in enumerate(sizes) for _ in range(s)], dtype=object)
    rng.shuffle(uids)  # verl does not promise contiguous groups
    n = len(uids)
    # Rewards on FAD-TQ's grid (ties and all-equal groups are common) or continuous.
    scores = rng.choice([0.0, 1.0, 2.0, 2.5, 3.0], size=n) if ties else rng.uniform(0, 3, size=n)
    for g in range(0, n_groups, 4):  # force some all-equal groups
        scores[uids == f"uid-{g}"] = 2.0
    lengths = rng.integers(1, max_len + 1, size=n)
    mask = (np.arange(max_len)[None, :] < lengths[:, None]).astype(np.float32)
    rewards = np.zeros((n, max_len), dtype=np.float32)
    rewards[np.arange(n), lengths - 1] = scores  # outcome reward on the last valid token
    return torch.tensor(rewards), torch.tensor(mask), uids, scores


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("norm_by_std,alpha_correction", [(True, False), (True, True), (False, False), (False, True)])
def test_matches_float64_reference(seed, norm_by_std, alpha_correction):
    rng = np.random.default_rng(seed)
    rewards, mask, uids, scores = random_batch(rng, n_groups=int(rng.integers(1, 40)), ties=seed % 2 == 0)
    adv, ret, stats = compute_gpg_advantage(rewards, mask, uids, norm_by_std=norm_by_std,
                                            alpha_correction=alpha_correction)
    expected, alpha = reference_advantage(scores, list(uids), norm_by_std, alpha_correction)
    np.testing.assert_allclose(adv.numpy(), (expected[:, None] * mask.numpy()), rtol=1e-5, atol=1e-5)
    assert torch.equal(adv, ret)
    assert stats.alpha == pytest.approx(alpha)
    assert torch.all(adv[mask == 0] == 0)


def test_equals_verl_grpo_when_alpha_off_and_std_on():
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    rng = np.random.default_rng(7)
    rewards, mask, uids, _ = random_batch(rng, n_groups=30)
    sizes = {u: (uids == u).sum() for u in set(uids)}
    keep = np.array([sizes[u] > 1 for u in uids])  # verl passes singleton rewards through; we zero them (documented)
    rewards, mask, uids = rewards[keep], mask[keep], uids[keep]
    ours, _, _ = compute_gpg_advantage(rewards, mask, uids, norm_by_std=True, alpha_correction=False)
    verls, _ = compute_grpo_outcome_advantage(rewards, mask, uids, norm_adv_by_std_in_grpo=True)
    torch.testing.assert_close(ours, verls, rtol=1e-4, atol=1e-4)


def test_paper_alpha_differs_from_verl_builtin_gpg():
    """Rewards [0,1,2,3 | 2,2,2,2]: paper α = 8/(8−4) = 2; verl's gpg counts non-zero rewards: 8/7."""
    from verl.trainer.ppo.core_algos import compute_gpg_outcome_advantage

    scores = torch.tensor([0.0, 1.0, 2.0, 3.0, 2.0, 2.0, 2.0, 2.0])
    rewards = torch.zeros(8, 4)
    rewards[:, -1] = scores
    mask = torch.ones(8, 4)
    uids = np.array(["a"] * 4 + ["b"] * 4, dtype=object)

    ours, _, stats = compute_gpg_advantage(rewards, mask, uids, norm_by_std=False, alpha_correction=True)
    assert stats.alpha == 2.0 and stats.n_zero_variance_rollouts == 4
    assert ours[:, 0].tolist() == pytest.approx([-3.0, -1.0, 1.0, 3.0, 0, 0, 0, 0])  # 2 · (R − μ)

    verls, _ = compute_gpg_outcome_advantage(rewards, mask, uids)
    verl_alpha = 8 / 7
    assert verls[:, 0].tolist() == pytest.approx([verl_alpha * v for v in (-1.5, -0.5, 0.5, 1.5, 0, 0, 0, 0)], rel=1e-5)


def test_gpg_alpha_hand_values():
    assert gpg_alpha(8, 4) == 2.0
    assert gpg_alpha(256, 0) == 1.0
    assert gpg_alpha(256, 192) == 4.0
    assert gpg_alpha(8, 8) == 1.0  # nothing informative: advantages are all zero anyway


def test_hand_computed_small_group():
    # Group [1, 2, 3]: μ = 2, σ (unbiased) = 1 → A = [-1, 0, 1] / (1 + ε).
    rewards = torch.tensor([[1.0], [2.0], [3.0]])
    adv, _, stats = compute_gpg_advantage(rewards, torch.ones(3, 1), np.array(["g"] * 3, dtype=object))
    assert adv[:, 0].tolist() == pytest.approx([-1.0, 0.0, 1.0], abs=1e-5)
    assert stats.zero_variance_group_share == 0.0


def test_through_verl_compute_advantage_and_registry():
    import verl  # noqa: F401  loads our plugin through the entry point
    from verl import DataProto
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn
    from verl.trainer.ppo.ray_trainer import compute_advantage

    from fadtq.verl_ext import estimators

    assert get_adv_estimator_fn("fadtq_gpg") is estimators.fadtq_gpg_advantage
    rewards = torch.zeros(8, 5)
    rewards[:, -1] = torch.tensor([0.0, 1.0, 2.0, 3.0, 2.0, 2.0, 2.0, 2.0])
    data = DataProto.from_dict(
        tensors={"token_level_rewards": rewards, "response_mask": torch.ones(8, 5),
                 "responses": torch.zeros(8, 5, dtype=torch.long), "attention_mask": torch.ones(8, 10)},
        non_tensors={"uid": np.array(["a"] * 4 + ["b"] * 4, dtype=object)},
    )
    config = OmegaConf.create({"norm_adv_by_std_in_grpo": False, "gpg_alpha_correction": True})
    out = compute_advantage(data, adv_estimator="fadtq_gpg", config=config)
    assert out.batch["advantages"][:, 0].tolist() == pytest.approx([-3.0, -1.0, 1.0, 3.0, 0, 0, 0, 0])
    assert estimators.LAST_STATS.alpha == 2.0


@pytest.mark.slow  # starts a local Ray cluster (~30 s on 2 cores)
def test_registration_visible_in_a_fresh_ray_worker():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="fadtq-adv-test")
    try:
        @ray.remote
        def worker_view():
            import os
            import sys

            import verl  # noqa: F401  (what every verl worker does first; our plugin loads through the entry point)
            from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY

            fn = ADV_ESTIMATOR_REGISTRY.get("fadtq_gpg")
            return os.getpid(), "fadtq.verl_plugin" in sys.modules, getattr(fn, "__module__", None)

        pid, plugin_loaded, module = ray.get(worker_view.remote(), timeout=180)
    finally:
        ray.shutdown()
    assert pid != os.getpid(), "the check must run in a separate worker process"
    assert plugin_loaded and module == "fadtq.verl_ext.estimators"


def test_verl_padding_rollouts_are_left_out_of_alpha_and_stats():
    """verl pads a batch that does not split over the GPUs with zero-mask rollouts sharing one uid."""
    scores = [0.0, 1.0, 2.0, 3.0, 2.0, 2.0, 2.0, 2.0]
    rewards = torch.zeros(11, 4)
    rewards[:8, -1] = torch.tensor(scores)
    mask = torch.ones(11, 4)
    mask[8:] = 0  # three synthetic padding samples
    uids = np.array(["a"] * 4 + ["b"] * 4 + ["pad"] * 3, dtype=object)
    adv, _, stats = compute_gpg_advantage(rewards, mask, uids, norm_by_std=False, alpha_correction=True)
    assert (stats.n_rollouts, stats.n_groups, stats.n_zero_variance_rollouts, stats.alpha) == (8, 2, 4, 2.0)
    assert stats.zero_variance_group_share == 0.5
    assert adv[:8, 0].tolist() == pytest.approx([-3.0, -1.0, 1.0, 3.0, 0, 0, 0, 0])
    assert torch.all(adv[8:] == 0)


def test_singleton_groups_get_zero_and_count_in_m():
    """Documented choice: verl's grpo passes a singleton's reward through as R/(1+ε); we give it A = 0."""
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    rewards = torch.tensor([[0.0, 2.0], [0.0, 1.0], [0.0, 3.0]])
    mask = torch.ones(3, 2)
    uids = np.array(["solo", "pair", "pair"], dtype=object)
    ours, _, stats = compute_gpg_advantage(rewards, mask, uids)
    verls, _ = compute_grpo_outcome_advantage(rewards, mask, uids)
    assert ours[0].tolist() == [0.0, 0.0] and verls[0, 0].item() == pytest.approx(2.0, rel=1e-5)
    torch.testing.assert_close(ours[1:], verls[1:])
    assert stats.n_zero_variance_groups == 1 and stats.n_zero_variance_rollouts == 1 and stats.alpha == 1.5


def test_all_equal_groups_are_exactly_zero_despite_round_off():
    rewards = torch.full((3, 1), 0.1)  # mean(0.1, 0.1, 0.1) is not exactly 0.1 in float32 arithmetic
    adv, _, stats = compute_gpg_advantage(rewards, torch.ones(3, 1), np.array(["g"] * 3, dtype=object))
    assert adv.abs().max().item() == 0.0 and stats.zero_variance_group_share == 1.0 and stats.alpha == 1.0


def test_half_precision_rewards_are_normalised_in_float32():
    rng = np.random.default_rng(3)
    rewards, mask, uids, scores = random_batch(rng, n_groups=12, ties=False)
    adv, _, _ = compute_gpg_advantage(rewards.to(torch.bfloat16), mask, uids)
    assert adv.dtype == torch.float32
    expected, _ = reference_advantage(rewards.to(torch.bfloat16).float().sum(-1).numpy(), list(uids))
    np.testing.assert_allclose(adv.numpy(), expected[:, None] * mask.numpy(), rtol=1e-5, atol=1e-5)


def test_empty_batch_and_bad_index():
    adv, ret, stats = compute_gpg_advantage(torch.zeros(0, 4), torch.zeros(0, 4), np.array([], dtype=object))
    assert adv.shape == (0, 4) and stats.alpha == 1.0 and stats.n_groups == 0
    with pytest.raises(ValueError, match="one prompt uid per row"):
        compute_gpg_advantage(torch.zeros(3, 4), torch.ones(3, 4), np.array(["a", "b"], dtype=object))


def _two_group_batch():
    rewards = torch.zeros(8, 3)
    rewards[:, -1] = torch.tensor([0.0, 1.0, 2.0, 3.0, 2.0, 2.0, 2.0, 2.0])
    return rewards, torch.ones(8, 3), np.array(["a"] * 4 + ["b"] * 4, dtype=object)


@pytest.mark.parametrize("config", [None, {}, OmegaConf.create({"norm_adv_by_std_in_grpo": None})])
def test_estimator_defaults_when_keys_are_absent(config):
    rewards, mask, uids = _two_group_batch()
    adv, _ = estimators.fadtq_gpg_advantage(rewards, mask, index=uids, config=config)
    expected, _, _ = compute_gpg_advantage(rewards, mask, uids, norm_by_std=True, alpha_correction=False, epsilon=1e-6)
    assert torch.equal(adv, expected)


def test_estimator_reads_our_yaml_algorithm_section_and_verl_dataclass():
    from verl.trainer.config import AlgoConfig

    from fadtq.train import compose_config

    rewards, mask, uids = _two_group_batch()
    algorithm = compose_config(["+experiment=gpg_alpha", "algorithm.norm_adv_by_std_in_grpo=false",
                                "algorithm.epsilon=0.5"]).algorithm  # plain overrides: the keys are declared
    adv, _ = estimators.fadtq_gpg_advantage(rewards, mask, index=uids, config=algorithm)
    assert adv[:, 0].tolist() == pytest.approx([-3.0, -1.0, 1.0, 3.0, 0, 0, 0, 0])  # α = 2, no σ
    stats = estimators.pop_last_stats()
    assert stats.alpha_applied and stats.as_metrics()["fadtq_gpg/alpha"] == 2.0
    assert estimators.pop_last_stats() is None  # cleared: a later step never logs a stale batch

    adv, _ = estimators.fadtq_gpg_advantage(rewards, mask, index=uids, config=AlgoConfig(norm_adv_by_std_in_grpo=False))
    assert adv[:, 0].tolist() == pytest.approx([-1.5, -0.5, 0.5, 1.5, 0, 0, 0, 0])
    assert not estimators.LAST_STATS.alpha_applied and estimators.LAST_STATS.alpha == 2.0


def test_estimator_refuses_missing_uids_and_negative_epsilon():
    rewards, mask, uids = _two_group_batch()
    with pytest.raises(ValueError, match="prompt uids"):
        estimators.fadtq_gpg_advantage(rewards, mask, config=None)
    with pytest.raises(ValueError, match="epsilon"):
        estimators.fadtq_gpg_advantage(rewards, mask, index=uids, config={"epsilon": -1.0})


def test_through_verl_v1_advantage_wrapper():
    """verl's V1 trainer calls compute_advantage_for_multi_trajectories; non-grpo names go straight through."""
    from verl import DataProto
    from verl.trainer.ppo.v1.utils import compute_advantage_for_multi_trajectories

    rewards, mask, uids = _two_group_batch()
    data = DataProto.from_dict(tensors={"token_level_rewards": rewards, "response_mask": mask},
                               non_tensors={"uid": uids})
    keys = [f"{u}_0_{i}" for i, u in enumerate(uids)]
    out = compute_advantage_for_multi_trajectories(data, keys, "fadtq_gpg",
                                                   config=OmegaConf.create({"gpg_alpha_correction": True}))
    expected = 2.0 * torch.tensor([-1.5, -0.5, 0.5, 1.5]) / torch.tensor([0.0, 1.0, 2.0, 3.0]).std()
    assert out.batch["advantages"][:4, 0].tolist() == pytest.approx(expected.tolist(), rel=1e-5)


def test_rows_with_response_scans_doubtful_rows_in_full():
    from fadtq.advantage import rows_with_response

    mask = torch.tensor([[1, 1, 0], [0, 0, 0], [0, 1, 1], [1, 0, 0]], dtype=torch.float32)
    assert rows_with_response(mask).tolist() == [True, False, True, True]
    assert rows_with_response(mask.bool()).tolist() == [True, False, True, True]
    assert rows_with_response(torch.zeros(2, 0)).tolist() == [False, False]
