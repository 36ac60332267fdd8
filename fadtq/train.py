"""Train FAD-TQ with verl: ``python -m fadtq.train [+experiment=NAME] [+backend=cpu] [key=value …] [--dry-run]``.

Composes ``configs/fadtq_trainer.yaml`` (verl's own schema plus a ``fadtq:`` block) with the given
Hydra overrides and resolves it here, in the launching shell (``${oc.env:…}`` would otherwise be
read on whichever node verl's TaskRunner lands), with local paths made absolute. Then checks what
verl does not (GPG on-policy guard, judge pool settings, reward options, data files and model
folders, GPU arithmetic), prepares the CPU backend when ``fadtq.backend=cpu``, forwards the
environment variables named in ``fadtq.forward_env`` to every Ray process, runs verl's
``validate_config``, then verl's ``run_ppo`` with a TaskRunner that loads our plugin and trainer
mode. ``--dry-run`` prints the resolved config and stops before Ray.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from omegaconf import ListConfig, OmegaConf, open_dict

CONFIG_DIR_ENV = "FADTQ_CONFIG_DIR"
DEFAULT_CONFIG = "fadtq_trainer"


def config_dir() -> Path:
    """``configs/`` of this checkout (``FADTQ_CONFIG_DIR`` overrides it)."""
    if os.environ.get(CONFIG_DIR_ENV):
        return Path(os.environ[CONFIG_DIR_ENV]).resolve()
    return Path(__file__).resolve().parents[1] / "configs"


def available(group: str) -> list[str]:
    """Config names of a group folder (``experiment``, ``backend``) in :func:`config_dir`."""
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


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
            config = compose(config_name=config_name, overrides=overrides)
        OmegaConf.resolve(config)  # here, not on the TaskRunner's node: ${oc.env:…} reads this shell
    except (HydraException, OmegaConfBaseException) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = _did_you_mean(first, directory, config_name)
        raise TrainConfigError(f"{first.rstrip('.')}{hint} — check the key against `python -m fadtq.train "
                               "--dry-run` (new keys need a leading '+')") from None
    absolutise_local_paths(config)
    return config


def _did_you_mean(message: str, directory: Path, config_name: str) -> str:
    """For Hydra's "Could not override 'a.b.c'": the closest existing keys next to ``c``, if any."""
    import difflib
    import re

    from hydra import compose, initialize_config_dir

    match = re.match(r"Could not override '([\w.]+)'", message)
    if not match:
        return ""
    key = match.group(1)
    parent, _, leaf = key.rpartition(".")
    try:
        with initialize_config_dir(config_dir=str(directory), version_base=None):
            base = compose(config_name=config_name)
        node = OmegaConf.select(base, parent) if parent else base
    except Exception:  # the suggestion is a courtesy; never hide the real error behind another
        return ""
    if not hasattr(node, "keys"):
        return f": '{parent}' is not a section of the config"
    close = difflib.get_close_matches(leaf, [str(k) for k in node.keys()], n=2, cutoff=0.6)
    if not close:
        return f": '{leaf}' is not a key of '{parent or '<root>'}'"
    return ": no such key (did you mean " + " or ".join(f"{parent + '.' if parent else ''}{c}" for c in close) + "?)"


#: Inputs: made absolute when they exist here (a hub id such as Qwen/Qwen3-8B is left alone).
INPUT_PATH_KEYS = ("data.train_files", "data.val_files", "actor_rollout_ref.model.path",
                   "actor_rollout_ref.model.tokenizer_path", "reward.reward_model.model_path")
#: Outputs: always made absolute (relative to this shell's working directory).
OUTPUT_PATH_KEYS = ("trainer.default_local_dir", "trainer.rollout_data_dir", "trainer.validation_data_dir")


