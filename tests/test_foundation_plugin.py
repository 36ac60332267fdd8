"""The verl seam: our plugin is declared, imports cleanly, and is loaded by verl inside Ray workers.

verl swallows plugin import errors at DEBUG level, so both checks are needed.
"""

from importlib.metadata import entry_points


def test_entry_point_declared_and_module_imports():
    eps = {ep.name: ep for ep in entry_points(group="verl.plugins")}
    assert eps["fadtq"].value == "fadtq.verl_plugin"
    eps["fadtq"].load().load()  # importing registered everything; registering again is harmless


def test_plugin_loaded_by_verl_in_a_fresh_ray_worker():
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, namespace="fadtq-plugin-test")
    try:
        @ray.remote
        def probe():
            import os
            import sys

            import verl  # noqa: F401  plugin discovery runs here, in the worker
            from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY

            return os.getpid(), "fadtq.verl_plugin" in sys.modules, TRAINER_REGISTRY.get("fadtq_sync").__name__

        worker_pid, loaded, trainer = ray.get(probe.remote(), timeout=180)
    finally:
        ray.shutdown()
    import os

    assert worker_pid != os.getpid()
    assert loaded, "verl did not load the fadtq plugin in a Ray worker (entry point missing or import error)"
    assert trainer == "FadtqTrainerSync"
