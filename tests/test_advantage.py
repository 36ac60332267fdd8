"""fadtq_gpg: equal to an independent float64 NumPy reference, to verl's grpo, and the paper's α."""

from collections import defaultdict

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from fadtq.advantage import compute_gpg_advantage, gpg_alpha


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


def test_registration_visible_in_a_fresh_ray_worker():
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, namespace="fadtq-adv-test")
    try:
        @ray.remote
        def registered_names():
            import verl  # noqa: F401
            from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY

            return sorted(ADV_ESTIMATOR_REGISTRY)

        names = ray.get(registered_names.remote(), timeout=180)
    finally:
        ray.shutdown()
    assert "fadtq_gpg" in names
