"""``prepare_cpu_run``: the config and environment a CPU run of verl needs, and a one-line refusal of
what the CPU backend cannot run."""

from __future__ import annotations

import os

from omegaconf import OmegaConf, open_dict

#: Environment for the driver and, through Ray's runtime_env, every verl process.
CPU_ENV = {
    # verl's platform override; the plugin registers the backend in every process that sees it.
    "VERL_PLATFORM": "cpu",
    "VERL_ENGINE_DEVICE": "cuda",  # verl registers its FSDP engine for cuda/npu only; it then runs on "cpu"
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "WANDB_MODE": "disabled",
    "TOKENIZERS_PARALLELISM": "false",
    "RAY_USAGE_STATS_ENABLED": "0",
    "OMP_NUM_THREADS": "1",  # 2-core machines: one thread per process keeps Ray's processes from thrashing
}
#: Keys a user may set beforehand (e.g. more threads on a bigger machine); the rest are forced.
USER_OVERRIDABLE_ENV = ("OMP_NUM_THREADS",)


class CPUBackendError(ValueError):
    """A setting the CPU backend cannot honour; the message is one line."""


def unsupported_settings(config) -> list[str]:
    """What in ``config`` the CPU backend cannot run, each as ``key=value (why; what instead)``."""
    found = []
    get = lambda key: OmegaConf.select(config, key)  # noqa: E731
    if get("actor_rollout_ref.model.use_remove_padding"):
        found.append("actor_rollout_ref.model.use_remove_padding=true (needs flash-attention varlen kernels; "
                     "set it to false)")
    attn = get("actor_rollout_ref.model.override_config.attn_implementation")
    if attn not in ("sdpa", "eager"):
        found.append(f"attn_implementation={attn} (flash-attention is GPU-only, and verl's default is "
                     "flash_attention_2; use sdpa)")
    for role in ("actor", "ref"):
        if get(f"actor_rollout_ref.{role}.strategy") == "fsdp":
            found.append(f"actor_rollout_ref.{role}.strategy=fsdp (FSDP1 cannot shard CPU parameters; use fsdp2)")

    for offload in ("param_offload", "optimizer_offload"):
        if get(f"actor_rollout_ref.actor.fsdp_config.{offload}"):
            found.append(f"actor_rollout_ref.actor.fsdp_config.{offload}=true (offloading pins memory through CUDA; "
                         "everything is in CPU memory already — set it to false)")
    if get("actor_rollout_ref.actor.use_kl_loss") or get("algorithm.use_kl_in_reward"):
        found.append("a reference model for the KL term (verl's FSDP2 engine always offloads it with pinned memory, "
                     "which needs CUDA; set actor_rollout_ref.actor.use_kl_loss=false and algorithm.use_kl_in_reward=false)")
    name = get("actor_rollout_ref.rollout.name")
    if name != "hf":
        found.append(f"actor_rollout_ref.rollout.name={name} (vLLM/SGLang/TRT-LLM need a GPU; use hf)")
    if get("reward.reward_model.enable"):
        found.append("reward.reward_model.enable=true (a verl-hosted vLLM judge needs a GPU; point "
                     "reward_kwargs.judge_url at the CPU judge server)")
    return found


def _logical_gpus(config) -> None:
    """Ray's GPU count is a logical token on CPU: give it at least one per trainer rank."""
    needed = int(OmegaConf.select(config, "trainer.n_gpus_per_node") or 1) * int(
        OmegaConf.select(config, "trainer.nnodes") or 1)
    have = OmegaConf.select(config, "ray_kwargs.ray_init.num_gpus")
    if have is None or int(have) < needed:
        OmegaConf.update(config, "ray_kwargs.ray_init.num_gpus", needed, force_add=True)


def prepare_cpu_run(config) -> None:
    """Check the config, export the environment, and forward it to Ray's runtime_env.

    Raises :class:`CPUBackendError` (one line) for a verl other than the pinned one or a setting the
    CPU backend cannot run; ``config`` and the environment are untouched then.
    """
    from fadtq.verl_ext.version import verl_version_problem

    problem = verl_version_problem()
    if problem:
        raise CPUBackendError(problem)
    problems = unsupported_settings(config)
    if problems:
        raise CPUBackendError("the CPU backend does not support " + "; ".join(problems)
                              + " — drop the override, or run on GPUs without +backend=cpu")
    for key, value in CPU_ENV.items():
        os.environ[key] = os.environ.get(key, value) if key in USER_OVERRIDABLE_ENV else value
    env = {key: os.environ[key] for key in CPU_ENV}
    with open_dict(config):
        user_env = OmegaConf.select(config, "ray_kwargs.ray_init.runtime_env.env_vars")
        user = OmegaConf.to_container(user_env, resolve=True) if user_env else {}
        merged = {**env, **{key: str(value) for key, value in user.items()}}  # Ray takes strings only
        OmegaConf.update(config, "ray_kwargs.ray_init.runtime_env.env_vars", merged, force_add=True)
        _logical_gpus(config)
    from fadtq.backends.cpu import register

    register()  # this (launching) process: verl may have been imported before VERL_PLATFORM was set
