"""The one route from fadtq into verl: the ``verl.plugins`` entry point (``pyproject.toml``).

``import verl`` loads this module in every process verl starts — the launcher, the TaskRunner, the
actor/rollout, agent-loop and reward workers — so nothing else needs to bring our code into verl.
It registers, in this order:

- the CPU backend (platform + ``hf`` rollout), only when the ``cpu`` platform is selected
  (``VERL_PLATFORM=cpu``, set by ``+backend=cpu``);
- the ``fadtq_gpg`` advantage estimator;
- the ``fadtq_sync`` trainer mode (imports verl's V1 trainer: about a second per process);
- the guards for two verl 0.9.1 multimodal bugs.

verl logs a plugin's exception at DEBUG and carries on, and the run would then fail much later
("Unknown trainer 'fadtq_sync'") or train without our estimator. So a failure is logged here at
ERROR with its cause before verl swallows it, and ``fadtq.train`` imports this module itself so
that the launcher stops at once. Loading twice is harmless: every registration is idempotent.
"""

from __future__ import annotations

import logging
import os

from fadtq.verl_ext.version import check_verl_version

logger = logging.getLogger(__name__)


def load() -> None:
    """Register everything fadtq adds to verl in this process (idempotent; raises on failure)."""
    check_verl_version()
    if os.environ.get("VERL_PLATFORM") == "cpu":
        from fadtq.backends import cpu

        cpu.register()
    from fadtq.verl_ext import estimators, fadtq_trainer, multimodal_guards  # noqa: F401  (register on import)

    multimodal_guards.apply()


try:
    load()
except Exception as exc:
    logger.error("fadtq could not extend verl in this process (pid %d): %r — training would run without the "
                 "fadtq_gpg estimator and the fadtq_sync trainer mode", os.getpid(), exc)
    raise
