"""Registers the ``fadtq_sync`` trainer mode (``trainer.v1.trainer_mode=fadtq_sync``).

The mode (:mod:`fadtq.verl_ext.fadtq_trainer`) subclasses verl's V1 ``PPOTrainerSync``, so defining
it imports verl's trainer (seconds, and not possible while ``verl/__init__`` is still running, which
is when verl's plugin loader imports this module). verl looks the mode up with
``verl.trainer.ppo.v1.get_trainer_cls`` in its TaskRunner, right after importing the package
``verl.trainer.ppo.v1``. So this module registers the mode:

- at once, if that package is already imported;
- otherwise the moment that package has finished importing, in any process
  (:func:`fadtq.verl_ext.post_import.call_after_import`);
- or explicitly, through :func:`register` (``fadtq.train``'s TaskRunner calls it).

Processes that never import verl's trainer (reward, rollout and actor workers) pay nothing.
Importing this module never raises; a failed registration is logged as a warning.
"""

from __future__ import annotations

import logging

from fadtq.verl_ext.post_import import call_after_import

MODE_NAME = "fadtq_sync"
#: The package whose import makes verl's trainer registry (and ``PPOTrainerSync``) available.
TRAINER_PACKAGE = "verl.trainer.ppo.v1"

logger = logging.getLogger(__name__)


def register() -> None:
    """Register ``fadtq_sync`` in verl's trainer registry (idempotent; raises if it cannot)."""
    import fadtq.verl_ext.fadtq_trainer  # noqa: F401  (registers through verl's @register_trainer)


def _register_quietly() -> None:
    try:
        register()
    except Exception as exc:  # never break verl's own import; the lookup will name the mode as unknown
        logger.warning("could not register the %r trainer mode: %r", MODE_NAME, exc)


def install() -> None:
    """Register now if verl's trainer package is imported, else right after it is (safe to call twice)."""
    call_after_import(TRAINER_PACKAGE, lambda _package: _register_quietly())


install()