def absolutise_local_paths(config) -> None:
    """Relative paths are relative to where ``fadtq.train`` runs, but verl's TaskRunner and workers may run
    elsewhere (another node of a ``ray start`` cluster, where the cwd is wherever Ray was started)."""
    def absolute(path, must_exist: bool):
        text = str(path)
        if "://" in text or Path(text).is_absolute():
            return path
        candidate = Path(text).expanduser()
        if must_exist and not candidate.exists():
            return path  # a hub id, or a missing file that the checks will name
        return str(candidate.resolve())

    for keys, must_exist in ((INPUT_PATH_KEYS, True), (OUTPUT_PATH_KEYS, False)):
        for key in keys:
            value = OmegaConf.select(config, key)
            if value is None:
                continue
            if isinstance(value, ListConfig):
                value = [absolute(v, must_exist) for v in value]
            else:
                value = absolute(value, must_exist)
            OmegaConf.update(config, key, value, merge=False)


def forward_environment(config, environ=None) -> dict[str, str]:
    """Copy the variables named in ``fadtq.forward_env`` that are set here into Ray's runtime_env, so
    processes on other nodes see them too; returns what was added. Secrets are never forwarded
    (verl prints ray.init's arguments): export those on every node before ``ray start``."""
    environ = os.environ if environ is None else environ
    names = OmegaConf.select(config, "fadtq.forward_env") or []
    present = OmegaConf.select(config, "ray_kwargs.ray_init.runtime_env.env_vars")
    present = OmegaConf.to_container(present) if present is not None else {}
    added = {name: environ[name] for name in names
             if name in environ and name not in present and not is_secret(name)}
    if added:
        with open_dict(config):
            OmegaConf.update(config, "ray_kwargs.ray_init.runtime_env.env_vars", {**present, **added},
                             merge=False, force_add=True)
    return added


def is_secret(name: str) -> bool:
    return any(word in name.upper() for word in ("KEY", "TOKEN", "SECRET", "PASSWORD"))


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
    elif config.fadtq.backend != "gpu":
        raise TrainConfigError(f"fadtq.backend={config.fadtq.backend}: unknown backend — use gpu (default) "
                               "or +backend=cpu")
    forward_environment(config)
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config
    from verl.utils.device import auto_set_device

    auto_set_device(config)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # verl prints progress; stdout is for the resolved config
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
               "  python -m fadtq.train --dry-run > resolved.yaml\n"
               "  python -m fadtq.train +experiment=no_relevance trainer.n_gpus_per_node=4\n"
               "  python -m fadtq.train +backend=cpu trainer.total_training_steps=2\n\n"
               f"experiments (+experiment=NAME): {', '.join(available('experiment')) or 'none found'}\n"
               f"backends: gpu (default); +backend=NAME for {', '.join(available('backend')) or 'none found'}\n"
               "launch scripts with cluster settings from the environment: recipes/ (see recipes/README.md)",
    )
    parser.add_argument("--dry-run", action="store_true",
                        help="validate the config (ours + verl's validate_config), print it resolved to stdout, "
                             "stop before Ray")
    parser.add_argument("--config-name", default=DEFAULT_CONFIG, help="config in configs/ (default: %(default)s)")
    args, overrides = parser.parse_known_args(argv)
    unknown = [o for o in overrides if o.startswith("-")]
    if unknown:
        parser.error(f"unknown option(s) {unknown}; Hydra overrides look like key=value or +key=value")

    try:
        config = compose_config(overrides, args.config_name)
        check_config(config)
    except (TrainConfigError, ValueError) as exc:
        print(f"fadtq.train: error: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:  # stdout: the resolved config alone (`--dry-run > run.yaml`); the verdict on stderr
        print(OmegaConf.to_yaml(config, resolve=True), end="", flush=True)
        print(f"fadtq.train: config valid (verl validate_config passed); backend={config.fadtq.backend}, "
              f"experiment={config.trainer.experiment_name}", file=sys.stderr)
        return 0

    from verl.trainer.main_ppo import run_ppo

    run_ppo(config, task_runner_class=task_runner_class())
    return 0


if __name__ == "__main__":
    sys.exit(main())
