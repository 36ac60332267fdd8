"""The few verl functions the CPU backend must replace, each tiny, named and version-checked.

verl 0.9.1 offers no hook for these; each replacement wraps the original, changes one thing, and
only on the ``cpu`` platform (importing this backend changes nothing for a GPU run). The caller,
:func:`fadtq.backends.cpu.register`, checks the verl version first.
"""

from __future__ import annotations

import functools


def gloo_only_process_group() -> None:
    """``engine_workers.initialize_global_process_group_ray``: plain ``gloo`` on the CPU platform.

    verl builds the backend string ``cpu:gloo,{device}:{collective backend}``, i.e. ``cpu:gloo,cpu:gloo``
    on the CPU platform, which torch rejects as a duplicate device type.
    """
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
