"""Registers the ``fadtq_sync`` trainer mode (``trainer.v1.trainer_mode=fadtq_sync``).

The implementation (:mod:`fadtq.verl_ext.fadtq_trainer`) imports verl's trainer, which takes
seconds; this module is imported by the plugin in *every* verl process (reward and rollout workers
too), so it registers eagerly only where verl's trainer is already loaded. ``python -m
fadtq.train``'s TaskRunner calls :func:`register` before verl looks the mode up.
"""

from __future__ import annotations

import sys

MODE_NAME = "fadtq_sync"


def register() -> None:
    import fadtq.verl_ext.fadtq_trainer  # noqa: F401  (registers through verl's @register_trainer)


if "verl.trainer.ppo.v1.trainer_base" in sys.modules and "transfer_queue" in sys.modules:
    register()
