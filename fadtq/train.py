"""Train FAD-TQ with verl: ``python -m fadtq.train [+experiment=NAME] [+backend=cpu] [key=value …] [--dry-run]``.

Composes ``configs/fadtq_trainer.yaml`` (verl's own schema plus a ``fadtq:`` block) with the given
Hydra overrides, checks what verl does not (GPG on-policy guard, judge pool settings, data files,
GPU arithmetic), runs verl's ``validate_config``, then verl's ``run_ppo`` with a TaskRunner that
loads our plugin and trainer mode. ``--dry-run`` prints the resolved config and stops before Ray.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

CONFIG_DIR_ENV = "FADTQ_CONFIG_DIR"
DEFAULT_CONFIG = "fadtq_trainer"


def config_dir() -> Path:
    """``configs/`` of this checkout (``FADTQ_CONFIG_DIR`` overrides it)."""
    if os.environ.get(CONFIG_DIR_ENV):
        return Path(os.environ[CONFIG_DIR_ENV]).resolve()
    return Path(__file__).resolve().parents[1] / "configs"


class TrainConfigError(RuntimeError):
    """A config problem, reported as one line."""


def compose_config(overrides: list[str], config_name: str = DEFAULT_CONFIG):
    """Hydra-compose our config with ``overrides``; a bad key or value becomes one clear line."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    directory = config_dir()
    if not (directory / f"{config_name}.yaml").is_file():
        raise TrainConfigError(f"{directory / (config_name + '.yaml')}: config not found — run from a fadtq checkout "
                               f"or set {CONFIG_DIR_ENV}")
    try:
        with initialize_config_dir(config_dir=str(directory), version_base=None):
            return compose(config_name=config_name, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrainConfigError(f"{first} — check the key against `python -m fadtq.train --dry-run` "
                               "(new keys need a leading '+')") from None


def check_config(config, *, data_files: bool = True) -> None:
    """Our checks, the CPU backend's preparation when asked for, then verl's own ``validate_config``."""
    from fadtq.config_checks import ConfigError, check_all

    try:
        check_all(config, data_files=data_files)
    except ConfigError as exc:
        raise TrainConfigError(str(exc)) from None
    if config.fadtq.backend == "cpu":
        from fadtq.backends.cpu import prepare_cpu_run

        prepare_cpu_run(config)  # raises TrainConfigError-compatible ValueError with one line
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config
    from verl.utils.device import auto_set_device

    auto_set_device(config)
    try:
        validate_config(config=config, use_reference_policy=need_reference_policy(config),
                        use_critic=need_critic(config))
    except (AssertionError, ValueError, TypeError) as exc:
        raise TrainConfigError(f"verl rejected the config: {str(exc).strip().splitlines()[0]}") from None


def task_runner_class():
    """verl's TaskRunnerV1 that also loads our plugin and registers the ``fadtq_sync`` trainer mode."""
    import ray
    from verl.trainer.main_ppo import TaskRunnerV1

    @ray.remote
    class FadtqTaskRunner(TaskRunnerV1.__ray_actor_class__):  # subclassing the actor handle itself is not allowed
        def run(self, config):
            import fadtq.verl_plugin  # noqa: F401
            from fadtq.verl_ext import trainer_mode

            trainer_mode.register()
            return super().run(config)

    return FadtqTaskRunner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fadtq.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  python -m fadtq.train --dry-run\n"
               "  python -m fadtq.train +experiment=no_relevance trainer.n_gpus_per_node=4\n"
               "  python -m fadtq.train +backend=cpu trainer.total_training_steps=2",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config, validate it, stop before Ray")
    parser.add_argument("--config-name", default=DEFAULT_CONFIG, help="config in configs/ (default: %(default)s)")
    args, overrides = parser.parse_known_args(argv)
    unknown = [o for o in overrides if o.startswith("-")]
    if unknown:
        parser.error(f"unknown option(s) {unknown}; Hydra overrides look like key=value or +key=value")

    from omegaconf import OmegaConf

    try:
        config = compose_config(overrides, args.config_name)
        check_config(config)
    except (TrainConfigError, ValueError) as exc:
        print(f"fadtq.train: error: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(OmegaConf.to_yaml(config, resolve=True))
        print(f"fadtq.train: config valid (verl validate_config passed); backend={config.fadtq.backend}, "
              f"experiment={config.trainer.experiment_name}")
        return 0

    from verl.trainer.main_ppo import run_ppo

    run_ppo(config, task_runner_class=task_runner_class())
    return 0


if __name__ == "__main__":
    sys.exit(main())
