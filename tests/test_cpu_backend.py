"""The CPU backend's pieces, each on real verl / transformers code: platform, registries, the gloo
replacement, ``prepare_cpu_run`` and the ``hf`` rollout server (log-probs, suppressed vision
tokens, weight updates). The full trainer run is in test_train_cpu_e2e.py."""

import asyncio
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

import fadtq.backends.cpu as cpu_backend
from fadtq.backends.cpu import settings
from fadtq.backends.cpu.hf_rollout import ADAPTER_PATH, HFReplica, HFServer, HFServerAdapter, vision_token_ids
from fadtq.backends.cpu.platform import PlatformCPU

cpu_backend.register()  # what the plugin does in every verl process on the cpu platform

# --- platform and registries -------------------------------------------------------------------


def test_platform_is_opt_in(monkeypatch):
    monkeypatch.delenv("VERL_PLATFORM", raising=False)
    assert not PlatformCPU().is_platform_available(use_smi_check=True)  # never auto-detected on a GPU machine
    monkeypatch.setenv("VERL_PLATFORM", "cpu")
    assert PlatformCPU().is_platform_available()


def test_platform_describes_the_cpu():
    platform = PlatformCPU()
    assert (platform.device_name, platform.communication_backend_name(), platform.ray_resource_name()) == \
        ("cpu", "gloo", "GPU")
    assert torch.ones(2).to(platform.current_device()).device.type == "cpu"  # verl's .to(get_device_id())
    module = platform.device_module
    assert module.current_device() == "cpu" and module.is_available() and module.memory_allocated() == 0
    free, total = module.mem_get_info()
    assert 0 < free <= total


def test_rollout_registries_know_hf():
    from verl.plugin.platform.platform_manager import PlatformRegistry
    from verl.workers.rollout.base import get_rollout_class
    from verl.workers.rollout.replica import RolloutReplicaRegistry

    assert PlatformRegistry.get("cpu") is PlatformCPU
    assert RolloutReplicaRegistry.get("hf") is HFReplica
    assert get_rollout_class("hf", "async") is HFServerAdapter
    assert ADAPTER_PATH == "fadtq.backends.cpu.hf_rollout.HFServerAdapter"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PROCESS_GROUP_SCRIPT = textwrap.dedent("""
    import torch.distributed as dist
    import fadtq.backends.cpu
    fadtq.backends.cpu.register()  # what the plugin does on the cpu platform; here on both platforms
    from verl.utils.device import get_device_name, get_nccl_backend
    from verl.workers import engine_workers
    print("device", get_device_name(), get_nccl_backend())
    init = engine_workers.initialize_global_process_group_ray
    for name, fn in (("original", init.__wrapped__), ("backend", init)):
        try:
            fn()
            print(name, "ok", dist.get_backend(), dist.get_world_size())
            dist.destroy_process_group()
        except (ValueError, RuntimeError) as exc:
            print(name, "error", str(exc).splitlines()[0])
""")


