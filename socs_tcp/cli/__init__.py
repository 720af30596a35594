"""Command line: ``python -m socs_tcp COMMAND``.

Each command is a module of this package with two functions:
``add_parser(commands)`` adds its sub-parser to the ``argparse`` sub-parsers
``commands``, and ``run(args) -> int`` carries it out and returns the exit
code. A command module is imported only when the parser is built, so
``import socs_tcp`` never pays for the command line.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

#: The command modules, in the order ``--help`` lists them.
COMMANDS = ("bench", "info", "query", "shell", "emulate")


def parser() -> argparse.ArgumentParser:
    """Return the parser of ``python -m socs_tcp`` with every command."""
    top = argparse.ArgumentParser(
        prog="python -m socs_tcp", description="socs_tcp command-line tools."
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"{__name__}.{name}")
        sub = module.add_parser(commands)
        sub.set_defaults(run=module.run)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m socs_tcp`` with ``argv``; return the exit code."""
    top = parser()
    args = top.parse_args(argv)
    if getattr(args, "run", None) is None:
        top.print_help()
        return 2
    code: int = args.run(args)
    return code
