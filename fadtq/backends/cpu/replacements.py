"""The few verl functions the CPU backend must replace, each tiny, named and version-checked.

verl 0.9.1 offers no hook for these; each replacement wraps the original, changes one thing, and
only on the ``cpu`` platform (importing this backend changes nothing for a GPU run).
"""

from __future__ import annotations

import functools

import verl

from fadtq.backends.cpu.settings import CPUBackendError

SUPPORTED_VERL = "0.9.1"


class UnsupportedVerlVersion(CPUBackendError):
    """The installed verl is not the one whose internals the replacements were written against."""


def verl_version_problem() -> str | None:
    """One line saying why the backend cannot run on the installed verl, or None."""
    if verl.__version__ != SUPPORTED_VERL:
        return (f"the fadtq CPU backend replaces verl {SUPPORTED_VERL} internals, but verl {verl.__version__} is "
                f"installed — install verl=={SUPPORTED_VERL} or run without +backend=cpu")
    return None


def check_verl_version() -> None:
    problem = verl_version_problem()
    if problem:
        raise UnsupportedVerlVersion(problem)


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
    check_verl_version()
    gloo_only_process_group()
