"""The one route into verl: the ``verl.plugins`` entry point. Declared, idempotent, loud on another verl,
loaded by ``import verl`` in a fresh process and in a Ray worker, and the only route.

verl swallows plugin import errors at DEBUG level, so the error must be logged by us.
"""

import logging
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import pytest


def test_entry_point_declared_and_module_imports():
    eps = {ep.name: ep for ep in entry_points(group="verl.plugins")}
    assert eps["fadtq"].value == "fadtq.verl_plugin"
    eps["fadtq"].load().load()  # importing registered everything; registering again is harmless


@pytest.mark.slow
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


def test_plugin_loads_twice_and_fails_loudly_on_another_verl(monkeypatch, caplog):
    import importlib

    import fadtq.verl_plugin as plugin
    from fadtq.verl_ext import version

    plugin.load()
    plugin.load()  # idempotent: registrations and guards are not applied twice
    monkeypatch.setattr(version, "SUPPORTED_VERL", "0.0.1")
    with pytest.raises(version.UnsupportedVerlVersion, match="0.0.1"):
        plugin.load()
    with caplog.at_level(logging.ERROR), pytest.raises(version.UnsupportedVerlVersion):
        importlib.reload(plugin)  # what verl's loader runs: the error is logged before verl swallows it
    assert any(r.levelno == logging.ERROR and "could not extend verl" in r.getMessage() for r in caplog.records)


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env})


@pytest.mark.slow
def test_import_verl_registers_everything_in_a_fresh_process():
    """``import verl`` alone (what every verl process does) loads the plugin: mode, estimator and guards."""
    result = run_python("""
        import sys
        import verl  # loads our entry-point plugin while verl/__init__ runs
        assert "fadtq.verl_plugin" in sys.modules, "plugin not loaded by import verl"
        from verl.trainer.ppo.v1 import PPOTrainerSync, get_trainer_cls  # what TaskRunnerV1.run does
        cls = get_trainer_cls("fadtq_sync")
        assert issubclass(cls, PPOTrainerSync) and cls.__module__ == "fadtq.verl_ext.fadtq_trainer"
        from verl.trainer.ppo.core_algos import get_adv_estimator_fn
        assert get_adv_estimator_fn("fadtq_gpg").__module__ == "fadtq.verl_ext.estimators"
        import verl.models.transformers.qwen2_vl as qwen2_vl, verl.workers.engine_workers as engine_workers
        assert qwen2_vl._get_input_embeds._fadtq_guard and engine_workers.maybe_fix_3d_position_ids._fadtq_guard
        print("OK")
    """)
    assert result.returncode == 0 and result.stdout.strip().endswith("OK"), result.stderr[-3000:]


@pytest.mark.slow
def test_without_the_entry_point_nothing_is_registered():
    """The entry point is the only route: with verl's plugin loading off, no fadtq mode exists."""
    result = run_python("""
        import sys
        import verl.trainer.ppo.v1 as v1
        assert "fadtq.verl_plugin" not in sys.modules
        assert "fadtq_sync" not in v1.trainer_base.TRAINER_REGISTRY
        print("OK")
    """, VERL_USE_EXTERNAL_PLUGINS="none")
    assert result.returncode == 0 and result.stdout.strip().endswith("OK"), result.stderr[-3000:]
