"""`fadtq train`: compose the training config, validate it, and run verl's trainer (or only print it, or preflight)."""

from __future__ import annotations

import argparse
import re
import sys

from fadtq.train import DEFAULT_CONFIG, LOG_PREFIX, available, config_dir

NAME = "train"
HELP = "train with verl: +experiment=NAME [+backend=cpu] [key=value …] [--dry-run | --doctor]"


def _environment_variables() -> list[str]:
    """The ``FADTQ_*`` variables the configs read (``${oc.env:NAME,default}``), so that the help lists what is there."""
    names = set()
    for path in config_dir().rglob("*.yaml"):
        names.update(re.findall(r"oc\.env:(FADTQ_\w+)", path.read_text()))
    return sorted(names)


DESCRIPTION = f"""\
Composes configs/fadtq_trainer.yaml (verl's own schema plus a `fadtq:` block) with an experiment and
Hydra overrides, resolves it in this shell (environment variables, relative paths made absolute, so
that every node of a Ray cluster gets the same config), checks it — fadtq's rules (GPG on-policy
guard, trainer mode, judge pool, reward options, data files, model folders, GPU arithmetic), then
verl's own validate_config — and runs verl's run_ppo. Metrics go to
<trainer.default_local_dir>/metrics.jsonl unless VERL_FILE_LOGGER_PATH is set.
`python -m fadtq.train …` is the same command.

examples:
  fadtq train --dry-run > resolved.yaml
  fadtq train +experiment=no_relevance trainer.n_gpus_per_node=4
  fadtq train +backend=cpu trainer.total_training_steps=2
  fadtq train +experiment=external_judge --doctor        # preflight this node for that run

experiments (+experiment=NAME): {', '.join(available('experiment')) or 'none found'}
backends: gpu (default); +backend=NAME for {', '.join(available('backend')) or 'none found'}
environment (read by the configs; relative paths are relative to where you run this):
  {', '.join(_environment_variables()) or 'none found'}
one launch script per paper row: recipes/ (see recipes/README.md)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true",
                        help="validate the config (ours + verl's validate_config), print it resolved to stdout, "
                             "stop before Ray")
    parser.add_argument("--doctor", action="store_true",
                        help="instead of training, run `fadtq doctor` on this node against the same config")
    parser.add_argument("--config-name", default=DEFAULT_CONFIG, help="config in configs/ (default: %(default)s)")
    parser.add_argument("overrides", nargs="*", metavar="OVERRIDE",
                        help="Hydra overrides: +experiment=NAME, +backend=cpu, key=value, +new.key=value")


def run(args: argparse.Namespace) -> int:
    if args.doctor:
        from fadtq.commands import doctor

        return doctor.run(args)

    from omegaconf import OmegaConf

    from fadtq.config_checks import validate
    from fadtq.train import TrainConfigError, compose_config, describe_judge, launch, metrics_file, prepare_run

    try:
        config = compose_config(args.overrides, args.config_name)
        validate(config)
        prepare_run(config)
    except (TrainConfigError, ValueError) as exc:  # ConfigError and the CPU backend's refusals are ValueErrors
        print(f"{LOG_PREFIX}: error: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:  # stdout: the resolved config alone (`--dry-run > run.yaml`); the verdict on stderr
        print(OmegaConf.to_yaml(config, resolve=True), end="", flush=True)
        print(f"{LOG_PREFIX}: config valid (verl validate_config passed); backend={config.fadtq.backend}, "
              f"experiment={config.trainer.experiment_name}", file=sys.stderr)
        return 0
    print(f"{LOG_PREFIX}: judge: {describe_judge(config)}; metrics: {metrics_file(config)}", file=sys.stderr)
    return launch(config)
