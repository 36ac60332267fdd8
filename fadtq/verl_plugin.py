"""fadtq's one route into verl: the ``verl.plugins`` entry point (``pyproject.toml``; docs/design.md, verl seam).

``import verl`` loads this module in every process verl starts. It registers the CPU backend (only with
``VERL_PLATFORM=cpu``), the ``fadtq_gpg`` estimator, the ``fadtq_sync`` trainer mode and the multimodal
guards; loading twice is harmless. verl logs a plugin's exception at DEBUG and carries on, so a failure is
logged here at ERROR first, and ``fadtq.train`` imports this module itself so that the launcher stops at once.
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
