"""verl plugin, loaded by ``import verl`` in every verl process (entry point group ``verl.plugins``).

verl swallows plugin import errors at DEBUG level, so this module must import cleanly; the tests
import it directly and also check that it is loaded inside a fresh Ray worker.
Registrations live in small modules of ``fadtq.verl_ext``; this file only imports them.
"""

from fadtq.verl_ext import estimators  # noqa: F401  registers the `fadtq_gpg` advantage estimator
from fadtq.verl_ext import trainer_mode  # noqa: F401  registers the `fadtq_sync` trainer mode (sub-reward metrics)
from fadtq.verl_ext import multimodal_guards  # noqa: F401  guards for two verl 0.9.1 multimodal bugs

LOADED = True