@pytest.mark.parametrize("platform", ["cpu", "default"])
def test_fresh_verl_process_group(platform):
    """A verl process as Ray starts it (the backend registered, as the plugin does on the cpu platform),
    then verl's own process-group set-up. On the CPU platform verl's function fails and the replacement gives a
    gloo group; without VERL_PLATFORM=cpu nothing changes: the platform stays verl's default and the
    replacement fails exactly as stock verl does on a machine without NCCL."""
    env = {**os.environ, **settings.CPU_ENV, "RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(_free_port())}
    if platform == "default":
        del env["VERL_PLATFORM"]
    result = subprocess.run([sys.executable, "-c", PROCESS_GROUP_SCRIPT], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    original = next(line for line in lines if line.startswith("original "))
    replaced = next(line for line in lines if line.startswith("backend "))
    if platform == "cpu":
        assert "device cpu gloo" in lines
        assert original.startswith("original error") and "Duplicate device type cpu" in original
        assert replaced == "backend ok gloo 1"
    else:
        assert "device cuda nccl" in lines
        assert original.startswith("original error") and "NCCL" in original
        assert replaced == original.replace("original", "backend", 1)


def test_unsupported_verl_version_is_one_line(monkeypatch):
    from fadtq.verl_ext import version

    monkeypatch.setattr(version, "SUPPORTED_VERL", "0.10.0")
    with pytest.raises(version.UnsupportedVerlVersion) as caught:
        cpu_backend.register()
    message = str(caught.value)
    assert "\n" not in message and "0.9.1" in message and "0.10.0" in message
    with pytest.raises(settings.CPUBackendError, match="verl 0.9.1 is installed"):
        settings.prepare_cpu_run(OmegaConf.create({}))


# --- prepare_cpu_run ---------------------------------------------------------------------------


@pytest.fixture
def restore_env(monkeypatch):
    for key in settings.CPU_ENV:  # prepare_cpu_run exports these; monkeypatch restores (or removes) them after
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # a user's choice, kept


def _cpu_config(*overrides):
    from fadtq.train import compose_config

    return compose_config(["+backend=cpu", *overrides])


def test_prepare_cpu_run_sets_env_for_every_ray_process(restore_env):
    config = _cpu_config("+ray_kwargs.ray_init.runtime_env.env_vars.MY_FLAG=1", "trainer.n_gpus_per_node=2",
                         "data.train_batch_size=2", "actor_rollout_ref.actor.ppo_mini_batch_size=2")
    settings.prepare_cpu_run(config)
    env_vars = OmegaConf.to_container(config.ray_kwargs.ray_init.runtime_env.env_vars)
    assert "VERL_USE_EXTERNAL_MODULES" not in env_vars  # the verl.plugins entry point is the one route
    assert env_vars["VERL_PLATFORM"] == "cpu" and env_vars["VERL_ENGINE_DEVICE"] == "cuda"
    assert env_vars["HF_HUB_OFFLINE"] == "1" and env_vars["WANDB_MODE"] == "disabled"
    assert env_vars["MY_FLAG"] == "1" and env_vars["OMP_NUM_THREADS"] == "3"
    assert os.environ["VERL_PLATFORM"] == "cpu" and os.environ["OMP_NUM_THREADS"] == "3"
    assert config.ray_kwargs.ray_init.num_gpus == 2  # one logical GPU per trainer rank
    assert config.ray_kwargs.ray_init.num_cpus >= 16 and config.ray_kwargs.ray_init.address == "local"


def test_cpu_config_is_the_paper_config_scaled_down():
    config = _cpu_config()
    assert config.fadtq.backend == "cpu" and config.algorithm.adv_estimator == "fadtq_gpg"
    assert config.actor_rollout_ref.actor.policy_loss.loss_mode == "gpg"
    assert config.data.train_batch_size == 2 and 2 <= config.actor_rollout_ref.rollout.n <= 4
    assert config.actor_rollout_ref.actor.ppo_mini_batch_size == config.data.train_batch_size  # on-policy GPG
    assert config.reward.custom_reward_function.path == "pkg://fadtq.verl_ext.reward"
    assert config.transfer_queue.backend.SimpleStorage.num_data_storage_units == 1
    assert settings.unsupported_settings(config) == []


@pytest.mark.parametrize("override,fragment", [
    ("actor_rollout_ref.model.use_remove_padding=true", "use_remove_padding=true (needs flash-attention"),
    ("actor_rollout_ref.model.override_config.attn_implementation=flash_attention_2",
     "attn_implementation=flash_attention_2 (flash-attention is GPU-only"),
    ("actor_rollout_ref.actor.strategy=fsdp", "strategy=fsdp (FSDP1"),
    ("actor_rollout_ref.rollout.name=vllm", "rollout.name=vllm (vLLM"),
    ("actor_rollout_ref.rollout.name=sglang", "rollout.name=sglang"),
    ("reward.reward_model.enable=true", "reward_model.enable=true"),
])
def test_prepare_cpu_run_refuses_what_cpu_cannot_run(override, fragment, restore_env):
    config = _cpu_config(override)
    with pytest.raises(settings.CPUBackendError) as caught:
        settings.prepare_cpu_run(config)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("the CPU backend does not support") and fragment in message
    assert "VERL_PLATFORM" not in os.environ  # nothing exported for a refused config


def test_prepare_cpu_run_names_every_problem_in_one_line(restore_env):
    config = _cpu_config("actor_rollout_ref.model.use_remove_padding=true", "actor_rollout_ref.rollout.name=vllm")
    with pytest.raises(settings.CPUBackendError) as caught:
        settings.prepare_cpu_run(config)
    assert "\n" not in str(caught.value) and "use_remove_padding" in str(caught.value) and "vllm" in str(caught.value)


# --- the hf rollout server ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    config = OmegaConf.create({"prompt_length": 512, "response_length": 12, "seed": 7})
    threads = torch.get_num_threads()
    try:
        return HFServer(config, OmegaConf.create({"path": tiny_model_dir}))
    finally:
        torch.set_num_threads(threads)  # the server pins its (Ray actor) process to one thread; not pytest's


def _two_image_prompt(server) -> tuple[list[int], list[Image.Image]]:
    images = [Image.new("RGB", (56, 56), (200, 30, 30)), Image.new("RGB", (84, 56), (30, 200, 30))]
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "image"},
                                             {"type": "text", "text": "Which class? A, B or C."}]}]
    text = server.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = server.processor(text=[text], images=images, return_tensors="pt")["input_ids"][0].tolist()
    return ids, images


