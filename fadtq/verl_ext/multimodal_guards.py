"""Guards for two verl 0.9.1 multimodal bugs (GPU and CPU runs alike); each wraps verl's function.

A. A micro-batch without images (text-only rows, the V1 trainer's padding samples) makes verl's Qwen2-VL
   forward call ``.mean()`` on the output object transformers 5 returns from ``model.visual`` →
   ``AttributeError``. The guard gives ``_get_input_embeds`` a view of the model whose ``visual`` returns
   the tensor.
B. When all per-sample M-RoPE ``position_ids`` (4, L_i) have one length, torch makes the rope axis the
   ragged one of TransferQueue's nested tensor, and verl's ``maybe_fix_3d_position_ids`` breaks it
   (``split_with_sizes`` fails in ``update_actor``). The guard rebuilds such a tensor with the sequence
   axis ragged; anything else goes to verl's own fix.

The plugin calls :func:`apply` in every verl process, after the version check, before any model is built.
"""

from __future__ import annotations

import functools

import torch


# --- bug A -------------------------------------------------------------------------------------
class _TensorVisual:
    """``model.visual`` whose call returns the embeddings tensor (transformers 5 returns an output object)."""

    def __init__(self, visual):
        self._visual = visual

    def __call__(self, *args, **kwargs):
        from verl.utils.transformers_compat import unpack_visual_output

        return unpack_visual_output(self._visual(*args, **kwargs))[0]

    def __getattr__(self, name):
        return getattr(self._visual, name)


class _ModelWithTensorVisual:
    def __init__(self, model):
        self._model = model
        self.visual = _TensorVisual(model.visual)

    def __getattr__(self, name):
        return getattr(self._model, name)


def guard_text_only_vision_batch(original):
    @functools.wraps(original)
    def _get_input_embeds(model, input_ids, attention_mask=None, pixel_values=None, pixel_values_videos=None,
                          image_grid_thw=None, video_grid_thw=None, *args, **kwargs):
        if pixel_values is None and pixel_values_videos is None:
            model = _ModelWithTensorVisual(model)
        return original(model, input_ids, attention_mask, pixel_values, pixel_values_videos, image_grid_thw,
                        video_grid_thw, *args, **kwargs)

    _get_input_embeds._fadtq_guard = True
    return _get_input_embeds


# --- bug B -------------------------------------------------------------------------------------
def rope_axis_is_ragged(position_ids: torch.Tensor) -> bool:
    """True for a jagged (B, 4, L) tensor whose *rope* axis was made ragged (all L_i equal)."""
    if not (position_ids.is_nested and position_ids.dim() == 3 and position_ids._ragged_idx == 1):
        return False
    offsets = position_ids.offsets()
    return int(offsets[-1]) == position_ids.values().shape[0]


def sequence_ragged_position_ids(position_ids: torch.Tensor) -> torch.Tensor:
    """Rebuild a rope-ragged (B, 4, L) nested tensor with the sequence axis ragged (``_ragged_idx=2``)."""
    components = list(position_ids.unbind())  # each (4, L_i)
    values = torch.cat(components, dim=1)
    lengths = torch.tensor([c.shape[1] for c in components])
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)])
    return torch.nested.nested_tensor_from_jagged(values, offsets, jagged_dim=2)


def guard_equal_length_position_ids(original):
    @functools.wraps(original)
    def maybe_fix_3d_position_ids(data):
        if "position_ids" in data.keys() and rope_axis_is_ragged(data["position_ids"]):
            data["position_ids"] = sequence_ragged_position_ids(data["position_ids"])
            return None
        return original(data)

    maybe_fix_3d_position_ids._fadtq_guard = True
    return maybe_fix_3d_position_ids


# --- application -------------------------------------------------------------------------------
_TARGETS = (
    ("verl.models.transformers.qwen2_vl", "_get_input_embeds", guard_text_only_vision_batch),
    ("verl.workers.engine_workers", "maybe_fix_3d_position_ids", guard_equal_length_position_ids),
    ("verl.workers.engine.base", "maybe_fix_3d_position_ids", guard_equal_length_position_ids),
)


def apply() -> list[str]:
    """Import each target module and guard it (idempotent); returns the functions guarded by this call."""
    import importlib

    patched = []
    for module_name, attribute, guard in _TARGETS:
        module = importlib.import_module(module_name)
        original = getattr(module, attribute)  # AttributeError: verl moved it — the version check should catch that
        if getattr(original, "_fadtq_guard", False):
            continue
        setattr(module, attribute, guard(original))
        patched.append(f"{module_name}.{attribute}")
    return patched
