"""The ``fadtq_sync`` trainer mode: verl's V1 sync trainer plus what FAD-TQ needs each step.

- Logs the reward's sub-scores, which verl 0.9.1 keeps per sample but never logs in training:
  ``reward/{score,r_format,r_acc,r_tq,r_conc,r_rel}/mean``, ``reward/judge_calls`` (share of rollouts
  sent to the judge), ``reward/judge_fail_rate`` (failed / sent), ``reward/judge_latency_s/mean``.
- Logs the estimator's group statistics (``fadtq_gpg/alpha``, ``fadtq_gpg/zero_variance_group_share``).
- Applies LR-IAD's focal reward (``fadtq.focal.enable``) at the group level before the advantage.
- Adds the sub-scores and the advantage to the rollout dump (``trainer.rollout_data_dir``).

Importing this module imports verl's trainer (seconds); ``fadtq.verl_ext.trainer_mode`` decides when.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import transfer_queue as tq
from tensordict import TensorDict
from verl.trainer.ppo.v1.trainer_base import register_trainer
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync
from verl.workers.utils.padding import response_to_nested

from fadtq.rewards.focal import balanced_class_weights, focal_bonus
from fadtq.verl_ext import estimators

SUB_SCORES = ("score", "r_format", "r_acc", "r_tq", "r_conc", "r_rel")


def reward_infos(batch) -> list[dict]:
    """The per-sample dicts returned by ``compute_score`` (padding samples excluded)."""
    keep = [not tag.get("is_padding", False) for tag in batch.tags]
    data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["extra_fields"])
    fields = data.pop("extra_fields").tolist()
    return [(f or {}).get("reward_extra_info", {}) if isinstance(f, dict) else {} for f, k in zip(fields, keep) if k]


def sub_reward_metrics(infos: list[dict]) -> dict[str, float]:
    """Means of the numeric sub-scores and the judge's call / failure statistics."""
    frame = pd.DataFrame([{k: v for k, v in info.items() if isinstance(v, (int, float, bool))} for info in infos])
    metrics = {f"reward/{key}/mean": float(frame[key].mean()) for key in SUB_SCORES if key in frame}
    if "judge_called" in frame:
        called = frame["judge_called"].astype(float)
        metrics["reward/judge_calls"] = float(called.mean())
        if called.sum() > 0:
            failed = called * (1.0 - frame.get("judge_ok", pd.Series(0.0, index=frame.index)).astype(float))
            metrics["reward/judge_fail_rate"] = float(failed.sum() / called.sum())
            metrics["reward/judge_latency_s/mean"] = float(frame["judge_latency_s"][called > 0].mean())
    return metrics


@register_trainer("fadtq_sync")
class FadtqTrainerSync(PPOTrainerSync):
    def _focal_settings(self):
        focal = self.config.get("fadtq", {}).get("focal", {}) or {}
        return focal if focal.get("enable", False) else None

    def _class_weights(self, focal) -> dict[str, float]:
        if focal.get("class_weights"):
            return {str(k): float(v) for k, v in focal["class_weights"].items()}
        if not hasattr(self, "_balanced_weights"):
            files = self.config.data.train_files
            files = [files] if isinstance(files, str) else list(files)
            labels = pd.concat([pd.read_parquet(f, columns=["reward_model"]) for f in files])["reward_model"]
            self._balanced_weights = balanced_class_weights(
                pd.Series([r["ground_truth"] for r in labels]).value_counts().to_dict())
        return self._balanced_weights

    def _apply_focal(self, batch, focal, metrics) -> None:
        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id,
                               select_fields=["uid", "rm_scores", "response_mask", "extra_fields", "reward_model"])
        response_mask = data["response_mask"]
        extra = data.pop("extra_fields").tolist()
        ground_truth = [r.get("ground_truth") for r in data.pop("reward_model").tolist()]
        uids = np.array(data.pop("uid").tolist(), dtype=object)
        padded = data.to_padded_tensor()
        scores, mask = padded["rm_scores"].clone(), padded["response_mask"]
        r_acc = np.array([(e or {}).get("reward_extra_info", {}).get("r_acc", 0.0) for e in extra], dtype=np.float64)
        group = pd.factorize(uids)[0]
        bonus = focal_bonus(r_acc, group, ground_truth, self._class_weights(focal),
                            alpha=float(focal.get("alpha", 1.0)), gamma=float(focal.get("gamma", 2.0)))
        last = (mask.sum(dim=-1).long() - 1).clamp(min=0)
        scores[torch.arange(len(scores)), last] += torch.as_tensor(bonus, dtype=scores.dtype)
        tq.kv_batch_put(keys=batch.keys, partition_id=batch.partition_id,
                        fields=TensorDict({"rm_scores": response_to_nested(scores, response_mask)}, batch_size=len(batch)))
        metrics["reward/focal_bonus/mean"] = float(bonus.mean())

    def _compute_advantage(self, batch, metrics):
        focal = self._focal_settings()
        if focal is not None:
            self._apply_focal(batch, focal, metrics)
        batch = super()._compute_advantage(batch, metrics)
        if estimators.LAST_STATS is not None and self.config.algorithm.adv_estimator == estimators.ESTIMATOR_NAME:
            metrics.update(estimators.LAST_STATS.as_metrics())
        return batch

    def _compute_metrics(self, batch, metrics, timing_raw, global_steps, epoch):
        result = super()._compute_metrics(batch, metrics, timing_raw, global_steps, epoch)
        metrics.update(sub_reward_metrics(reward_infos(batch)))
        return result

    def _dump_generations(self, inputs, outputs, gts, scores, reward_extra_infos_dict, dump_path):
        # Training dumps carry only uid; add our sub-scores and the advantage (verl's keys are batch keys).
        batch = getattr(self, "_dump_batch", None)
        if batch is not None and "uid" in reward_extra_infos_dict:
            order = {key: i for i, key in enumerate(batch.keys)}
            infos = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id,
                                    select_fields=["extra_fields", "advantages"])
            extra = infos.pop("extra_fields").tolist()
            advantages = [float(a[0]) if len(a) else 0.0 for a in infos["advantages"].unbind()]
            for key in ("pred", "r_format", "r_acc", "r_tq", "judge_ok"):
                reward_extra_infos_dict[key] = [
                    (extra[order[k]] or {}).get("reward_extra_info", {}).get(key) for k in reward_extra_infos_dict["uid"]]
            reward_extra_infos_dict["advantage"] = [advantages[order[k]] for k in reward_extra_infos_dict["uid"]]
        return super()._dump_generations(inputs, outputs, gts, scores, reward_extra_infos_dict, dump_path)

    def _log_rollout_data(self, batch, timing_raw, rollout_data_dir):
        self._dump_batch = batch
        try:
            return super()._log_rollout_data(batch, timing_raw, rollout_data_dir)
        finally:
            self._dump_batch = None
