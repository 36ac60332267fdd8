"""The two verl 0.9.1 multimodal bugs, reproduced on verl's own functions, with and without our guards."""

import subprocess
import sys
import textwrap

import pytest
import torch
from tensordict import TensorDict

from fadtq.verl_ext import multimodal_guards


def test_guards_are_applied_in_verl_modules():
    from verl.models.transformers import qwen2_vl
    from verl.workers import engine_workers
    from verl.workers.engine import base

    import fadtq.verl_plugin  # noqa: F401  what every verl process loads

    for fn in (qwen2_vl._get_input_embeds, engine_workers.maybe_fix_3d_position_ids, base.maybe_fix_3d_position_ids):
        assert getattr(fn, "_fadtq_guard", False)


def test_plugin_alone_guards_a_fresh_verl_process():
    """Any verl process (the plugin is an entry point of ``import verl``), whatever the config: the plugin
    imports the three modules and guards them before anything else uses them."""
    script = textwrap.dedent("""
        import sys
        import verl
        assert "fadtq.verl_plugin" in sys.modules
        from verl.workers import engine_workers
        from verl.models.transformers import qwen2_vl
        from verl.workers.engine import base
        for fn in (qwen2_vl._get_input_embeds, engine_workers.maybe_fix_3d_position_ids,
                   base.maybe_fix_3d_position_ids):
            print(getattr(fn, "_fadtq_guard", False))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["True", "True", "True"]


def _unguarded(fn):
    return fn.__wrapped__ if getattr(fn, "_fadtq_guard", False) else fn


def test_bug_a_text_only_batch(tiny_model_dir):
    from transformers import AutoModelForImageTextToText
    from verl.models.transformers import qwen2_vl

    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir).model  # verl patches the inner VL model
    input_ids = torch.tensor([[5, 6, 7, 8]])
    original = _unguarded(qwen2_vl._get_input_embeds)
    with pytest.raises(AttributeError, match="mean"):
        original(model, input_ids)  # the verl bug: .mean() on a BaseModelOutputWithPooling
    guarded = multimodal_guards.guard_text_only_vision_batch(original)
    embeds, _ = guarded(model, input_ids)
    assert embeds.shape == (1, 4, model.config.text_config.hidden_size)
    assert torch.equal(embeds, model.get_input_embeddings()(input_ids))  # + 0·visual: same values


def _equal_length_position_ids():
    # TransferQueue packs per-sample (4, L) M-RoPE ids with as_nested_tensor(layout=jagged).
    return torch.nested.as_nested_tensor([torch.arange(12).reshape(4, 3) + 100 * i for i in range(4)],
                                         layout=torch.jagged)


def test_bug_b_equal_length_position_ids():
    from verl.utils import tensordict_utils
    from verl.workers import engine_workers

    original = _unguarded(engine_workers.maybe_fix_3d_position_ids)
    assert original is tensordict_utils.maybe_fix_3d_position_ids

    broken = TensorDict({"position_ids": _equal_length_position_ids()}, batch_size=[4])
    original(broken)
    with pytest.raises(RuntimeError):  # in training: "split_with_sizes expects split_sizes to sum exactly to …"
        tensordict_utils.index_select_tensor_dict(broken, [0, 2])  # what update_actor's mini-batching does

    fixed = TensorDict({"position_ids": _equal_length_position_ids()}, batch_size=[4])
    multimodal_guards.guard_equal_length_position_ids(original)(fixed)
    selected = tensordict_utils.index_select_tensor_dict(fixed, [0, 2])
    assert [tuple(p.shape) for p in selected["position_ids"].unbind()] == [(4, 3), (4, 3)]
    parts = fixed["position_ids"].unbind()
    assert [tuple(p.shape) for p in parts] == [(4, 3)] * 4
    assert torch.equal(parts[2], torch.arange(12).reshape(4, 3) + 200)


def test_bug_b_guard_leaves_varied_lengths_to_verl():
    varied = torch.nested.as_nested_tensor([torch.zeros(4, 3), torch.ones(4, 5)], layout=torch.jagged)
    assert not multimodal_guards.rope_axis_is_ragged(varied)
    data = TensorDict({"position_ids": varied}, batch_size=[2])
    from verl.utils.tensordict_utils import maybe_fix_3d_position_ids

    multimodal_guards.guard_equal_length_position_ids(maybe_fix_3d_position_ids)(data)
    assert [tuple(p.shape) for p in data["position_ids"].unbind()] == [(4, 3), (4, 5)]
