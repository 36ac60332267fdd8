"""Imported by verl in the TaskRunner and in every actor/rollout worker through
``actor_rollout_ref.model.external_lib=fadtq.verl_ext.worker_setup`` (our trainer config): loads
the plugin's registrations and applies the multimodal guards once verl's worker modules are loaded.
"""

import fadtq.verl_plugin  # noqa: F401
from fadtq.verl_ext import multimodal_guards

PATCHED = multimodal_guards.apply(import_targets=True)
