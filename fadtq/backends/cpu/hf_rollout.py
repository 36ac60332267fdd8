"""A transformers-``generate`` rollout for verl on CPU (``actor_rollout_ref.rollout.name=hf``).

verl 0.9.1 serves rollouts only through vLLM / SGLang / TRT-LLM, so this plugs a transformers server into
the same seams: :class:`HFReplica` (replica registry, ``hf``), :class:`HFServer` (its Ray actor; it generates a
step's concurrent rollouts as left-padded batches) and
:class:`HFServerAdapter` (rollout registry, ``("hf", "async")``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Optional

import ray
import torch
from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica, TokenOutput

logger = logging.getLogger(__name__)

ROLLOUT_NAME = "hf"
SERVER_PREFIX = "hf_"
ADAPTER_PATH = f"{__name__}.HFServerAdapter"


@dataclass
class _Request:
    prompt_ids: list[int]
    image_data: Any
    sampling: tuple  # HFServer._sampling: requests with equal settings share a generate call
    result: asyncio.Future


def vision_token_ids(processor, tokenizer) -> list[int]:
    """Placeholder tokens a policy must never sample (an untrained model does, and verl then fails)."""
    names = ["<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>"]
    ids = {tokenizer.convert_tokens_to_ids(n) for n in names}
    return sorted(i for i in ids if isinstance(i, int) and i >= 0 and i != tokenizer.unk_token_id)


class HFServer:
    """One policy copy served with transformers, as a Ray actor of :class:`HFReplica`: the agent loop's
    token-in/token-out ``generate`` (two-image prompts, log-probs of the sampled tokens, vision
    placeholder tokens never sampled) and verl's control calls (sleep, wake-up, weights, global step)."""

    def __init__(self, config, model_config, replica_rank: int = 0, **_: Any):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        torch.set_num_threads(max(1, int(os.environ.get("FADTQ_CPU_ROLLOUT_THREADS", "1"))))
        seed = getattr(config, "seed", None)
        torch.manual_seed((42 if seed is None else int(seed)) + replica_rank)  # reproducible sampling
        self.config = config
        self.replica_rank = replica_rank
        # verl hands the model config over as a DictConfig (HFModelConfig fields, local_path not always set)
        path = model_config.get("local_path", None) or model_config.get("path")
        self.processor = AutoProcessor.from_pretrained(path)
        self.tokenizer = self.processor.tokenizer
        self.model = AutoModelForImageTextToText.from_pretrained(
            path, dtype=torch.float32, attn_implementation="sdpa").eval()
        self.suppressed = vision_token_ids(self.processor, self.tokenizer)
        self.global_steps: Optional[int] = None
        self._lock = asyncio.Lock()
        self._pending: list[_Request] = []
        self.batch_sizes: Counter[int] = Counter()  # how many generate calls ran with each batch size

    # -- generation -------------------------------------------------------------------------------
    def _batch_inputs(self, prompts: list[list[int]], images: list) -> dict:
        """Left-padded ``input_ids`` / ``attention_mask`` and the prompts' images in prompt order (the
        order the model matches image features to placeholder tokens)."""
        width = max(len(ids) for ids in prompts)
        input_ids = torch.full((len(prompts), width), self.tokenizer.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros_like(input_ids)
        for row, ids in enumerate(prompts):
            input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, width - len(ids):] = 1
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        flat = [image for request_images in images for image in (request_images or [])]
        if flat:
            vision = self.processor.image_processor(images=flat, return_tensors="pt")
            inputs["pixel_values"] = vision["pixel_values"]
            inputs["image_grid_thw"] = vision["image_grid_thw"]
            inputs["mm_token_type_ids"] = (input_ids == self.processor.image_token_id).long()
        return inputs

    def _sampling(self, prompt_length: int, sampling_params: dict) -> tuple:
        """``(greedy, temperature, max_tokens, generate kwargs, logprobs)``: requests agreeing on it share a batch."""
        temperature = float(sampling_params.get("temperature", 1.0) or 0.0)
        greedy = temperature <= 0 or sampling_params.get("do_sample") is False
        budget = self.config.prompt_length + self.config.response_length - prompt_length
        max_tokens = int(sampling_params.get("max_tokens") or sampling_params.get("max_new_tokens")
                         or self.config.response_length)
        max_tokens = max(1, min(max_tokens, self.config.response_length, budget))
        top_k = int(sampling_params.get("top_k", -1))
        sampling = (("do_sample", False),) if greedy else (
            ("do_sample", True), ("temperature", temperature), ("top_p", float(sampling_params.get("top_p", 1.0))),
            ("top_k", top_k if top_k > 0 else 0))
        return greedy, temperature, max_tokens, sampling, bool(sampling_params.get("logprobs"))

    def _generate_batch_sync(self, requests: list[_Request]) -> list[TokenOutput]:
        """One ``generate`` call for requests with the same sampling settings (left-padded batch)."""
        greedy, temperature, max_tokens, sampling, logprobs = requests[0].sampling
        inputs = self._batch_inputs([r.prompt_ids for r in requests], [r.image_data for r in requests])
        with torch.no_grad():
            out = self.model.generate(
                **inputs, max_new_tokens=max_tokens, suppress_tokens=self.suppressed,
                pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.tokenizer.eos_token_id,
                return_dict_in_generate=True, output_logits=logprobs, **dict(sampling))
        new_tokens = out.sequences[:, inputs["input_ids"].shape[1]:]
        if logprobs:
            # Raw logits at the rollout temperature: what verl's trainer recomputes as old_log_prob.
            logits = torch.stack(out.logits, dim=1).float()
            if not greedy:
                logits = logits / temperature
            all_log_probs = torch.log_softmax(logits, dim=-1).gather(-1, new_tokens[..., None])[..., 0]
        outputs = []
        for row, tokens in enumerate(new_tokens.tolist()):
            # A finished row is padded after its EOS; keep up to and including the EOS.
            if self.tokenizer.eos_token_id in tokens:
                tokens = tokens[: tokens.index(self.tokenizer.eos_token_id) + 1]
            outputs.append(TokenOutput(
                token_ids=tokens, log_probs=all_log_probs[row, : len(tokens)].tolist() if logprobs else None,
                stop_reason="completed", extra_fields={"global_steps": self.global_steps}))
        return outputs

    async def generate(self, prompt_ids, sampling_params, request_id, image_data=None, video_data=None,
                       audio_data=None, mm_processor_kwargs=None, priority: int = 0, **_: Any) -> TokenOutput:
        """Queue the request; whoever holds the lock next generates everything queued, one batch per
        sampling setting. verl's agent loop sends a step's rollouts concurrently, so while one batch
        runs the others gather: one ``generate`` over many rollouts instead of one each."""
        if video_data or audio_data:
            raise NotImplementedError("the hf CPU rollout serves text and images only")
        prompt_ids = list(prompt_ids)
        request = _Request(prompt_ids, image_data, self._sampling(len(prompt_ids), dict(sampling_params)),
                           asyncio.get_running_loop().create_future())
        self._pending.append(request)
        async with self._lock:  # weights may not change mid-generation
            while self._pending and not request.result.done():
                queued, self._pending = self._pending, []
                batches: dict[tuple, list[_Request]] = {}
                for queued_request in queued:
                    batches.setdefault(queued_request.sampling, []).append(queued_request)
                for batch in batches.values():
                    self.batch_sizes[len(batch)] += 1
                    try:
                        outputs = await asyncio.to_thread(self._generate_batch_sync, batch)
                    except Exception as exc:  # every request of the batch fails with the cause
                        outputs = [exc] * len(batch)
                    for done, output in zip(batch, outputs, strict=True):
                        if done.result.done():  # its caller was cancelled (verl aborts requests)
                            continue
                        if isinstance(output, Exception):
                            done.result.set_exception(output)
                        else:
                            done.result.set_result(output)
        return await request.result

    # -- weights ----------------------------------------------------------------------------------
    def _model_key(self, name: str, keys: set[str]) -> Optional[str]:
        if name in keys:
            return name
        for pattern, replacement in getattr(self.model, "_checkpoint_conversion_mapping", {}).items():
            converted, n = re.subn(pattern, replacement, name)
            if n and converted in keys:
                return converted
        return None

    async def update_weights(self, named_tensors: list[tuple[str, torch.Tensor]], global_steps=None) -> dict:
        async with self._lock:
            state = self.model.state_dict()
            keys = set(state)
            loaded, unmatched = 0, []
            with torch.no_grad():
                for name, tensor in named_tensors:
                    key = self._model_key(name, keys)
                    if key is None:
                        unmatched.append(name)
                        continue
                    state[key].copy_(tensor.to(state[key].dtype))
                    loaded += 1
            if global_steps is not None:
                self.global_steps = global_steps
        report = {"loaded": loaded, "n_unmatched": len(unmatched), "n_missing": len(keys) - loaded}
        if unmatched:
            logger.warning("hf rollout: %d weights matched no parameter, e.g. %s", len(unmatched), unmatched[:3])
        return report

    # -- control calls verl makes on rollout servers -------------------------------------------------
    async def set_global_steps(self, global_steps: int):
        self.global_steps = global_steps

    async def wake_up(self, tags=None):
        return None

    async def sleep(self):
        return None

    async def clear_kv_cache(self):
        return None

    async def release_kv_cache(self):
        return None

    async def resume_kv_cache(self):
        return None

    async def abort_all_requests(self, reset_prefix_cache: bool = True, reject_request: bool = False):
        return {}

    async def resume_generation(self):
        return None

    async def wait_for_requests_to_drain(self):
        return None

    async def start_profile(self, **_):
        return None

    async def stop_profile(self):
        return None

    def get_server_address(self):
        return "127.0.0.1", 0  # token-in/token-out through the actor handle only

    def get_rollout_config(self):
        return self.config


