"""`fadtq` command line: one subcommand per module in `fadtq.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``
and keeps heavy imports inside ``run`` so that ``fadtq --help`` stays fast.
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
        description="FAD-TQ on verl: build Pair3C data, check the judge, preflight a GPU node (doctor), evaluate "
        "models, write reports, and run the end-to-end CPU demo. Training itself: `python -m fadtq.train --help`.",
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
    args = parser.parse_args(argv)
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
