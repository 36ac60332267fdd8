"""``prepare_cpu_run``: what a CPU run of verl needs, set on the config and the environment, and a
one-line refusal of what the CPU backend does not support."""

from __future__ import annotations

import os

from omegaconf import OmegaConf, open_dict

#: Environment for the driver and, through Ray's runtime_env, every verl process.
CPU_ENV = {
    "VERL_USE_EXTERNAL_MODULES": "fadtq.backends.cpu",  # registers platform + rollout in every process
    "VERL_PLATFORM": "cpu",
    "VERL_ENGINE_DEVICE": "cuda",  # verl registers its FSDP engine for cuda/npu only; it then runs on "cpu"
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "WANDB_MODE": "disabled",
    "TOKENIZERS_PARALLELISM": "false",
    "RAY_USAGE_STATS_ENABLED": "0",
    "OMP_NUM_THREADS": "1",
}


class CPUBackendError(ValueError):
    """A setting the CPU backend cannot honour; the message is one line."""


def unsupported_settings(config) -> list[str]:
    found = []
    get = lambda key: OmegaConf.select(config, key)  # noqa: E731
    if get("actor_rollout_ref.model.use_remove_padding"):
        found.append("actor_rollout_ref.model.use_remove_padding=true (needs flash-attention varlen kernels)")
    attn = get("actor_rollout_ref.model.override_config.attn_implementation")
    if attn and attn != "sdpa" and attn != "eager":
        found.append(f"attn_implementation={attn} (flash-attention is GPU-only; use sdpa)")
    for role in ("actor", "ref"):
        if get(f"actor_rollout_ref.{role}.strategy") == "fsdp":
            found.append(f"actor_rollout_ref.{role}.strategy=fsdp (FSDP1 needs a GPU; use fsdp2)")
    name = get("actor_rollout_ref.rollout.name")
    if name != "hf":
        found.append(f"actor_rollout_ref.rollout.name={name} (vLLM/SGLang/TRT-LLM need a GPU; use hf)")
    if get("reward.reward_model.enable"):
        found.append("reward.reward_model.enable=true (a verl-hosted vLLM judge needs a GPU; point "
                     "reward_kwargs.judge_url at the CPU judge server)")
    return found


def prepare_cpu_run(config) -> None:
    """Check the config, export the environment, and forward it to Ray's runtime_env."""
    problems = unsupported_settings(config)
    if problems:
        raise CPUBackendError("the CPU backend does not support " + "; ".join(problems)
                              + " — drop the override or run on GPUs without +backend=cpu")
    for key, value in CPU_ENV.items():
        os.environ[key] = os.environ.get(key, value) if key == "OMP_NUM_THREADS" else value
    with open_dict(config):
        env_vars = OmegaConf.select(config, "ray_kwargs.ray_init.runtime_env.env_vars") or {}
        merged = {**CPU_ENV, **OmegaConf.to_container(env_vars, resolve=True)} if env_vars else dict(CPU_ENV)
        OmegaConf.update(config, "ray_kwargs.ray_init.runtime_env.env_vars", merged, force_add=True)
    import fadtq.backends.cpu  # noqa: F401  registers platform and rollout in this (driver) process