class HFReplica(RolloutReplica):
    """One :class:`HFServer` per replica, named as verl's adapters expect, scheduled without accelerators."""

    def rollout_worker_use_gpu(self) -> bool:
        return False

    def _server_name(self) -> str:
        kind = "server_reward_" if self.is_reward_model else "server_teacher_" if self.is_teacher_model else "server_"
        return f"{SERVER_PREFIX}{kind}{self.replica_rank}_0{self.name_suffix}"

    async def launch_servers(self):
        server = ray.remote(HFServer).options(
            name=self._server_name(), num_cpus=0, max_concurrency=self.max_concurrency,
        ).remote(config=self.config, model_config=self.model_config, replica_rank=self.replica_rank)
        await server.set_global_steps.remote(None)  # wait until the model is loaded
        self.servers = [server]
        self._server_handle = server
        self._server_address = "127.0.0.1:0"


class HFServerAdapter(BaseRollout):
    """In each trainer worker: pushes the trainer's weights to this replica's :class:`HFServer` after every
    update (rank 0 sends)."""

    def __init__(self, config, model_config, device_mesh, replica_rank: int = -1):
        super().__init__(config, model_config, device_mesh)
        rank = int(os.environ.get("RANK", 0))
        world = self.config.tensor_model_parallel_size * self.config.data_parallel_size \
            * self.config.pipeline_model_parallel_size
        self.replica_rank = rank // world if replica_rank == -1 else replica_rank
        self._has_server = rank % world == 0
        self.server_handle = None
        self.last_update: dict = {}

    def _server(self):
        if self.server_handle is None:
            self.server_handle = ray.get_actor(f"{SERVER_PREFIX}server_{self.replica_rank}_0")
        return self.server_handle

    async def resume(self, tags: list[str]):
        return None

    async def release(self):
        return None

    async def update_weights(self, weights, global_steps: int = None, wire_format: str = "named_tensors", **kwargs):
        if wire_format != "named_tensors":
            raise NotImplementedError(f"the hf CPU rollout takes full tensors, not {wire_format!r}")
        # Every rank must drain the generator (FSDP gathers are collective); rank 0 sends.
        tensors = [(name, (t.full_tensor() if hasattr(t, "full_tensor") else t).detach().to("cpu", copy=True))
                   for name, t in weights]
        if self._has_server:
            self.last_update = await self._server().update_weights.remote(tensors, global_steps)
            print(f"hf rollout update_weights: {self.last_update}", flush=True)
