"""The ``fadtq_sync`` trainer mode: verl's V1 sync trainer plus what FAD-TQ needs each step.

- Runs verl's sync path. verl 0.9.1 compares the mode *name* with ``"sync"`` (replay buffer,
  gen_batch_size, TransferQueue payloads and checkpoint dumps); under any other name a
  ``PPOTrainerSync`` subclass would get the async replay buffer, which evicts and refills prompt
  groups with a failed session instead of stopping. So the mode verl's trainer reads is ``"sync"``.
- Logs the reward's sub-scores, which verl 0.9.1 keeps per sample but never logs in training:
  ``reward/{score,r_format,r_acc,r_tq,r_conc,r_rel}/mean``, ``reward/judge_calls`` (share of rollouts
  sent to the judge), ``reward/judge_fail_rate`` (failed / sent), ``reward/judge_latency_s/mean``;
  and stops the run when the judge keeps failing (``fadtq.judge_max_fail_rate``, ``fadtq.judge_fail_patience``).
- Logs the estimator's group statistics (``fadtq_gpg/alpha``, ``fadtq_gpg/zero_variance_group_share``).
- Applies LR-IAD's focal reward (``fadtq.focal.enable``) at the group level before the advantage.
- Skips the old-log-prob forward pass for the ratio-free ``gpg`` loss (``fadtq.skip_old_log_prob``).
- Keeps the metrics history of a resumed run (verl's file logger truncates its file).
- Adds the sub-scores and the advantage to the rollout dump (``trainer.rollout_data_dir``).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import transfer_queue as tq
from tensordict import TensorDict
from verl.trainer.ppo.v1.trainer_base import register_trainer
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync
from verl.workers.utils.padding import response_to_nested

from fadtq.config_checks import FADTQ_TRAINER_MODE, METRICS_FILE_ENV, judge_failure_guard, skips_old_log_prob
from fadtq.judge.health import JudgeUnhealthy
from fadtq.rewards import balanced_class_weights, focal_bonus
from fadtq.verl_ext import estimators

#: The mode name verl's trainer compares against; ours must take every one of its branches.
VERL_SYNC_MODE = "sync"

logger = logging.getLogger(__name__)

SUB_SCORES = ("score", "r_format", "r_acc", "r_tq", "r_conc", "r_rel")


def reward_infos(batch) -> list[dict]:
    """The per-sample dicts returned by ``compute_score`` (padding samples excluded)."""
    keep = [not tag.get("is_padding", False) for tag in batch.tags]
    data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["extra_fields"])
    fields = data.pop("extra_fields").tolist()
    return [(f or {}).get("reward_extra_info", {}) if isinstance(f, dict) else {} for f, k in zip(fields, keep, strict=True) if k]


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


def kept_metrics_history(path: str | os.PathLike | None, resumed_step: int) -> bytes:
    """The lines of a metrics JSONL file logged at steps ``<= resumed_step`` (what a resumed run keeps).

    Later steps were logged after the checkpoint the run resumes from; they are logged again.
    """
    if not path or resumed_step <= 0 or not Path(path).is_file():
        return b""
    kept = []
    for line in Path(path).read_bytes().splitlines(keepends=True):
        try:
            step = json.loads(line).get("step", 0)
        except ValueError:
            continue  # a line cut by a crash
        if isinstance(step, (int, float)) and step <= resumed_step:
            kept.append(line if line.endswith(b"\n") else line + b"\n")
    return b"".join(kept)


@register_trainer(FADTQ_TRAINER_MODE)
class FadtqTrainerSync(PPOTrainerSync):
    # verl assigns ``self.trainer_mode = config.trainer.v1.trainer_mode`` and then branches on the name.
    @property
    def trainer_mode(self) -> str:
        return VERL_SYNC_MODE

    @trainer_mode.setter
    def trainer_mode(self, _name: str) -> None:
        pass

    # verl builds its Tracking in fit(); its file logger opens the metrics file with "wb". Writing back
    # what a resumed run had logged, the moment verl hands the Tracking over, keeps the history.
    @property
    def logger(self):
        return self.__dict__.get("_tracking")

    @logger.setter
    def logger(self, tracking) -> None:
        self.__dict__["_tracking"] = tracking
        history = self.__dict__.pop("_metrics_history", b"")
        file_logger = getattr(tracking, "logger", {}).get("file") if tracking is not None else None
        if history and file_logger is not None:
            file_logger.fp.write(history)

    def fit(self, agent_loop_manager):
        path = os.environ.get(METRICS_FILE_ENV)
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)  # verl's file logger does not create it
            self.__dict__["_metrics_history"] = kept_metrics_history(path, int(getattr(self, "global_steps", 0)))
        self._judge_guard = judge_failure_guard(self.config)
        logger.warning("fadtq trainer %s: verl sync path (replay buffer %s), old_log_prob %s", FADTQ_TRAINER_MODE,
                       type(self.replay_buffer).__name__,
                       "reused from the rollout" if skips_old_log_prob(self.config) else "recomputed")
        return super().fit(agent_loop_manager)

    def _compute_old_log_prob(self, batch, metrics):
        if not skips_old_log_prob(self.config):
            return super()._compute_old_log_prob(batch, metrics)
        # gpg's loss −A·log π never reads old_log_prob: store the rollout's own log-probs (verl's bypass
        # data path) instead of a forward pass over the whole batch; the loss itself stays gpg.
        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["rollout_log_probs"])
        data["old_log_probs"] = data.pop("rollout_log_probs")
        tq.kv_batch_put(keys=batch.keys, partition_id=batch.partition_id, fields=data)
        return batch

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
        infos = reward_infos(batch)
        metrics.update(sub_reward_metrics(infos))
        guard = getattr(self, "_judge_guard", None)
        if guard is not None:
            errors = [info.get("judge_error") for info in infos if info.get("judge_error")]
            reason = guard.observe(metrics.get("reward/judge_fail_rate"), errors[-1] if errors else "")
            if reason:
                raise JudgeUnhealthy(f"step {global_steps}: {reason}")
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
