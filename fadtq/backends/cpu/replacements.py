"""verl functions the CPU backend must wrap, because verl 0.9.1 has no hook for them. Each changes one
thing, only on the ``cpu`` platform; the caller (:func:`fadtq.backends.cpu.register`) checks the verl
version first."""

from __future__ import annotations

import functools


def gloo_only_process_group() -> None:
    """``engine_workers.initialize_global_process_group_ray`` with plain ``gloo`` on the CPU platform: verl's
    backend string ``cpu:gloo,{device}:{backend}`` becomes ``cpu:gloo,cpu:gloo``, a duplicate torch rejects."""
    from verl.utils.device import get_device_name
    from verl.workers import engine_workers

    original = engine_workers.initialize_global_process_group_ray
    if getattr(original, "_fadtq_gloo", False):
        return

    @functools.wraps(original)
    def initialize_global_process_group_ray(timeout_second=None, backend=None):
        if backend is None and get_device_name() == "cpu":
            backend = "gloo"
        return original(timeout_second=timeout_second, backend=backend)

    initialize_global_process_group_ray._fadtq_gloo = True
    engine_workers.initialize_global_process_group_ray = initialize_global_process_group_ray


def apply_all() -> None:
    gloo_only_process_group()
