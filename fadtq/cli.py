"""`fadtq` command line: one subcommand per module in `fadtq.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``
and keeps heavy imports inside ``run`` so that ``fadtq --help`` stays fast. A command whose
arguments end in Hydra overrides (an ``overrides`` positional) takes them anywhere on the line,
before or after its options.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import fadtq
from fadtq import commands


def _command_modules():
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"{commands.__name__}.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fadtq",
        description="FAD-TQ on verl: build Pair3C data, serve and check the judge, preflight a GPU node (doctor), "
        "train, evaluate models, write reports, and run the end-to-end CPU demo. `fadtq COMMAND --help` for each.",
    )
    parser.add_argument("--version", action="version", version=f"fadtq {fadtq.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not isinstance(getattr(args, "overrides", None), list):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        # argparse stops a positional list at the first option: `+experiment=x --dry-run y=1` leaves y=1 over.
        args.overrides = [*args.overrides, *extra]
    unknown = [o for o in getattr(args, "overrides", None) or [] if o.startswith("-")]
    if unknown:
        print(f"fadtq {args.command}: error: unknown option(s) {unknown} — Hydra overrides look like key=value or "
              "+key=value", file=sys.stderr)
        return 2
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("fadtq: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
