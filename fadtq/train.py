"""The training launcher behind ``fadtq train`` (``python -m fadtq.train`` is the same command, kept for verl users).

:func:`compose_config` composes ``configs/fadtq_trainer.yaml`` (verl's own schema plus a ``fadtq:``
block) with the given Hydra overrides and resolves it here, in the launching shell (``${oc.env:…}``
would otherwise be read on whichever node verl's TaskRunner lands), with local paths made absolute.
``fadtq.config_checks.validate`` then checks it without side effects; :func:`prepare_run` makes the
changes a run needs (the CPU backend, the metrics file, the environment forwarded to every Ray
process); :func:`launch` runs verl's own ``run_ppo``: our code reaches verl's processes through the
``verl.plugins`` entry point alone.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from omegaconf import ListConfig, OmegaConf, open_dict

from fadtq.config_checks import METRICS_FILE_ENV
from fadtq.verl_ext.reward import JUDGE_URL_ENV, resolve_judge

CONFIG_DIR_ENV = "FADTQ_CONFIG_DIR"
#: How the launcher's own lines start (``fadtq.train: error: …``), whichever way it was started.
LOG_PREFIX = "fadtq.train"
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
    # A backend scales an experiment down (batch sizes, devices): it composes last, whatever the order typed.
    overrides = sorted(overrides, key=lambda override: override.startswith("+backend="))
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
        raise TrainConfigError(f"{first.rstrip('.')}{hint} — check the key against `fadtq train "
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
    """The one place where local paths become absolute. Relative paths (overrides, ``FADTQ_*`` variables)
    are relative to where ``fadtq train`` runs, but verl's TaskRunner and workers may run elsewhere
    (another node of a ``ray start`` cluster, where the cwd is wherever Ray was started)."""
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


def hosts_judge(config) -> bool:
    return bool(OmegaConf.select(config, "reward.reward_model.enable"))


def forward_environment(config, environ=None) -> dict[str, str]:
    """Copy the variables named in ``fadtq.forward_env`` that are set here into Ray's runtime_env, so
    processes on other nodes see them too; returns what was added. Secrets are never forwarded
    (verl prints ray.init's arguments): export those on every node before ``ray start``. Nor is
    ``FADTQ_JUDGE_URL`` when verl hosts the judge: that judge is the one used."""
    environ = os.environ if environ is None else environ
    names = [name for name in OmegaConf.select(config, "fadtq.forward_env") or []
             if not (name == JUDGE_URL_ENV and hosts_judge(config))]
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


def metrics_file(config, environ=None) -> str:
    """Where verl's file logger writes: ``VERL_FILE_LOGGER_PATH`` if exported, else the run's own
    ``<trainer.default_local_dir>/metrics.jsonl`` (verl's default is under the working directory,
    i.e. inside this package's folder); set in ``environ`` so that it is forwarded to the TaskRunner."""
    environ = os.environ if environ is None else environ
    if not environ.get(METRICS_FILE_ENV):
        environ[METRICS_FILE_ENV] = str(Path(str(config.trainer.default_local_dir)) / "metrics.jsonl")
    return environ[METRICS_FILE_ENV]


def describe_judge(config, environ=None) -> str:
    """The judge this run will call, as the launcher reports it."""
    environ = os.environ if environ is None else environ
    kwargs = OmegaConf.select(config, "reward.custom_reward_function.reward_kwargs") or {}
    if not kwargs.get("thinking_quality", True):
        return "none (no thinking-quality term)"
    if hosts_judge(config):
        note = f"; {JUDGE_URL_ENV} is ignored" if environ.get(JUDGE_URL_ENV) else ""
        return (f"verl-hosted {config.reward.reward_model.model_path} on its own pool of "
                f"{config.reward.reward_model.n_gpus_per_node * config.reward.reward_model.nnodes} GPU(s){note}")
    url, _model, source = resolve_judge(kwargs.get("judge_url"), None, None, None, environ)
    return f"{url} ({source})"


def prepare_run(config) -> None:
    """What a run changes once its config is valid: the CPU backend's environment (``fadtq.backend=cpu``;
    it refuses, in one line, what a CPU cannot run), the metrics file, the variables forwarded to every
    Ray process, verl's device name; and our verl plugin loaded here, so that a plugin failure stops
    the launcher at once rather than a worker later."""
    if config.fadtq.backend == "cpu":
        from fadtq.backends.cpu import prepare_cpu_run

        prepare_cpu_run(config)
    metrics_file(config)
    forward_environment(config)
    from verl.utils.device import auto_set_device

    import fadtq.verl_plugin  # noqa: F401

    auto_set_device(config)


def launch(config) -> int:
    """verl's own ``run_ppo`` on a validated, prepared config; 3 when the judge guard stopped the run."""
    from verl.trainer.main_ppo import TaskRunnerV1, run_ppo

    from fadtq.judge.health import JudgeUnhealthy

    try:
        run_ppo(config, task_runner_class=TaskRunnerV1)
    except Exception as exc:  # Ray wraps the TaskRunner's exception; a known cause is reported in one line
        cause = getattr(exc, "cause", None)
        if isinstance(cause, JudgeUnhealthy):
            print(f"{LOG_PREFIX}: error: {cause}", file=sys.stderr)
            return 3
        raise
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m fadtq.train …``: the same command as ``fadtq train …``."""
    from fadtq.cli import main as fadtq_main

    return fadtq_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
