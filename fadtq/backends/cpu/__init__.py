"""fadtq's CPU backend for verl 0.9.1, opt-in with ``+backend=cpu`` (docs/design.md, CPU backend).

:func:`prepare_cpu_run` selects verl's ``cpu`` platform for every process; the plugin then calls
:func:`register` in each of them. Nothing here acts unless that platform is selected and the rollout
asked for (``rollout.name=hf``).
"""

from fadtq.backends.cpu.settings import CPUBackendError, prepare_cpu_run  # noqa: F401


def register() -> None:
    """Register the CPU platform, the ``hf`` rollout and the replacements in this process (idempotent)."""
    from fadtq.verl_ext.version import check_verl_version

    check_verl_version()  # before touching any verl internals

    from verl.workers.rollout import base as rollout_base
    from verl.workers.rollout.replica import RolloutReplicaRegistry

    from fadtq.backends.cpu import platform  # noqa: F401  (registers the "cpu" platform)
    from fadtq.backends.cpu.hf_rollout import ADAPTER_PATH, ROLLOUT_NAME, HFReplica
    from fadtq.backends.cpu.replacements import apply_all

    # verl's rollout registry is a plain dict (no register function); the replica registry has one.
    rollout_base._ROLLOUT_REGISTRY[(ROLLOUT_NAME, "async")] = ADAPTER_PATH
    RolloutReplicaRegistry.register(ROLLOUT_NAME, lambda: HFReplica)
    apply_all()