def _generate(server, prompt_ids, images, **sampling):
    return asyncio.run(server.generate(prompt_ids, {"logprobs": True, **sampling}, request_id="t", image_data=images))


def test_rollout_log_probs_are_the_trainers(server):
    """Per-token log-probs of the sampled tokens equal a teacher-forced forward pass (what verl's
    trainer recomputes as old_log_prob), at the sampling temperature."""
    prompt_ids, images = _two_image_prompt(server)
    assert prompt_ids.count(server.processor.image_token_id) > 0
    out = _generate(server, prompt_ids, images, temperature=0.7, top_p=1.0, top_k=-1)
    assert len(out.token_ids) == len(out.log_probs) == 12
    assert out.stop_reason == "completed"
    full = torch.tensor([prompt_ids + out.token_ids])
    inputs = server._batch_inputs([prompt_ids + out.token_ids], [images])
    with torch.no_grad():
        logits = server.model(**inputs).logits[0, len(prompt_ids) - 1:-1] / 0.7
    expected = torch.log_softmax(logits, -1).gather(-1, full[0, len(prompt_ids):, None])[:, 0]
    assert torch.allclose(torch.tensor(out.log_probs), expected, atol=1e-4)


def test_greedy_validation_is_deterministic(server):
    prompt_ids, images = _two_image_prompt(server)
    first = _generate(server, prompt_ids, images, temperature=0, top_p=1.0, top_k=-1)
    second = _generate(server, prompt_ids, images, temperature=0, top_p=1.0, top_k=-1)
    assert first.token_ids == second.token_ids


def test_weight_update_reaches_generation_and_vision_tokens_are_never_sampled(server, tiny_model_dir):
    """Push, with verl's key conversion, weights that make a vision placeholder the likeliest next
    token at every position: generation must follow the new weights yet never emit one."""
    from transformers import AutoModelForImageTextToText
    from verl.utils.model import convert_weight_keys

    trainer_model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    suppressed = vision_token_ids(server.processor, server.tokenizer)
    assert server.processor.image_token_id in suppressed and len(suppressed) >= 3
    with torch.no_grad():
        head = trainer_model.lm_head.weight
        direction = torch.randn(head.shape[1])
        head.zero_()
        for i, token in enumerate(suppressed):  # ±direction: some vision token has the top logit whatever h is
            head[token] = direction * (1 if i % 2 == 0 else -1) * 50
        first_allowed = min(set(range(head.shape[0])) - set(suppressed))
    state = convert_weight_keys(trainer_model.state_dict(), trainer_model)
    report = asyncio.run(server.update_weights(list(state.items()), global_steps=3))
    assert report == {"loaded": len(state), "n_unmatched": 0, "n_missing": 0}
    assert torch.equal(server.model.lm_head.weight, trainer_model.lm_head.weight)

    prompt_ids, images = _two_image_prompt(server)
    greedy = _generate(server, prompt_ids, images, temperature=0)
    sampled = _generate(server, prompt_ids, images, temperature=1.0, top_p=1.0, top_k=-1)
    # all allowed logits tie at 0, so greedy takes the first allowed id: the new weights are in use
    assert greedy.token_ids == [first_allowed] * 12
    assert not set(greedy.token_ids + sampled.token_ids) & set(suppressed)
    assert greedy.extra_fields["global_steps"] == 3
    # and without the suppression the same weights do produce vision placeholders
    inputs = server._batch_inputs([prompt_ids], [images])
    with torch.no_grad():
        raw = server.model.generate(**inputs, max_new_tokens=4, do_sample=False,
                                    pad_token_id=server.tokenizer.pad_token_id)
    assert set(raw[0, len(prompt_ids):].tolist()) <= set(suppressed)


