"""The few verl functions the CPU backend must replace, each tiny, named and version-checked.

verl 0.9.1 offers no hook for these; each replacement wraps the original and changes one thing.
"""

from __future__ import annotations

import functools

import verl

SUPPORTED_VERL = "0.9.1"


class UnsupportedVerlVersion(RuntimeError):
    pass


def check_verl_version() -> None:
    if verl.__version__ != SUPPORTED_VERL:
        raise UnsupportedVerlVersion(
            f"the fadtq CPU backend replaces verl {SUPPORTED_VERL} internals, but verl {verl.__version__} is installed "
            f"— install verl=={SUPPORTED_VERL} or run without +backend=cpu")


def gloo_only_process_group() -> None:
    """verl builds ``cpu:gloo,{device}:{backend}``, i.e. ``cpu:gloo,cpu:gloo`` on the CPU platform, which
    torch rejects as a duplicate; the engine workers get plain ``gloo`` instead."""
    from verl.workers import engine_workers

    original = engine_workers.initialize_global_process_group_ray
    if getattr(original, "_fadtq_gloo", False):
        return

    @functools.wraps(original)
    def initialize_gloo(timeout_second=None, backend=None):
        return original(timeout_second=timeout_second, backend=backend or "gloo")

    initialize_gloo._fadtq_gloo = True
    engine_workers.initialize_global_process_group_ray = initialize_gloo


def apply_all() -> None:
    check_verl_version()
    gloo_only_process_group()