def test_backend_module_registers_idempotently():
    cpu_backend.register()  # a second import-time registration (e.g. plugin + env) must not stack wrappers
    from verl.workers import engine_workers

    wrapped = engine_workers.initialize_global_process_group_ray.__wrapped__
    assert not getattr(wrapped, "_fadtq_gloo", False)


@pytest.mark.parametrize("override,fragment", [
    ("actor_rollout_ref.model.use_remove_padding=true", "use_remove_padding"),
    ("actor_rollout_ref.model.override_config.attn_implementation=flash_attention_2", "flash-attention"),
    ("actor_rollout_ref.actor.strategy=fsdp", "FSDP1"),
    ("actor_rollout_ref.rollout.name=vllm", "vLLM"),
    ("actor_rollout_ref.actor.fsdp_config.param_offload=true", "pins memory"),
    ("actor_rollout_ref.actor.use_kl_loss=true", "reference model"),
])
def test_launcher_refuses_what_cpu_cannot_run_in_one_line(override, fragment, tmp_path):
    """The same refusals through the launcher's ``--dry-run``: one line on stderr, exit 2."""
    for name in ("train.parquet", "test.parquet"):
        (tmp_path / name).write_bytes(b"x")
    result = subprocess.run([sys.executable, "-m", "fadtq.train", "+backend=cpu", "--dry-run", override,
                             f"data.train_files={tmp_path / 'train.parquet'}", f"data.val_files={tmp_path / 'test.parquet'}"],
                            capture_output=True, text=True, timeout=300)
    errors = [line for line in result.stderr.splitlines() if line.startswith("fadtq.train: error:")]
    assert result.returncode == 2 and len(errors) == 1
    assert "CPU backend does not support" in errors[0] and fragment in errors[0]


def test_concurrent_requests_share_one_generate_and_match_single_requests(server):
    """verl's agent loop sends a step's rollouts at once: they are generated as one left-padded batch
    (several image sizes, so several prompt lengths), and each equals the same request served alone,
    tokens (greedy) and log-probs."""
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "image"},
                                             {"type": "text", "text": "Which class? A, B or C."}]}]
    text = server.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    requests = []
    for width, colour in ((56, 40), (84, 120), (112, 200), (56, 250)):
        images = [Image.new("RGB", (width, 56), (colour, 30, 30)), Image.new("RGB", (56, 56), (30, colour, 30))]
        requests.append((server.processor(text=[text], images=images, return_tensors="pt")["input_ids"][0].tolist(), images))
    assert len({len(ids) for ids, _ in requests}) > 1
    alone = [_generate(server, ids, images, temperature=0) for ids, images in requests]

    async def together():
        return await asyncio.gather(*(server.generate(ids, {"logprobs": True, "temperature": 0}, request_id=str(i),
                                                      image_data=images) for i, (ids, images) in enumerate(requests)))

    server.batch_sizes.clear()
    batched = asyncio.run(together())
    assert max(server.batch_sizes) > 1 and sum(n * c for n, c in server.batch_sizes.items()) == len(requests)
    for single, joint in zip(alone, batched, strict=True):
        assert joint.token_ids == single.token_ids
        assert torch.allclose(torch.tensor(joint.log_probs), torch.tensor(single.log_probs), atol=1e-4)
